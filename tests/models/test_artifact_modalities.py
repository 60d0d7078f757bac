"""An artifact trained with extra modalities records them (names, kinds, widths), keeps the
catalog's raw inputs, reads back to the same vectors, and serving encodes a new item with its
modalities as training did (and without them when it has none)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shelflm.data.schema import Catalog
from shelflm.models.artifact import MODALITIES, read_artifact
from shelflm.models.modality_inputs import VECTORS_COLUMN
from shelflm.models.model_card import model_card
from shelflm.serving.runtime import LoadedShelfModel, load_artifact
from tiny_artifact import (
    CATEGORIES,
    COLD_ITEM,
    NO_IMAGE_ITEM,
    TITLES,
    TinyTrained,
    train_tiny_multimodal,
)

pytestmark = pytest.mark.slow


@dataclass
class Multimodal:
    trained: TinyTrained
    image: np.ndarray  # (12, 4): item NO_IMAGE_ITEM has none


@pytest.fixture(scope="module")
def multimodal(tmp_path_factory: pytest.TempPathFactory) -> Multimodal:
    return Multimodal(*train_tiny_multimodal(tmp_path_factory.mktemp("mm") / "model"))


def _rows(indices: list[int], image: np.ndarray | None) -> pd.DataFrame:
    rows = pd.DataFrame({"item_id": [f"i{k}" for k in indices],
                         "title": [TITLES[k] for k in indices],
                         "category": [CATEGORIES[k] for k in indices]})
    if image is not None:
        rows[VECTORS_COLUMN] = [{"image": image[k].tolist()} for k in indices]
    return Catalog.from_frame(rows).items.assign(**(
        {VECTORS_COLUMN: rows[VECTORS_COLUMN]} if image is not None else {}))


def test_the_artifact_records_its_modalities(multimodal: Multimodal) -> None:
    root = multimodal.trained.directory
    config = json.loads((root / "config.json").read_text())
    assert config["modalities"] == [{"name": "image", "kind": "vector", "width": 4},
                                    {"name": "shelf", "kind": "text", "width": 384}]
    assert [m["name"] for m in config["model"]["items"]["modalities"]] == ["image", "shelf"]
    assert model_card(root)["modalities"] == config["modalities"]
    read = read_artifact(root)
    np.testing.assert_array_equal(read.modality_inputs["image"], multimodal.image)  # NaN too
    table = multimodal.trained.rec.item_table().numpy()
    assert np.allclose(read.item_vectors, table)
    trained = multimodal.trained.rec.model.state_dict()
    fusion = {k: v for k, v in read.model.state_dict().items()
              if k.startswith("item_tower.fusion.")}  # gates, projections, statistics
    assert fusion and all(torch.equal(v, trained[k]) for k, v in fusion.items())


def test_serving_encodes_a_new_item_with_and_without_its_modalities(
        multimodal: Multimodal) -> None:
    served = load_artifact(multimodal.trained.directory)
    assert isinstance(served, LoadedShelfModel) and served.vector_modalities == {"image": 4}
    saved = served.item_vectors[COLD_ITEM]  # no training events: content alone
    with_image = served.encode_items(_rows([COLD_ITEM], multimodal.image))[0]
    assert np.allclose(with_image, saved, atol=1e-4)
    without = served.encode_items(_rows([COLD_ITEM], None))[0]
    assert np.isfinite(without).all() and not np.allclose(without, saved, atol=1e-3)
    # An item that lacks the image encodes the same with the column or without.
    assert np.allclose(served.encode_items(_rows([NO_IMAGE_ITEM], None)),
                       served.encode_items(_rows([NO_IMAGE_ITEM], multimodal.image)), atol=1e-6)


def test_another_catalog_keeps_the_saved_images(multimodal: Multimodal) -> None:
    served = load_artifact(multimodal.trained.directory)
    own = served.catalog.items
    changed = own.iloc[[COLD_ITEM]].assign(title=["an eye cream, renamed"])
    moved = served.on_catalog(Catalog.from_frame(pd.concat([own.iloc[[0]], changed])))
    renamed = changed.assign(**{VECTORS_COLUMN: [{"image": multimodal.image[COLD_ITEM]}]})
    assert np.allclose(moved.item_vectors[1], served.encode_items(renamed)[0], atol=1e-5)
    np.testing.assert_array_equal(moved.artifact.modality_inputs["image"],
                                  multimodal.image[[0, COLD_ITEM]])


def test_a_missing_inputs_file_is_refused(multimodal: Multimodal, tmp_path: Path) -> None:
    copy = shutil.copytree(multimodal.trained.directory, tmp_path / "copy")
    (copy / MODALITIES).unlink()
    with pytest.raises(ValueError, match="modalities.safetensors is missing"):
        read_artifact(copy)
