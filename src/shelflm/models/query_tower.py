"""A shop's tuned query encoder, saved in its artifact as `ARTIFACT/query/` (an encoders.peft
tuner directory plus `query_fit.json`, the report of its training). Without that folder
queries are the frozen language model's vectors, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from shelflm.encoders.peft.adaptor import AdaptorTuner
from shelflm.encoders.peft.base import CONFIG_FILE, ItemTuner
from shelflm.encoders.peft.registry import load_tuner
from shelflm.models.item_text import unit_rows
from shelflm.text.templates import QueryTemplate

QUERY_DIR = "query"
REPORT_FILE = "query_fit.json"


class QueryTower:
    """Free-text questions -> unit vectors in the items' text space, through a tuner."""

    def __init__(self, tuner: ItemTuner, report: dict | None = None) -> None:
        self.tuner = tuner.eval()
        self.method = tuner.config.method
        self.report = report or {}

    @property
    def reads_lm_vectors(self) -> bool:
        """True when the tuner is a head over the frozen LM vector (the model's own query
        vector is its input, so the LM runs once, on the serving runtime)."""
        return isinstance(self.tuner, AdaptorTuner)

    def encode(self, text: str, lm_vector: np.ndarray | None = None) -> np.ndarray:
        """(d,) unit vector of one question; `lm_vector` (the frozen model's unit vector of
        it) is used by a head-only tuner instead of running the language model again."""
        with torch.no_grad():
            if self.reads_lm_vectors and lm_vector is not None:
                row = torch.from_numpy(np.asarray(lm_vector, np.float32)[None])
                vec = self.tuner.encode_vectors(row)
            else:
                vec = self.tuner.encode_texts([QueryTemplate().render(text)])
        return unit_rows(vec.numpy().astype(np.float32))[0]

    def save(self, artifact: str | Path) -> Path:
        """Write `artifact/query/`: the tuner and the training report."""
        out = Path(artifact) / QUERY_DIR
        self.tuner.save(out)
        (out / REPORT_FILE).write_text(json.dumps(self.report, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, artifact: str | Path) -> QueryTower | None:
        """The tower saved in `artifact`, or None when the artifact has none."""
        folder = Path(artifact) / QUERY_DIR
        if not (folder / CONFIG_FILE).is_file():
            return None
        report_path = folder / REPORT_FILE
        report = json.loads(report_path.read_text()) if report_path.is_file() else {}
        return cls(load_tuner(folder), report)
