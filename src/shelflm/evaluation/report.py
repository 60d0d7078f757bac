"""Comparison reports: one Markdown table and one JSON file of metrics per model."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_COLUMNS: tuple[str, ...] = (
    "hr@5", "ndcg@5", "hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr", "coverage@10",
    "pop_percentile@10", "cold_ndcg@10", "warm_ndcg@10",
)

# Where a smaller value wins; every other column is higher-is-better. Popularity bias is
# not a loss, but bolding the most biased model would read as praise.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae", "arp@10", "pop_percentile@10"})

Results = Mapping[str, Mapping[str, float]]  # model name -> metric name -> value


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown_table(results: Results, columns: Sequence[str] | None = None,
                   best: Mapping[str, bool] | None = None) -> str:
    """A Markdown table, one row per model; the best value of each column is in bold.

    `columns` defaults to the known ranking metrics present in any result; `best` maps a
    column to True when higher is better or False when lower is (default: LOWER_IS_BETTER
    and any `*seconds` column).
    """
    if not results:
        raise ValueError("no results to tabulate")
    if columns is None:
        present = {k for metrics in results.values() for k in metrics}
        columns = [c for c in DEFAULT_COLUMNS if c in present] or sorted(present)
    best = best or {}
    winners: dict[str, float] = {}
    for col in columns:
        values = [m[col] for m in results.values()
                  if isinstance(m.get(col), int | float) and not math.isnan(m[col])]
        if values:
            base = col.removeprefix("cold_").removeprefix("warm_")
            higher = best.get(col, base not in LOWER_IS_BETTER and not base.endswith("seconds"))
            winners[col] = max(values) if higher else min(values)
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, metrics in results.items():
        cells = []
        for col in columns:
            value = metrics.get(col, float("nan"))
            text = _fmt(value)
            cells.append(f"**{text}**" if winners.get(col) == value and len(results) > 1
                         else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(results: Results, out_dir: str | Path, name: str = "comparison",
                 title: str = "Model comparison", notes: str = "",
                 columns: Sequence[str] | None = None) -> dict[str, Path]:
    """Write `<name>.md` (title, notes, table) and `<name>.json`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / f"{name}.md"
    md.write_text(f"# {title}\n\n" + (f"{notes}\n\n" if notes else "")
                  + markdown_table(results, columns))
    js = out / f"{name}.json"
    # NaN is not valid JSON: an empty subset is written as null
    clean = {m: {k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in metrics.items()} for m, metrics in results.items()}
    js.write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n")
    return {"markdown": md, "json": js}


def read_epoch_log(path: str | Path) -> list[dict[str, float]]:
    """Rows of a per-epoch JSON-lines log; a bad line is reported with its number."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "epoch" not in row:
            raise ValueError(f"{path}, line {n}: expected an object with an 'epoch' field")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no epochs logged")
    return rows
