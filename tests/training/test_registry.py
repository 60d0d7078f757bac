"""The model registry: one list of names, builders configured by the run's ShelfConfig."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shelflm.models.baselines import EASE, ALSRecommender, ItemKNN, Popularity
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.settings import ShelfConfig
from shelflm.training.recommender import ShelfRecommender
from shelflm.training.registry import (
    MODELS,
    UnknownModelError,
    build_model,
    check_model_names,
    model_names,
    model_spec,
)
from toy_shop import toy_shop


@pytest.fixture(scope="module")
def dataset():
    return toy_shop(num_users=30, seed=0)[0]


def test_names_come_from_one_table_in_order() -> None:
    assert model_names() == tuple(MODELS) == (
        "shelflm", "sasrec-id", "popularity", "itemknn", "als", "ease")
    assert model_names(classic=True) == ("popularity", "itemknn", "als", "ease")
    assert model_names(classic=False) == ("shelflm", "sasrec-id")
    assert [n for n in MODELS if model_spec(n).artifact] == ["shelflm"]


def test_unknown_name_lists_the_known_ones(dataset) -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'bert4rec'.*shelflm, "
                       "sasrec-id, popularity, itemknn, als, ease"):
        build_model("bert4rec", dataset, ShelfConfig())
    with pytest.raises(ValueError, match="'nope'"):  # a ValueError, before anything trains
        check_model_names(["popularity", "nope"])


@pytest.mark.parametrize(("name", "cls"), [
    ("popularity", Popularity), ("itemknn", ItemKNN), ("als", ALSRecommender), ("ease", EASE)])
def test_classic_baselines_are_fresh_instances(dataset, name: str, cls: type) -> None:
    a, b = build_model(name, dataset, ShelfConfig()), build_model(name, dataset, ShelfConfig())
    assert type(a) is cls and a is not b and a.name == name


def test_sasrec_id_takes_the_sequence_and_training_sections(dataset) -> None:
    config = ShelfConfig(
        model=ShelfModelConfig(SequenceEncoderConfig(hidden=8, num_blocks=1, max_len=7,
                                                     dropout=0.3), ItemTowerConfig(hidden=8)),
        training=replace(ShelfConfig().training, epochs=3, seed=5))
    rec = build_model("sasrec-id", dataset, config)
    assert isinstance(rec, ShelfRecommender) and rec.name == "sasrec-id"
    assert rec.config.sequence == config.model.sequence
    assert not rec.config.items.use_text and rec.config.items.use_id
    assert rec.train_config == config.training and rec.text_vectors is None


@pytest.mark.slow
def test_shelflm_reads_its_text_through_the_configured_template_and_encoder(dataset) -> None:
    config = ShelfConfig.from_dict({"text": {"template": "{title}. Category: {category}"},
                                    "encoder": {"max_length": 16, "threads": 1},
                                    "model": {"sequence": {"hidden": 8},
                                              "items": {"hidden": 8}}})
    rec = build_model("shelflm", dataset, config)
    assert isinstance(rec, ShelfRecommender) and rec.config == config.model
    assert rec.text_settings.item_format == "{title}. Category: {category}"
    assert rec.text_settings.encoder == config.encoder.resolved()
    assert rec.text_vectors.shape[0] == dataset.num_items and rec.tuner is None
