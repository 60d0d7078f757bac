"""Shilling detection on ML-100K with injected fake profiles (attacks: benchmarks/risk_attacks.py).

Detection, per seed: ML-100K's users split 50/50 (seeded); the training half trains the
behaviour model (default config, --budget s) and fits the risk model (default RiskConfig).
Test population: the held-out genuine half + one cell's fakes (random / average / bandwagon x
1 / 5 / 10% of the 943 users x filler 1 / 3 / 5 / 10% of the items; 10 targets per seed).
Fakes copy a random genuine user's timestamps (resampled with replacement to their length,
sorted), items in random order, so the time features do not trivially give them away.
Ours: P / R / F1 of `flagged` (default threshold), ROC-AUC of the score, everyone scored in
one call as score_users does, and "alone", one user per call as serving scores (they differ
when the detector scores a batch transductively, as pyod's ECOD does). Side by side:
PCA-VarSelect (told the true number of fakes) and pyod's default detectors fitted on the risk
model's own training features. Genuine features are computed once per seed, the fakes' per
cell (features are per user; the first cell of a seed checks it against score_users).

Impact, per seed, each attack at 5% attackers x 3% filler: the behaviour model trained on all
genuine users + every fake (no quarantine), + only the fakes not flagged (quarantine: risk
model fitted with the clean model on all genuine users, scoring them + the fakes in one call;
all fakes flagged: the clean model reused, none: the attacked one), and the clean model.
Hit ratio: the share of genuine users (not having rated it) whose top 10 (whole history in,
rated items out) holds a target, averaged over targets. Every fit: --budget s, same seed.

    .venv/bin/python benchmarks/risk_shilling.py --part detect --seeds 0 1 2
    .venv/bin/python benchmarks/risk_shilling.py --part impact --seeds 0 1 2
    .venv/bin/python benchmarks/risk_shilling.py --report
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import risk_attacks as ra  # noqa: E402
from common import (  # noqa: E402
    RUNS,
    load_ml100k,
    risk_config,
    risk_tag,
    use_risk_detector,
    write_result,
)
from shelflm.data.schema import INTERACTION_COLUMNS  # noqa: E402
from shelflm.models.artifact import save_artifact  # noqa: E402
from shelflm.models.risk import score_users  # noqa: E402
from shelflm.models.risk_signals import ModelView, user_features  # noqa: E402
from shelflm.serving.runtime import load_artifact  # noqa: E402
from shelflm.settings import ShelfConfig  # noqa: E402
from shelflm.training.compare import fit_and_evaluate  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402
from shelflm.training.risk import fit_risk  # noqa: E402

ATTACK_SIZES, FILLER_SIZES = (0.01, 0.05, 0.10), (0.01, 0.03, 0.05, 0.10)
IMPACT_CELL = (0.05, 0.03)


def train(dataset: object, seed: int, budget: float, work: Path, tag: str) -> tuple:
    """(ServingModel, info) of the default model trained on `dataset` for `budget` s."""
    cfg = ShelfConfig()
    cfg = replace(cfg, training=replace(cfg.training, seed=seed, progress=False,
                                        time_budget_s=budget))
    started = time.perf_counter()
    rec = build_model("shelflm", dataset, cfg)
    metrics = fit_and_evaluate(rec, cfg.data.splitter().split(dataset))
    save_artifact(rec, work / tag, dataset.catalog, rec.text_settings)
    served = load_artifact(work / tag)
    served.use_user_tower("onnx")  # as served (same vectors within 1e-4, ~10x faster)
    return served, {"seconds": round(time.perf_counter() - started, 1),
                    "epochs": len(getattr(rec, "history", [])), "ndcg@10": metrics["ndcg@10"]}


@functools.cache
def product_state() -> dict:
    """The default RiskConfig and a digest of the risk code the numbers come from."""
    src = Path(__file__).resolve().parents[1] / "src" / "shelflm"
    files = ("models/risk.py", "models/risk_config.py", "models/risk_signals.py",
             "training/risk.py", "data/behaviour.py")
    digest = hashlib.sha256(b"".join((src / f).read_bytes() for f in files)).hexdigest()
    return {"risk_config": asdict(risk_config()), "risk_code_sha256": digest[:16]}


def plain(events: pd.DataFrame) -> pd.DataFrame:
    return events[list(INTERACTION_COLUMNS)].assign(user_id=events["user_id"].astype(str),
                                        item_id=events["item_id"].astype(str),
                                        event=events["event"].astype(str))


def features(events: pd.DataFrame, risk: object, view: ModelView) -> tuple:
    f, counts, _ = user_features(events, risk.reference, view, risk.config,
                                 risk.calibration.reference_vectors)
    return f, counts


def population(genuine: tuple, fakes: pd.DataFrame, risk: object, view: ModelView) -> tuple:
    """(features, event counts, is fake) of the genuine users (precomputed) + `fakes`."""
    fake_f, fake_n = features(fakes, risk, view)
    f = pd.concat([genuine[0], fake_f])
    return f, pd.concat([genuine[1], fake_n]), np.asarray(f.index.str.startswith("fake-"))


def scored(risk: object, f: pd.DataFrame, counts: pd.Series, alone: bool) -> tuple:
    """(flagged, score with None as 0) of the users of `f`, scored in one call as
    score_users does, or `alone`: one call per user, as serving scores a live user."""
    parts = [f.iloc[[i]] for i in range(len(f))] if alone else [f]
    got = [s for part in parts for s in risk.scores(part, counts)]
    return (np.array([s.flagged for s in got]),
            np.array([0.0 if s.score is None else s.score for s in got]))


def judge_cell(risk: object, detectors: dict, genuine: tuple, test_events: pd.DataFrame,
               fakes: pd.DataFrame, view: ModelView) -> dict:
    """Ours, PCA-VarSelect and the pyod detectors on the genuine test half + `fakes`."""
    f, counts, truth = population(genuine, fakes, risk, view)
    out = {"fakes": int(truth.sum()), "genuine": int((~truth).sum()),
           "separating_features": ra.feature_separation(f, truth)}
    for key, alone in (("ours", False), ("ours_alone", True)):
        out[key] = ra.detection_metrics(truth, *scored(risk, f, counts, alone))
    pca, flagged = ra.pca_varselect(pd.concat([test_events, fakes]), f.index, int(truth.sum()))
    out["pca_varselect"] = ra.detection_metrics(truth, flagged, -pca)
    x = ra.standardise(risk.calibration.features, f[risk.feature_names].to_numpy(np.float64))
    out["pyod"] = {name: ra.detection_metrics(truth, *ra.pyod_judged(d, x))
                   for name, d in detectors.items()}
    return out


def exact_check(risk: object, view: ModelView, test_events: pd.DataFrame,
                fakes: pd.DataFrame, genuine: tuple) -> float:
    """Largest score difference, per-cell features vs score_users on 30 genuine users + fakes."""
    some = genuine[0].index[:30]
    both = pd.concat([test_events[test_events["user_id"].isin(set(some))], fakes])
    direct = {s.user_id: s.score for s in score_users(risk, both, view)}
    fake_f, fake_n = features(fakes, risk, view)
    f = pd.concat([genuine[0].loc[some], fake_f])
    mine = {s.user_id: s.score for s in risk.scores(f, pd.concat([genuine[1], fake_n]))}
    return max(abs(direct[u] - mine[u]) for u in direct)


def detect(seed: int, budget: float) -> dict:
    """Every cell of one seed; see the module docstring."""
    data = load_ml100k()
    events = plain(data.interactions.events)
    users = np.sort(events["user_id"].unique())
    train_users = set(np.random.default_rng(seed).permutation(users)[: len(users) // 2])
    train_events = events[events["user_id"].isin(train_users)]
    test_events = events[~events["user_id"].isin(train_users)]
    work = Path(tempfile.mkdtemp(prefix="shelflm-shilling-"))
    served, info = train(data.with_interactions(train_events, "ml100k-train"), seed, budget,
                         work, "train")
    view, started = ModelView.of(served), time.perf_counter()
    risk = fit_risk(train_events, data.catalog, view, risk_config())
    genuine = features(test_events, risk, view)
    know = ra.Knowledge.of(events, data.item_ids)
    targets = ra.pick_targets(know, np.random.default_rng(seed))
    detectors = ra.pyod_detectors(risk.calibration.features, seed)
    out = {"seed": seed, "model": info, "targets": list(targets), "cells": [], **product_state(),
           "genuine_flagged": int(sum(s.flagged for s in risk.scores(*genuine)))}
    for attack in ra.ATTACKS:
        for size in ATTACK_SIZES:
            for filler in FILLER_SIZES:
                fakes = ra.cell_fakes(know, targets, seed, attack, size, filler)
                if not out["cells"]:
                    out["exact_check"] = exact_check(risk, view, test_events, fakes, genuine)
                row = judge_cell(risk, detectors, genuine, test_events, fakes, view)
                out["cells"].append({"attack": attack, "size": size, "filler": filler, **row})
                print(json.dumps({k: out["cells"][-1][k] for k in
                                  ("attack", "size", "filler", "ours")}), flush=True)
    out["detect_seconds"] = round(time.perf_counter() - started, 1)
    shutil.rmtree(work, ignore_errors=True)
    return out


def impact(seed: int, budget: float) -> dict:
    """Clean, no-quarantine and quarantine models per attack at IMPACT_CELL; one seed."""
    data = load_ml100k()
    events = plain(data.interactions.events)
    know = ra.Knowledge.of(events, data.item_ids)
    targets = ra.pick_targets(know, np.random.default_rng(seed))
    work = Path(tempfile.mkdtemp(prefix="shelflm-shilling-impact-"))
    clean, info = train(data, seed, budget, work, "clean")
    view = ModelView.of(clean)
    risk = fit_risk(events, data.catalog, view, risk_config())
    genuine = features(events, risk, view)
    out = {"seed": seed, "targets": list(targets), "cell": IMPACT_CELL, **product_state(),
           "clean": {**info, "hit_ratio": ra.hit_ratio(clean, events, targets)}}
    for attack in ra.ATTACKS:
        fakes = ra.cell_fakes(know, targets, seed, attack, *IMPACT_CELL)
        f, counts, truth = population(genuine, fakes, risk, view)
        batch = scored(risk, f, counts, False)[0]  # the shop's users + fakes, one call
        flagged = set(f.index[batch & truth])
        row = {"fakes": int(truth.sum()), "flagged": len(flagged),
               "genuine_flagged": int((batch & ~truth).sum()),
               "flagged_alone": int(scored(risk, f[truth], counts, True)[0].sum())}
        attacked = pd.concat([events, fakes])
        served, row["no_quarantine"] = train(data.with_interactions(attacked, attack), seed,
                                             budget, work, attack)
        row["no_quarantine"]["hit_ratio"] = ra.hit_ratio(served, events, targets)
        if len(flagged) == row["fakes"]:  # every fake out: the clean data
            model = {**out["clean"], "reused": "clean"}
        elif not flagged:  # none out: the attacked data
            model = {**row["no_quarantine"], "reused": "no_quarantine"}
        else:
            kept = attacked[~attacked["user_id"].isin(flagged)]
            served, model = train(data.with_interactions(kept, f"{attack}-q"), seed, budget,
                                  work, f"{attack}-q")
            model["hit_ratio"] = ra.hit_ratio(served, events, targets)
        row["quarantine"] = model
        out[attack] = row
        print(json.dumps({attack: row}), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return out


def ms(values: list[float], digits: int = 2) -> str:
    std = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):.{digits}f} ± {std:.{digits}f}"


def load(kind: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in
            sorted((RUNS / "results").glob(f"risk-shilling{risk_tag()}-{kind}-s*.json"))]


def report_detect(runs: list[dict]) -> None:
    cells = [c for r in runs for c in r["cells"]]
    head = ["attack size", "filler", "ours P", "ours R", "ours F1", "ours AUC",
            "ours alone F1", "ours alone AUC", "PCA-VarSelect F1", "PCA-VarSelect AUC",
            "best pyod AUC"]
    for attack in ra.ATTACKS:
        print(f"\n**{attack} attack** ({len(runs)} seeds, mean ± std)\n")
        print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
        for size in ATTACK_SIZES:
            for filler in FILLER_SIZES:
                got = [c for c in cells if (c["attack"], c["size"], c["filler"]) ==
                       (attack, size, filler)]
                best = max(ra.PYOD, key=lambda n, g=got: np.mean([c["pyod"][n]["auc"]
                                                                  for c in g]))
                row = [ms([c[who][k] for c in got]) for who, k in (
                    ("ours", "precision"), ("ours", "recall"), ("ours", "f1"), ("ours", "auc"),
                    ("ours_alone", "f1"), ("ours_alone", "auc"), ("pca_varselect", "f1"),
                    ("pca_varselect", "auc"))]
                print(f"| {size:.0%} | {filler:.0%} | {' | '.join(row)} | "
                      f"{ms([c['pyod'][best]['auc'] for c in got])} ({best}) |")
    print("\n| pyod detector | mean AUC, all cells | mean F1 |\n|---|---|---|")
    for name in ra.PYOD:
        print(f"| {name} | {np.mean([c['pyod'][name]['auc'] for c in cells]):.3f} | "
              f"{np.mean([c['pyod'][name]['f1'] for c in cells]):.3f} |")
    best = pd.DataFrame([c["separating_features"] for c in cells]).notna().sum()
    print(f"\nmost separating single features (cells where top 3): {best.nlargest(5).to_dict()}"
          f"; genuine test users flagged per seed: {[r['genuine_flagged'] for r in runs]}; "
          f"exactness check: {[r['exact_check'] for r in runs]}; model fit s: "
          f"{[r['model']['seconds'] for r in runs]}; detection s: "
          f"{[r['detect_seconds'] for r in runs]}; risk code: "
          f"{sorted({r['risk_code_sha256'] for r in runs})}")


def report_impact(runs: list[dict]) -> None:
    print(f"\n**Impact** (5% attackers, 3% filler; {len(runs)} seeds; hit ratio of the "
          "10 targets in genuine users' top 10, mean ± std)\n")
    print("| attack | fakes flagged (batch; alone) | clean HR@10 | no quarantine HR@10 "
          "| quarantine HR@10 |\n|---|---|---|---|---|")
    for attack in ra.ATTACKS:
        rows = [r[attack] for r in runs if attack in r]
        flagged = (f"{'/'.join(str(r['flagged']) for r in rows)}; "
                   f"{'/'.join(str(r['flagged_alone']) for r in rows)} of {rows[0]['fakes']}")
        print(f"| {attack} | {flagged} | {ms([r['clean']['hit_ratio'] for r in runs], 4)} | "
              f"{ms([r['no_quarantine']['hit_ratio'] for r in rows], 4)} | "
              f"{ms([r['quarantine']['hit_ratio'] for r in rows], 4)} |")
    fits = [m for r in runs for m in [r["clean"]] + [r[a][k] for a in ra.ATTACKS
                                                     for k in ("no_quarantine", "quarantine")]]
    reused = [r[a]["quarantine"].get("reused") for r in runs for a in ra.ATTACKS]
    print(f"\nfit s: {[m['seconds'] for m in fits]}; epochs: {[m['epochs'] for m in fits]}; "
          f"quarantine reused: {reused}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("detect", "impact", "all"), default="all")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=float, default=120, help="seconds per model fit")
    p.add_argument("--report", action="store_true")
    p.add_argument("--detector", default=None, help="[risk] detector (default: "
                   "RiskConfig's); results get a -DETECTOR suffix")
    args = p.parse_args()
    use_risk_detector(args.detector)
    if not args.report:
        torch.set_num_threads(1)
        product_state()  # the digest of the risk code as imported, before any later edit
        for seed in args.seeds:
            if args.part in ("detect", "all"):
                write_result(f"risk-shilling{risk_tag()}-detect-s{seed}", detect(seed, args.budget))
            if args.part in ("impact", "all"):
                write_result(f"risk-shilling{risk_tag()}-impact-s{seed}", impact(seed, args.budget))
    if detected := load("detect"):
        report_detect(detected)
    if impacts := load("impact"):
        report_impact(impacts)


if __name__ == "__main__":
    main()
