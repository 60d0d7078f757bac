"""`make bench`: run the benchmarks one after another; results land in runs/ (see docs/RESULTS.md).

The quality runs on Beauty take tens of minutes each, so they are opt-in (`--all`); the
default set finishes in about a quarter of an hour on 2 cores. Benchmarks that need the
public datasets are skipped when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"

QUICK = [
    ("encoding", ["encoding.py", "--runs", "3", "--threads", "2"], True),
    ("peft_step", ["peft_step.py"], False),
    ("serving", ["serving.py", "--duration", "20"], True),
    ("rating_ml100k", ["rating_ml100k.py"], True),
    ("baselines ml-100k", ["baselines.py", "--dataset", "ml-100k"], True),
]
SLOW = [
    # Beauty seeds, SASRec-ID's tuning grid, cold-start variants, ML-100K ablations: hours on
    # 2 cores (minutes on a GPU host with --device cuda --parallel 14).
    ("quality grid", ["ablations.py", "--parallel", "2"], True),
    ("beauty baselines", ["baselines.py", "--dataset", "amazon-beauty", "--max-valid", "5000"],
     True),
]


def main() -> int:
    """Run the chosen benchmarks; return non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="also the long Beauty quality runs")
    args = parser.parse_args()
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    failed = []
    for name, argv, needs_data in QUICK + (SLOW if args.all else []):
        if needs_data and not SHARED.is_dir():
            print(f"skip {name}: {SHARED} is absent")
            continue
        print(f"\n=== {name}: {' '.join(argv)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], env=env).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
