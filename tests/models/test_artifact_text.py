"""An artifact records the EncoderConfig its text vectors were made with, and serving encodes
queries and new items with exactly that config (here a non-default pooling)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.encode import encode
from shelflm.models.item_text import TextSettings
from shelflm.serving.runtime import load_artifact
from shelflm.text.templates import QueryTemplate
from tiny_artifact import COLD_ITEM, TinyTrained, train_tiny

CLS = EncoderConfig(pooling="cls", threads=1)


@pytest.fixture(scope="module")
def cls_trained(tmp_path_factory: pytest.TempPathFactory) -> TinyTrained:
    text = TextSettings(item_format="{title}", encoder=CLS)
    return train_tiny(tmp_path_factory.mktemp("cls") / "model", text=text)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_config_json_records_the_encoder(cls_trained: TinyTrained) -> None:
    text = json.loads((cls_trained.directory / "config.json").read_text())["text"]
    assert text["item_format"] == "{title}" and text["encoder"]["pooling"] == "cls"
    assert EncoderConfig(**text["encoder"]) == CLS


@pytest.mark.parametrize("runtime", ["pytorch", "onnx"])
def test_queries_and_new_items_use_the_recorded_pooling(cls_trained: TinyTrained, runtime: str,
                                                        tmp_path: Path) -> None:
    served = load_artifact(cls_trained.directory)
    served.use_text_encoder(runtime, tmp_path)
    assert served.text.encoder == CLS
    question = QueryTemplate().render("eye cream")
    query = served.encode_query("eye cream")
    assert served.text_encoder == runtime  # no silent fall-back
    assert _cos(query, encode([question], CLS)[0]) >= 0.99
    assert _cos(query, encode([question], replace(CLS, pooling="mean"))[0]) < 0.99
    cold = cls_trained.dataset.catalog.items.iloc[[COLD_ITEM]]
    assert _cos(served.encode_item_texts(cold)[0], served.text_vectors[COLD_ITEM]) >= 0.99
    # The cold item's stored retrieval vector came from its cls-pooled text alone.
    vec = served.encode_items(cold)
    if runtime == "pytorch":
        np.testing.assert_allclose(served.encode_item_texts(cold)[0],
                                   served.text_vectors[COLD_ITEM], atol=1e-5)
        np.testing.assert_allclose(vec[0], served.item_vectors[COLD_ITEM], atol=1e-4)
    else:
        assert _cos(vec[0], served.item_vectors[COLD_ITEM]) >= 0.99


def test_older_artifact_text_settings_still_load(tiny_trained: TinyTrained,
                                                 tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_trained.directory, old)
    config = json.loads((old / "config.json").read_text())
    config["text"] = {"item_format": "{title}", "language_model": "default", "max_tokens": 64,
                      "normalize": True}
    (old / "config.json").write_text(json.dumps(config))
    served = load_artifact(old)
    assert served.text.encoder == EncoderConfig(max_length=64, normalize=True, pooling="mean")
    question = QueryTemplate().render("eye cream")
    np.testing.assert_allclose(served.encode_query("eye cream"),
                               encode([question], EncoderConfig(max_length=64))[0], atol=1e-5)
