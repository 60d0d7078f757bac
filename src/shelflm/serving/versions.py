"""The record of which model version serves, kept in the models directory beside the versions:
MODELS_DIR/refresh.json (the live version, the one before it, the store mark the nearline
loop read up to and every decision) and MODELS_DIR/refresh_log.jsonl (each decision, one per
line). `shelflm refresh` / `rollback` and the dashboard's reload and rollback all write it, so
whoever swaps next starts from the version that really serves."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

STATE, LOG = "refresh.json", "refresh_log.jsonl"


def read_state(models_dir: Path) -> dict | None:
    """refresh.json's content; None when the directory has none (no nearline loop yet)."""
    path = models_dir / STATE
    return json.loads(path.read_text()) if path.is_file() else None


def first_state(live: str) -> dict:
    """The state of a models directory whose live version is `live`, before any decision."""
    return {"live": live, "previous": None, "mark": 0, "history": []}


def record(models_dir: Path, state: dict, decision: dict) -> None:
    """Append `decision` (timed now) to the history and the log; write refresh.json."""
    decision = {"time": datetime.now(UTC).isoformat(timespec="seconds"), **decision}
    state["history"].append(decision)
    with (models_dir / LOG).open("a") as fh:
        fh.write(json.dumps(decision) + "\n")
    write_state(models_dir, state)


def write_state(models_dir: Path, state: dict) -> None:
    """refresh.json, replaced atomically (a kill leaves the old one or the new one)."""
    tmp = models_dir / f".{STATE}.{os.getpid()}"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(models_dir / STATE)


def swapped(models_dir: Path, served: str, decision: str, **details: object) -> None:
    """After a reload to `served` made outside the nearline loop (the dashboard): when a
    refresh.json exists, `served` is live and the former live version is previous."""
    state = read_state(models_dir)
    if state is None or state.get("live") == served:
        return
    state["previous"], state["live"] = state.get("live"), served
    record(models_dir, state, {"decision": decision, "live": served, **details})
