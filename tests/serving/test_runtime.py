"""The serving runtime of a saved artifact (load_artifact -> LoadedShelfModel): same scores
as the fitted model, the text path for new items, clear errors, a PEFT item tower, and
artifacts of format 1 (with history_vectors) served alike."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from shelflm.models.artifact import save_artifact
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.serving_model import ServingModel
from shelflm.serving.config import ServingConfig
from shelflm.serving.runtime import LoadedShelfModel, load_artifact
from shelflm.serving.state import load_model
from shelflm.training.config import TrainConfig
from shelflm.training.recommender import ShelfRecommender
from tiny_artifact import TITLES

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tiny_trained):
    """tests/conftest.py's shared tiny model: 12 titled items, item 11 ("eye cream") cold."""
    return tiny_trained.rec, tiny_trained.split, tiny_trained.dataset, tiny_trained.directory


def _assert_same_scores(served: LoadedShelfModel, rec: ShelfRecommender, cases,
                        n: int | None = None) -> None:
    """The user tower over the served item vectors of each history scores as `rec` does."""
    n = len(cases.users) if n is None else n
    expected = rec.score(cases.users[:n], cases.histories[:n], cases.history_events[:n])
    for j in range(n):
        user = served.user_vector(served.item_vectors[cases.histories[j]],
                                  np.asarray(cases.history_events[j]))
        assert np.allclose(served.item_vectors @ user, expected[j], atol=1e-4)


def test_reloaded_artifact_gives_the_same_scores(trained):
    rec, split, _, directory = trained
    served = load_artifact(directory)
    assert isinstance(served, ServingModel)
    _assert_same_scores(served, rec, split.test)


def test_cold_item_is_scored_from_text_alone(trained):
    _, _, dataset, directory = trained
    served = load_artifact(directory)
    # The cold item's stored vector came from its text only, so re-encoding its row
    # through the LM and the text head reproduces it.
    vec = served.encode_items(dataset.catalog.items.iloc[[11]])
    assert vec.shape == (1, served.dim) and vec.dtype == np.float32
    assert np.allclose(vec[0], served.item_vectors[11], atol=1e-4)
    assert served.encode_items(dataset.catalog.items.iloc[[]]).shape == (0, served.dim)
    query = served.encode_query("eye cream")
    assert query.shape == (served.text_vectors.shape[1],)
    assert np.isfinite(query).all()


def test_bad_inputs_give_clear_errors(trained, tmp_path):
    _, _, _, directory = trained
    served = load_artifact(directory)
    with pytest.raises(ValueError, match="history must be"):
        served.user_vector(np.zeros((2, 3), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="event indices"):
        served.user_vector(served.item_vectors[:2], np.array([0, 99]))
    assert not served.user_vector(served.item_vectors[:0], np.zeros(0, np.int64)).any()
    with pytest.raises(FileNotFoundError, match="not a shelflm artifact"):
        load_artifact(tmp_path)


def test_format_1_artifact_serves_alike(trained, tmp_path):
    """An artifact saved before history_vectors were dropped gives the same answers."""
    rec, split, _, directory = trained
    old = Path(shutil.copytree(directory, tmp_path / "v1"))
    vectors = load_file(str(old / "item_vectors.safetensors"))
    vectors["history_vectors"] = vectors["item_vectors"].copy()
    save_file(vectors, str(old / "item_vectors.safetensors"))
    config = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**config, "format_version": 1}))
    served = load_artifact(old)
    _assert_same_scores(served, rec, split.test)
    assert np.array_equal(served.text_vectors, load_artifact(directory).text_vectors)


def test_loaded_model_exposes_the_read_artifact(trained):
    _, _, dataset, directory = trained
    served = load_artifact(directory)
    assert served.artifact.directory == directory and served.directory == directory
    assert served.catalog is served.artifact.catalog and len(served.catalog) == 12
    assert served.version == served.artifact.version
    assert (served.text_encoder, served.user_tower) == ("pytorch", "pytorch")


def test_peft_adaptor_item_tower_round_trips(trained, tmp_path):
    from shelflm.encoders.peft.registry import build_tuner, make_config

    _, split, dataset, _ = trained
    tuner = build_tuner(make_config("adaptor", d_out=32), TITLES)
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=16, max_len=6, dropout=0.1),
                              ItemTowerConfig(hidden=16, id_dropout=0.3))
    rec = ShelfRecommender(config, TrainConfig(epochs=2, batch_size=16, progress=False),
                           tuner=tuner)
    rec.fit(split)
    directory = save_artifact(rec, tmp_path / "peft", dataset.catalog)
    assert (directory / "adapter").is_dir()
    assert json.loads((directory / "config.json").read_text())["tuner"] == "adaptor"
    served = load_artifact(directory)
    _assert_same_scores(served, rec, split.test, n=5)
    vec = served.encode_items(dataset.catalog.items.iloc[[11]])  # the cold item
    assert np.allclose(vec[0], served.item_vectors[11], atol=1e-4)


def test_the_loader_name_of_older_configs_still_resolves(trained_artifact: Path) -> None:
    assert ServingConfig().model_loader == "shelflm.serving.runtime:load_artifact"
    served = load_model("shelflm.models.artifact:load_artifact", trained_artifact)
    assert isinstance(served, LoadedShelfModel)
