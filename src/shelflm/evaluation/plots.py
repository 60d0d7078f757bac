"""PNG plots for reports: learning curves and grouped metric bars per model (matplotlib Agg)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from shelflm.evaluation.report import Results, read_epoch_log  # noqa: E402


def plot_learning_curves(log: str | Path | Sequence[Mapping[str, float]], out: str | Path,
                         loss_keys: Sequence[str] = ("train_loss", "valid_loss"),
                         metric_key: str = "valid_ndcg@10", title: str = "Learning curves",
                         ) -> Path:
    """Loss (left) and validation metric (right) against epoch, from a JSON-lines log or rows."""
    rows = read_epoch_log(log) if isinstance(log, str | Path) else list(log)
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4.2))
    plotted = False
    for key in loss_keys:
        if any(key in r for r in rows):
            ax_loss.plot(epochs, [r.get(key, math.nan) for r in rows], marker="o", label=key)
            plotted = True
    if not plotted:
        raise ValueError(f"log has none of the loss keys {tuple(loss_keys)}")
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    values = [r.get(metric_key, math.nan) for r in rows]
    ax_metric.plot(epochs, values, marker="o", color="tab:green", label=metric_key)
    finite = [(v, e) for v, e in zip(values, epochs, strict=True) if not math.isnan(v)]
    if finite:
        best, at = max(finite)
        ax_metric.axvline(at, color="grey", linestyle="--", label=f"best {best:.4f} @ epoch {at}")
    ax_metric.set(title=metric_key, xlabel="epoch", ylabel=metric_key)
    ax_metric.legend()
    ax_metric.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


def plot_metric_bars(results: Results, out: str | Path,
                     metrics: Sequence[str] = ("hr@10", "ndcg@10", "cold_ndcg@10",
                                               "warm_ndcg@10"),
                     title: str = "Full-ranking metrics per model") -> Path:
    """Grouped bars: one group per metric, one bar per model, values written on the bars."""
    metrics = [m for m in metrics if any(m in r for r in results.values())]
    if not results or not metrics:
        raise ValueError("nothing to plot: no models or none of the metrics present")
    names = list(results)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(metrics) * max(1, len(names) / 2)), 4.8))
    for j, name in enumerate(names):
        heights = [results[name].get(m, math.nan) for m in metrics]
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(metrics))]
        bars = ax.bar(xs, [0 if math.isnan(h) else h for h in heights], width, label=name)
        ax.bar_label(bars, labels=["n/a" if math.isnan(h) else f"{h:.3f}" for h in heights],
                     fontsize=7, rotation=90 if len(names) > 3 else 0, padding=2)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set(title=title, ylabel="value (higher is better)", xlabel="metric")
    ax.margins(y=0.2)
    ax.legend(title="model", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out)


def _save(fig: plt.Figure, out: str | Path) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_periods(rows: Sequence[Mapping[str, object]], out: str | Path,
                 title: str = "Learning the new, keeping the old") -> Path:
    """Two panels against the period: NDCG@10 on the next period and on earlier periods'
    held-out events, one line per method; rows hold period, method, next and kept."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, name in ((axes[0], "next", "next period"),
                          (axes[1], "kept", "earlier periods (forgetting)")):
        for method in dict.fromkeys(str(r["method"]) for r in rows):
            points = [(r["period"], r[key]) for r in rows
                      if r["method"] == method and r.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=method)
        ax.set(title=name, xlabel="period", ylabel="NDCG@10")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
