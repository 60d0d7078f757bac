"""Gated fusion of extra item modalities: missing ones add nothing and never NaN, numbers are
standardised with a missing indicator, and a tower without modalities is unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shelflm.config import ConfigError
from shelflm.models.config import ItemTowerConfig, ShelfModelConfig
from shelflm.models.item_tower import ItemTower
from shelflm.models.modality_config import ModalityConfig, parse_modality
from shelflm.models.modality_fusion import GatedFusion
from shelflm.models.modality_inputs import field_texts, modality_inputs, numeric_inputs
from shelflm.settings import load_shelf_config

IMAGE = ModalityConfig(name="image", kind="vector", width=4)
NUMBERS = ModalityConfig(name="numbers", kind="numeric", fields=("price", "rating"))


def _tower(modalities: tuple = (), inputs: dict | None = None, seed: int = 0) -> ItemTower:
    torch.manual_seed(seed)
    text = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    config = ItemTowerConfig(hidden=5, use_id=False, modalities=modalities)
    return ItemTower(config, 6, text, modality_inputs=inputs).eval()


def test_missing_modalities_add_nothing_and_never_nan() -> None:
    image = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    image[[1, 5]] = np.nan  # items 1 and 5 have no image
    numbers = np.array([[10, 4.5], [np.nan, np.nan], [1000, np.nan], [np.nan, 3],
                        [5, 5], [np.nan, np.nan]], np.float32)
    plain = _tower()
    fused = _tower((IMAGE, NUMBERS), {"image": image, "numbers": numbers})
    fused.text_head.load_state_dict(plain.text_head.state_dict())
    with torch.no_grad():
        a, b = plain.all_items(), fused.all_items()
    assert torch.isfinite(b).all()
    # Items 1 and 5 carry neither modality: exactly the text-only vector.
    assert torch.equal(a[[1, 5]], b[[1, 5]])
    assert not torch.allclose(a[[0, 2, 3, 4]], b[[0, 2, 3, 4]])
    with torch.no_grad():  # forward on some rows agrees with the whole table
        assert torch.allclose(fused(torch.tensor([0, 4])), b[[0, 4]], atol=1e-6)


def test_new_items_without_inputs_are_text_only() -> None:
    fused = _tower((IMAGE,), {"image": np.ones((6, 4), np.float32)})
    lm = torch.randn(3, 8)
    with torch.no_grad():
        text_only = fused.text_head(lm)
        assert torch.equal(fused.encode_text_vectors(lm), text_only)
        nan_rows = {"image": torch.full((3, 4), float("nan"))}
        assert torch.equal(fused.encode_text_vectors(lm, nan_rows), text_only)
        given = fused.encode_text_vectors(lm, {"image": torch.ones(3, 4)})
    assert torch.isfinite(given).all() and not torch.equal(given, text_only)


def test_no_modalities_is_the_plain_tower_bit_for_bit() -> None:
    a, b = _tower(seed=3), _tower((), None, seed=3)
    assert b.fusion is None and set(a.state_dict()) == set(b.state_dict())
    with torch.no_grad():
        assert torch.equal(a.all_items(), b.all_items())


def test_numeric_statistics_log_price_and_flag_missing() -> None:
    fusion = GatedFusion((NUMBERS,), hidden=3)
    values = torch.tensor([[9.0, 4.0], [99.0, float("nan")], [999.0, 2.0]])
    fusion.fit_statistics({"numbers": values})
    branch = fusion.branches["numbers"]
    logs = torch.log1p(torch.tensor([9.0, 99.0, 999.0]))
    assert branch.mean[0] == pytest.approx(float(logs.mean()), rel=1e-5)
    assert branch.mean[1] == pytest.approx(3.0)  # rating: as is, over the rated items
    z, present = branch.features(torch.tensor([[float("nan"), float("nan")], [99.0, 3.0]]))
    assert present.tolist() == [0.0, 1.0] and torch.isfinite(z).all()


def test_inputs_from_catalog_rows() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["x", "y", "z"],
                          "price": [3.0, np.nan, 7.0],
                          "attributes": ['{"rating": 4.5, "tags": ["funny", "dark"]}',
                                         '{"rating": "n/a"}', ""]})
    numbers = numeric_inputs(items, NUMBERS)
    assert numbers[0].tolist() == [3.0, 4.5]
    assert np.isnan(numbers[1]).all() and numbers[2, 0] == 7 and np.isnan(numbers[2, 1])
    tags = ModalityConfig(name="tags", kind="text", source="tags")
    assert field_texts(items, tags) == ["funny, dark", "", ""]
    got = modality_inputs(items, (tags,), lambda texts: np.ones((len(texts), 2)))
    assert got["tags"][0].tolist() == [1, 1] and np.isnan(got["tags"][1:]).all()


def test_config_validation_and_command_line_specs() -> None:
    assert parse_modality("image=vector:imgs.npz") == ModalityConfig(
        name="image", kind="vector", source="imgs.npz")
    numbers = parse_modality("numbers=numeric:price,rating")
    assert numbers.fields == ("price", "rating") and numbers.width == 2
    assert numbers.logged == (True, False)
    for bad in ("image", "Image=vector:x", "x=sound:y", "n=numeric:"):
        with pytest.raises(ValueError):
            parse_modality(bad)
    with pytest.raises(ValueError, match="distinct"):
        ItemTowerConfig(modalities=(IMAGE, IMAGE))
    config = ShelfModelConfig(**ShelfModelConfig(items=ItemTowerConfig(
        modalities=(IMAGE,))).to_dict())  # as an artifact's config.json reads back
    assert config.items.modalities == (IMAGE,)


def test_a_run_config_names_modalities_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[[model.items.modalities]]\nname = "image"\nkind = "vector"\n'
                    'source = "img.npz"\n[[model.items.modalities]]\nname = "numbers"\n'
                    'kind = "numeric"\nfields = ["price", "rating"]\n')
    config = load_shelf_config(path)
    assert [m.name for m in config.model.items.modalities] == ["image", "numbers"]
    path.write_text(config.to_toml())
    assert load_shelf_config(path) == config
    path.write_text('[[model.items.modalities]]\nname = "x"\nkind = "sound"\n')
    with pytest.raises(ConfigError, match="model.items.modalities.0.*sound"):
        load_shelf_config(path)
