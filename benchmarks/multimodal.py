"""Items with more than text (issue 17): text alone vs text + one extra modality fused by the
item tower's gate, per case, over seeds; leave-one-out, full ranking, NDCG@10 / HR@10 through
shelflm.evaluation like every other table.

Cases (the text-alone model's template never renders the extra modality):
    movielens  ../shared/data/ml-latest-small, "{title}. Category: {category}"; + the users'
               tags as a second text (tags=text:tags, from the attributes JSON; 1,572 movies)
    retail     ../shared/data/online-retail-sample, "{title}"; + the unit price as a number
               (numbers=numeric:price, log1p, standardised on the catalog)
    synthetic  generate_shop(1,500 shoppers, 1,500 products, ~40k events), "{title}"; + an
               image-like vector (image=vector:<.npz>): a noisy random projection of the
               generator's hidden item factors (leaf category, price tier, popularity), which
               the title carries only in part (it names the product, not its popularity).
               Split: leave-one-out with 10% of the items held out of train (ColdStartItemSplit,
               seed 0), so the table also shows cold targets, scored from content alone.

Usage (one torch thread; results under runs/results/multimodal-*.json, the table printed and
written to --table):
    .venv/bin/python benchmarks/multimodal.py --cases movielens retail synthetic --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHED_ENCODER, RUNS, SHARED_DATA, leave_one_out, write_result  # noqa: E402
from shelflm.data.loaders import load_dataset  # noqa: E402
from shelflm.data.splits import ColdStartItemSplit  # noqa: E402
from shelflm.data.synthetic import (  # noqa: E402
    SyntheticShopConfig,
    generate_shop,
    hidden_item_factors,
)
from shelflm.evaluation.protocol import evaluate_ranking  # noqa: E402
from shelflm.models.config import (  # noqa: E402
    ItemTowerConfig,
    SequenceEncoderConfig,
    ShelfModelConfig,
)
from shelflm.models.modality_config import ModalityConfig, parse_modality  # noqa: E402
from shelflm.settings import ShelfConfig, TextConfig  # noqa: E402
from shelflm.training.config import TrainConfig  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402

SYNTHETIC = SyntheticShopConfig(num_users=1500, num_items=1500, target_events=40_000, seed=0)


@dataclass(frozen=True)
class Case:
    """One dataset, the text-alone template and the modality added to it."""

    name: str
    template: str
    modality: str  # a --modality spec (models/modality_config.parse_modality)
    cold: float = 0.0  # share of items held out of train (0: plain leave-one-out)


CASES = {
    "movielens": Case("movielens", "{title}. Category: {category}", "tags=text:tags"),
    "retail": Case("retail", "{title}", "numbers=numeric:price"),
    "synthetic": Case("synthetic", "{title}", "image=vector:{image}", cold=0.1),
}


def load_case(case: Case) -> tuple[object, ModalityConfig]:
    """The case's dataset and its modality (the synthetic image file written first)."""
    if case.name == "movielens":
        return load_dataset(SHARED_DATA / "ml-latest-small"), parse_modality(case.modality)
    if case.name == "retail":
        return load_dataset(SHARED_DATA / "online-retail-sample"), parse_modality(case.modality)
    dataset = generate_shop(SYNTHETIC)
    path = synthetic_images(dataset, RUNS / "cache" / "multimodal" / "synthetic-image.npz")
    return dataset, parse_modality(case.modality.format(image=path))


def synthetic_images(dataset: object, path: Path, width: int = 32, noise: float = 0.5) -> Path:
    """An image-like vector per product: the hidden factors (one-hot leaf and tier,
    standardised log popularity) through a fixed random projection, plus Gaussian noise."""
    factors = hidden_item_factors(SYNTHETIC)
    leaf, tier = factors["leaf"], factors["tier"]
    pop = np.log(factors["popularity"])
    features = np.hstack([np.eye(leaf.max() + 1)[leaf], np.eye(3)[tier],
                          ((pop - pop.mean()) / pop.std())[:, None]])
    rng = np.random.default_rng(123)
    projection = rng.normal(size=(features.shape[1], width)) / np.sqrt(3.0)
    vectors = features @ projection + noise * rng.normal(size=(len(leaf), width))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.asarray(dataset.catalog.ids, dtype=str), vectors=vectors)
    return path


def run_config(case: Case, modality: ModalityConfig | None, seed: int,
               args: argparse.Namespace) -> ShelfConfig:
    """The run config of one arm: the same model and training, with or without the modality."""
    items = ItemTowerConfig(hidden=64, modalities=(modality,) if modality else ())
    model = ShelfModelConfig(SequenceEncoderConfig(hidden=64, max_len=50, dropout=0.5), items)
    training = TrainConfig(epochs=args.epochs, batch_size=128, lr=2e-3, loss="full_softmax",
                           patience=args.patience, eval_every=1, seed=seed,
                           time_budget_s=args.time_budget, progress=False)
    return ShelfConfig(text=TextConfig(template=case.template), encoder=CACHED_ENCODER,
                       model=model, training=training)


def run_arm(case: Case, dataset: object, split: object, modality: ModalityConfig | None,
            seed: int, args: argparse.Namespace) -> dict:
    """Fit one arm on one seed; its test metrics and seconds, also written as a result file."""
    arm = "text" if modality is None else f"text+{modality.name}"
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    rec = build_model("shelflm", dataset, run_config(case, modality, seed, args))
    rec.fit(split)
    test = evaluate_ranking(rec, split.test)
    cold = evaluate_ranking(rec, split.test, subset="cold") if case.cold else None
    result = {"case": case.name, "arm": arm, "seed": seed, "epochs": len(rec.history),
              "seconds": time.perf_counter() - t0, "test": test, "test_cold": cold,
              "modality": None if modality is None else modality.name}
    write_result(f"multimodal-{case.name}-{arm.replace('+', '-')}-s{seed}", result)
    print(f"{case.name} {arm} seed {seed}: NDCG@10 {test['ndcg@10']:.4f} HR@10 "
          f"{test['hr@10']:.4f} ({result['epochs']} epochs, {result['seconds']:.0f}s)",
          flush=True)
    return result


def spread(values: list[float]) -> str:
    """mean (min..max)."""
    return f"{np.mean(values):.4f} ({min(values):.4f}..{max(values):.4f})"


def verdict(text: list[float], fused: list[float]) -> str:
    """A gain or loss only beyond the seed spread (every seed of one arm past every other)."""
    if min(fused) > max(text):
        return "gain"
    if max(fused) < min(text):
        return "loss"
    return "no gain"


def table(results: list[dict]) -> str:
    """The Markdown table: per case and arm, mean and spread over the seeds, and a verdict."""
    lines = ["| case | arm | seeds | NDCG@10 mean (min..max) | HR@10 mean (min..max) | "
             "cold-target NDCG@10 | minutes | NDCG@10 verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in results):
        arms = {}
        for r in results:
            if r["case"] == case:
                arms.setdefault(r["arm"], []).append(r)
        text = [r["test"]["ndcg@10"] for r in arms.get("text", [])]
        text_cold = [r["test_cold"]["ndcg@10"] for r in arms.get("text", []) if r["test_cold"]]
        for arm, runs in arms.items():
            ndcg = [r["test"]["ndcg@10"] for r in runs]
            hr = [r["test"]["hr@10"] for r in runs]
            cold = [r["test_cold"]["ndcg@10"] for r in runs if r["test_cold"]]
            minutes = sum(r["seconds"] for r in runs) / 60
            judged = verdict(text, ndcg) if arm != "text" and text else ""
            if cold and arm != "text" and text_cold:
                judged += f"; cold: {verdict(text_cold, cold)}"
            lines.append(f"| {case} | {arm} | {len(runs)} | {spread(ndcg)} | {spread(hr)} | "
                         f"{spread(cold) if cold else '-'} | {minutes:.1f} | {judged} |")
    return "\n".join(lines)


def main() -> None:
    """Every case, both arms, every seed; print and write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--time-budget", type=float, default=75.0, help="seconds per run")
    p.add_argument("--table", type=Path, default=RUNS / "results" / "multimodal.md")
    args = p.parse_args()
    torch.set_num_threads(1)
    results, t0 = [], time.perf_counter()
    for name in args.cases:
        case = CASES[name]
        dataset, modality = load_case(case)
        split = (ColdStartItemSplit(cold_fraction=case.cold).split(dataset) if case.cold
                 else leave_one_out(dataset))
        for seed in args.seeds:
            for arm in (None, modality):
                results.append(run_arm(case, dataset, split, arm, seed, args))
    out = table(results) + f"\n\nAll {len(results)} runs: {(time.perf_counter() - t0) / 60:.1f} min"
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(out + "\n")
    print(out)


if __name__ == "__main__":
    main()
