"""Seconds per training step of every fine-tuning method, side by side in one run.

One step = 64 items (32 co-interaction pairs) through the tuner, an in-batch contrastive
(InfoNCE) loss plus the method's extra loss, backward, AdamW, after_optimizer_step. Items
and pairs come from the Amazon Beauty titles and sequences in ../shared/data when present
(consecutive items in a shopper's sequence are a pair), else from made-up titles.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/peft_step.py [--steps 10] [--threads 1]
Prints a Markdown table and writes JSON to --out (default runs/peft_step.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from shelflm.encoders.peft.registry import build_tuner, make_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BEAUTY = ROOT / ".." / "shared" / "data" / "amazon-beauty"
# (label, method, options); AdaLoRA's total_step is filled in from the step count.
RUNS = [
    ("full", "full", {}),
    ("lora", "lora", {}),
    ("adalora", "adalora", {}),
    ("top_layers k=1", "top_layers", {"num_layers": 1}),
    ("top_layers k=2", "top_layers", {"num_layers": 2}),
    ("adaptor", "adaptor", {}),
]


def beauty_catalog(num_items: int) -> tuple[list[str], list[tuple[int, int]], str]:
    """Titles of up to `num_items` Beauty items and the consecutive-purchase pairs among them."""
    items = pd.read_csv(BEAUTY / "items.csv", dtype=str).dropna(subset=["title"])
    title_of = dict(zip(items["item_id"], items["title"].str.strip(), strict=True))
    index: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    for line in (BEAUTY / "sequences.txt").read_text().splitlines():
        seq = [i for i in line.split()[1:] if title_of.get(i)]
        for a, b in zip(seq, seq[1:], strict=False):
            if a == b:
                continue
            if len(index) + (a not in index) + (b not in index) > num_items:
                continue
            ia, ib = (index.setdefault(x, len(index)) for x in (a, b))
            pairs.append((ia, ib))
        if len(index) >= num_items:
            break
    texts = [title_of[i] for i in sorted(index, key=index.get)]
    return texts, sorted(set(pairs)), f"amazon-beauty ({len(texts)} items, {len(pairs)} pairs)"


def synthetic_catalog(num_items: int) -> tuple[list[str], list[tuple[int, int]], str]:
    """Made-up titles in 16 categories; two items of the same category form a pair."""
    rng = random.Random(0)
    cats = [f"category{c}" for c in range(16)]
    words = ["matte", "vegan", "deluxe", "mini", "organic", "glossy", "classic", "travel"]
    texts = [f"{rng.choice(words)} {rng.choice(words)} {cats[i % 16]} no. {i}"
             for i in range(num_items)]
    pairs = [(i, i + 16) for i in range(num_items - 16)]
    return texts, pairs, f"synthetic ({num_items} items)"


def batch_of_pairs(pairs: list[tuple[int, int]], size: int, rng: random.Random) -> torch.Tensor:
    """`size` pairs with no item repeated, as [anchors..., positives...]."""
    chosen, seen = [], set()
    for a, b in rng.sample(pairs, len(pairs)):
        if a not in seen and b not in seen:
            chosen.append((a, b))
            seen.update((a, b))
            if len(chosen) == size:
                break
    if len(chosen) < size:
        raise ValueError(f"only {len(chosen)} disjoint pairs available, need {size}")
    return torch.tensor([a for a, _ in chosen] + [b for _, b in chosen])


def measure(label: str, method: str, options: dict, texts: list[str],
            pairs: list[tuple[int, int]], args: argparse.Namespace) -> dict:
    """Build one tuner and time `args.steps` training steps after `args.warmup` warm-up steps."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    total_steps = args.warmup + args.steps
    if method == "adalora":
        options = {"total_step": total_steps, **options}
    config = make_config(method, max_length=args.max_length, batch_size=args.batch, **options)
    start = time.perf_counter()
    tuner = build_tuner(config, texts)
    setup_s = time.perf_counter() - start
    optimizer = torch.optim.AdamW(tuner.trainable_parameters(), lr=args.lr)
    tuner.train()
    times, losses = [], []
    for step in range(total_steps):
        idx = batch_of_pairs(pairs, args.batch // 2, rng)
        start = time.perf_counter()
        vectors = tuner(idx)
        anchors, positives = vectors.chunk(2)
        logits = anchors @ positives.T / args.temperature
        loss = F.cross_entropy(logits, torch.arange(len(logits))) + tuner.extra_loss()
        loss.backward()
        optimizer.step()
        tuner.after_optimizer_step(step)
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        losses.append(loss.item())
        if step >= args.warmup:
            times.append(elapsed)
    row = {"method": label, "config": config.to_dict(), "trainable": tuner.num_trainable,
           "total": tuner.num_total, "fraction": tuner.trainable_fraction,
           "step_s_median": statistics.median(times), "step_s_min": min(times),
           "step_s_all": times, "setup_s": setup_s, "loss_first": losses[0],
           "loss_last": losses[-1]}
    del tuner, optimizer
    gc.collect()
    print(f"  {label}: {row['step_s_median']:.3f} s/step (setup {setup_s:.1f} s)", flush=True)
    return row


def markdown(rows: list[dict]) -> str:
    """The results as a Markdown table, speed-ups relative to full fine-tuning."""
    full = next((r["step_s_median"] for r in rows if r["method"] == "full"), None)
    lines = ["| method | trainable params | trainable % | s/step (median) | speed-up vs full "
             "| setup s (cache) |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = f"{full / r['step_s_median']:.1f}x" if full else "-"
        lines.append(f"| {r['method']} | {r['trainable']:,} | {100 * r['fraction']:.3f}% "
                     f"| {r['step_s_median']:.4f} | {speed} | {r['setup_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    """Run every method on the same data and settings; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-items", type=int, default=1024,
                        help="catalog size (the caches of adaptor/top_layers cover all of it)")
    parser.add_argument("--batch", type=int, default=64, help="items per step (pairs * 2)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--max-length", type=int, default=32, help="tokens per title")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is steadiest on a shared machine)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="*", default=[label for label, _, _ in RUNS],
                        help="labels to run, e.g. full lora 'top_layers k=1'")
    parser.add_argument("--synthetic", action="store_true", help="ignore ../shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "peft_step.json")
    args = parser.parse_args()
    if args.batch < 2 or args.batch % 2:
        parser.error("--batch must be an even number >= 2")
    unknown = set(args.methods) - {label for label, _, _ in RUNS}
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}")
    torch.set_num_threads(args.threads)

    use_beauty = not args.synthetic and (BEAUTY / "items.csv").is_file()
    texts, pairs, source = (beauty_catalog if use_beauty else synthetic_catalog)(args.num_items)
    print(f"data: {source}; batch {args.batch}, max_length {args.max_length}, "
          f"threads {args.threads}, {args.steps} timed steps after {args.warmup}", flush=True)
    rows = [measure(label, method, options, texts, pairs, args)
            for label, method, options in RUNS if label in args.methods]
    table = markdown(rows)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "data": source, "batch": args.batch, "max_length": args.max_length,
        "threads": args.threads, "steps": args.steps, "warmup": args.warmup,
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "rows": rows, "table": table}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
