"""Smoke run of benchmarks/soak.py: a few seconds of mixed traffic, a SIGKILL after a few
hundred acknowledged events, none lost. It starts two servers on the Beauty data (about a
minute), so it runs only when asked: SHELFLM_SOAK_SMOKE=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SHELFLM_SOAK_SMOKE") != "1",
                       reason="starts two servers on Amazon Beauty: set SHELFLM_SOAK_SMOKE=1"),
    pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "amazon-beauty").is_dir(),
                       reason="Amazon Beauty data not present"),
]


def test_soak_loses_no_acknowledged_event(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--duration", "8",
                    "--warmup", "2", "--rate", "50", "--reload-every", "4", "--kill-events",
                    "300", "--no-prefill", "--out", str(out)], check=True, timeout=600)
    result = json.loads(out.read_text())
    assert result["summary"]["soak_errors"] == 0, result["summary"]["first_errors"]
    assert result["kill"]["acknowledged"] >= 300
    assert result["kill"]["lost"] == 0, result["kill"]["lost_sample"]
    assert result["api"]["personal"] == result["api"]["asked"]
    minute = result["per_minute"][0]
    assert {"recommend", "events", "items", "search", "reload"} <= set(minute)
