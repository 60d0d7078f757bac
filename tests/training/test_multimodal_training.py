"""Training with an extra modality: an image-like vector that carries the signal the text
lacks lifts ranking, cold items most; `shelflm train --modality` reads a vector file, sets the
widths from the data and records the modalities in the artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.evaluation.protocol import evaluate_ranking
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.modality_config import ModalityConfig
from shelflm.training.config import TrainConfig
from shelflm.training.recommender import ShelfRecommender
from toy_shop import toy_leave_one_out, toy_shop

pytestmark = pytest.mark.slow


def _fit(split: object, text: np.ndarray, image: np.ndarray | None) -> ShelfRecommender:
    torch.set_num_threads(1)
    modalities = (ModalityConfig(name="image", kind="vector", width=16),) if image is not None \
        else ()
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=16, max_len=8, dropout=0.1),
                              ItemTowerConfig(hidden=16, id_dropout=0.3, modalities=modalities))
    rec = ShelfRecommender(config, TrainConfig(epochs=8, batch_size=32, progress=False), text)
    rec.modality_inputs = None if image is None else {"image": image}
    rec.fit(split)
    return rec


def test_an_image_carrying_the_signal_beats_text_alone() -> None:
    # The "text" is noise; the image is the toy shop's informative item vector.
    dataset, informative = toy_shop(num_users=200, seed=0)
    text = np.random.default_rng(1).normal(size=informative.shape).astype(np.float32)
    split = toy_leave_one_out(dataset, cold_items=np.arange(0, 40, 5))
    alone, fused = _fit(split, text, None), _fit(split, text, informative)
    cold = [evaluate_ranking(r, split.test, subset="cold")["ndcg@10"] for r in (alone, fused)]
    every = [evaluate_ranking(r, split.test)["ndcg@10"] for r in (alone, fused)]
    assert cold[1] > cold[0] + 0.1, cold  # cold items are scored from content alone
    assert every[1] > every[0], every
    # Half the catalog without an image still trains and scores, NaN-free.
    half = informative.copy()
    half[::2] = np.nan
    assert np.isfinite(_fit(split, text, half).item_table().numpy()).all()


def test_train_command_reads_a_vector_file_and_numbers(project_shop: Path,
                                                      tmp_path: Path) -> None:
    from shelflm.data.loaders import load_dataset  # noqa: PLC0415
    from shelflm.models.artifact import read_artifact  # noqa: PLC0415

    ids = list(load_dataset(project_shop).catalog.ids)
    vectors = np.random.default_rng(0).normal(size=(len(ids) - 5, 6))
    np.savez(tmp_path / "img.npz", ids=np.array([*ids[5:], "not-sold-any-more"]),
             vectors=np.vstack([vectors, np.ones((1, 6))]))
    out = tmp_path / "model"
    result = CliRunner().invoke(app, [
        "train", str(project_shop), "--out", str(out), "--hidden", "16", "--epochs", "1",
        "--modality", f"image=vector:{tmp_path / 'img.npz'}",
        "--modality", "numbers=numeric:price,rating"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["modalities"] == [{"name": "image", "kind": "vector", "width": 6},
                                    {"name": "numbers", "kind": "numeric", "width": 2}]
    inputs = read_artifact(out).modality_inputs
    assert np.isnan(inputs["image"][:5]).all() and np.isfinite(inputs["image"][5:]).all()
    assert np.isfinite(inputs["numbers"][:, 0]).all() and np.isnan(inputs["numbers"][:, 1]).all()
    bad = CliRunner().invoke(app, ["train", str(project_shop), "--modality", "image=sound:x"])
    assert bad.exit_code == 2 and "kind" in bad.output
