"""The artifact format: save, read back and describe; same scores after reading, no pickle,
older layouts (format 1 with history_vectors) still read. Serving a read artifact is
tested in tests/serving/test_runtime.py."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from shelflm.models.artifact import (
    FORMAT_VERSION,
    Artifact,
    read_artifact,
    save_artifact,
)
from shelflm.models.item_text import TextSettings
from shelflm.models.model_card import model_card
from shelflm.models.shelf_model import ShelfModel

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tiny_trained):
    """tests/conftest.py's shared tiny model: 12 titled items, item 11 ("eye cream") cold."""
    return tiny_trained.rec, tiny_trained.split, tiny_trained.dataset, tiny_trained.directory


def _scores(artifact: Artifact, cases) -> np.ndarray:
    """Scores of test cases from the artifact's own model and item vectors."""
    table = torch.from_numpy(np.array(artifact.item_vectors))
    users = artifact.model.user_vectors(cases.histories, cases.history_events, table)
    return (users @ table.T).numpy()


def test_read_artifact_gives_the_same_model_and_scores(trained):
    rec, split, _, directory = trained
    artifact = read_artifact(directory)
    assert isinstance(artifact.model, ShelfModel) and not artifact.model.training
    assert artifact.dim == 16 and artifact.item_vectors.shape == (12, 16)
    assert artifact.text_vectors is not None and artifact.text_vectors.shape == (12, 384)
    assert artifact.text == TextSettings(item_format="{title}")  # as tiny_artifact saved it
    cases = split.test
    expected = rec.score(cases.users, cases.histories, cases.history_events)
    assert np.allclose(_scores(artifact, cases), expected, atol=1e-4)


def test_artifact_files_are_readable_and_pickle_free(trained):
    _, _, dataset, directory = trained
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["catalog.parquet", "config.json", "item_vectors.safetensors",
                     "model.safetensors", "training.json"]
    config = json.loads((directory / "config.json").read_text())
    assert config["model"]["sequence"]["hidden"] == 16 and config["num_items"] == 12
    assert config["format_version"] == FORMAT_VERSION
    # The user tower reads the item vectors: no second copy is stored.
    assert sorted(load_file(str(directory / "item_vectors.safetensors"))) == [
        "item_vectors", "text_vectors"]
    artifact = read_artifact(directory)
    assert list(artifact.catalog.ids) == list(dataset.catalog.ids)
    assert artifact.version == read_artifact(directory).version and len(artifact.version) == 12


def test_the_card_reads_the_files_alone(trained, tmp_path):
    _, _, _, directory = trained
    card = model_card(directory)
    assert card["model"] == "shelflm" and card["format_version"] == FORMAT_VERSION
    assert (card["num_items"], card["dim"], card["text_dim"]) == (12, 16, 384)
    assert card["item_format"] == "{title}" and card["encoder"]["pooling"] == "mean"
    assert card["tuning"]["method"] is None and card["saved"]
    assert card["version"] == read_artifact(directory).version
    # training.json: the fit's epochs (the card's curve) and the trainable share.
    assert len(card["curves"]) == 3 and card["curves"][0]["epoch"] == 1
    assert card["tuning"]["trainable"] > 0 and 0 < card["tuning"]["share"] <= 1
    assert card["metrics"]["valid"]["ndcg@10"] is not None
    json.loads(json.dumps(card, allow_nan=False))  # plain JSON, no NaN
    only_config = tmp_path / "only-config"
    only_config.mkdir()
    shutil.copy(directory / "config.json", only_config)
    bare = model_card(only_config)  # no weights or vectors read
    assert bare["num_items"] == 12 and bare["version"] is None and bare["curves"] == []


def _as_format_1(directory: Path, target: Path) -> Path:
    """A copy of `directory` as format 1 wrote it: history_vectors beside item_vectors."""
    old = Path(shutil.copytree(directory, target))
    vectors = load_file(str(old / "item_vectors.safetensors"))
    vectors["history_vectors"] = vectors["item_vectors"].copy()
    save_file(vectors, str(old / "item_vectors.safetensors"))
    config = json.loads((old / "config.json").read_text())
    config["format_version"] = 1
    (old / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return old


def test_format_1_artifacts_with_history_vectors_still_read(trained, tmp_path):
    rec, split, _, directory = trained
    old = _as_format_1(directory, tmp_path / "v1")
    artifact = read_artifact(old)
    assert np.array_equal(artifact.item_vectors, read_artifact(directory).item_vectors)
    cases = split.test
    expected = rec.score(cases.users, cases.histories, cases.history_events)
    assert np.allclose(_scores(artifact, cases), expected, atol=1e-4)
    assert model_card(old)["format_version"] == 1


def test_bad_directories_give_clear_errors(trained, tmp_path):
    _, _, _, directory = trained
    with pytest.raises(FileNotFoundError, match="not a shelflm artifact"):
        read_artifact(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a shelflm artifact"):
        model_card(tmp_path)
    newer = Path(shutil.copytree(directory, tmp_path / "newer"))
    config = json.loads((newer / "config.json").read_text())
    (newer / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ValueError, match="newer than this shelflm reads"):
        read_artifact(newer)
    (newer / "config.json").write_text(json.dumps({**config, "format": "other"}))
    with pytest.raises(ValueError, match="format 'other'"):
        model_card(newer)


def test_other_parts_records_land_in_the_one_config_write(trained, tmp_path):
    rec, _, dataset, _ = trained
    out = save_artifact(rec, tmp_path / "a", dataset.catalog,
                        records={"shelflm_config": {"training": {"epochs": 3}}})
    config = json.loads((out / "config.json").read_text())
    assert config["shelflm_config"] == {"training": {"epochs": 3}} and config["num_items"] == 12
    with pytest.raises(ValueError, match=r"\['name'\] would overwrite"):
        save_artifact(rec, tmp_path / "b", dataset.catalog, records={"name": {}})
