"""Artifact save/load: same scores after reload, text path for new items, no pickle."""

import json

import numpy as np
import pytest
import torch

from shelflm.models.artifact import load_artifact, save_artifact
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.serving_model import ServingModel
from shelflm.models.shelf_model import ShelfRecommender
from shelflm.training.config import TrainConfig
from tiny_artifact import TITLES

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tiny_trained):
    """tests/conftest.py's shared tiny model: 12 titled items, item 11 ("eye cream") cold."""
    return tiny_trained.rec, tiny_trained.split, tiny_trained.dataset, tiny_trained.directory


def test_reloaded_artifact_gives_the_same_scores(trained):
    rec, split, _, directory = trained
    served = load_artifact(directory)
    assert isinstance(served, ServingModel)
    cases = split.test
    expected = rec.score(cases.users, cases.histories, cases.history_events)
    for j in range(len(cases.users)):
        user = served.user_vector(served.history_vectors[cases.histories[j]],
                                  np.asarray(cases.history_events[j]))
        assert np.allclose(served.item_vectors @ user, expected[j], atol=1e-4)


def test_artifact_files_are_readable_and_pickle_free(trained):
    _, _, dataset, directory = trained
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["catalog.parquet", "config.json", "item_vectors.safetensors",
                     "model.safetensors"]
    config = json.loads((directory / "config.json").read_text())
    assert config["model"]["sequence"]["hidden"] == 16 and config["num_items"] == 12
    served = load_artifact(directory)
    assert list(served.catalog.ids) == list(dataset.catalog.ids)
    assert served.version == load_artifact(directory).version and len(served.version) == 12


def test_cold_item_is_scored_from_text_alone(trained):
    _, _, dataset, directory = trained
    served = load_artifact(directory)
    # The cold item's stored vector came from its text only, so re-encoding its row
    # through the LM and the text head reproduces it.
    vec, hist = served.encode_items(dataset.catalog.items.iloc[[11]])
    assert np.allclose(vec[0], served.item_vectors[11], atol=1e-4)
    assert np.array_equal(vec, hist)
    query = served.encode_query("eye cream")
    assert query.shape == (served.text_vectors.shape[1],)
    assert np.isfinite(query).all()


def test_bad_inputs_give_clear_errors(trained, tmp_path):
    _, _, _, directory = trained
    served = load_artifact(directory)
    with pytest.raises(ValueError, match="history must be"):
        served.user_vector(np.zeros((2, 3), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="event indices"):
        served.user_vector(served.history_vectors[:2], np.array([0, 99]))
    assert not served.user_vector(served.history_vectors[:0], np.zeros(0, np.int64)).any()
    with pytest.raises(FileNotFoundError, match="not a shelflm artifact"):
        load_artifact(tmp_path)


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
    served = load_artifact(directory)
    cases = split.test
    expected = rec.score(cases.users[:5], cases.histories[:5], cases.history_events[:5])
    for j in range(5):
        user = served.user_vector(served.history_vectors[cases.histories[j]],
                                  np.asarray(cases.history_events[j]))
        assert np.allclose(served.item_vectors @ user, expected[j], atol=1e-4)
    vec, _ = served.encode_items(dataset.catalog.items.iloc[[11]])  # the cold item
    assert np.allclose(vec[0], served.item_vectors[11], atol=1e-4)
