"""How an item's text reaches the language model: the item template and the EncoderConfig an
artifact's text vectors were made with, and those vectors (the free-text search space)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.schema import Catalog
from shelflm.encoders.config import DEFAULT_MODEL, EncoderConfig
from shelflm.text.templates import ItemTemplate, render_catalog


@dataclass(frozen=True)
class TextSettings:
    """How item and query text reach the LM: the item template format and the EncoderConfig
    the text vectors were made with (serving encodes queries and new items exactly so)."""

    item_format: str = "{title}"  # ItemTemplate format string rendered per catalog row
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def template(self) -> ItemTemplate:
        """The ItemTemplate rendering catalog rows with `item_format`."""
        return ItemTemplate(name="artifact", format=self.item_format)

    def to_dict(self) -> dict:
        """config.json's "text": {"item_format": ..., "encoder": {EncoderConfig fields}}."""
        return {"item_format": self.item_format, "encoder": asdict(self.encoder)}

    @classmethod
    def from_dict(cls, data: dict) -> TextSettings:
        """Read `to_dict` output, or an older artifact's language_model / max_tokens /
        normalize (mean pooling was then the only one)."""
        if "encoder" in data:
            return cls(data.get("item_format", "{title}"), EncoderConfig(**data["encoder"]))
        encoder = EncoderConfig(model=data.get("language_model", DEFAULT_MODEL),
                                max_length=data.get("max_tokens", 64),
                                normalize=data.get("normalize", True), pooling="mean")
        return cls(data.get("item_format", "{title}"), encoder)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as torch's F.normalize does."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def item_text_vectors(items: pd.DataFrame, text: TextSettings,
                      base_dir: Path | None = None) -> np.ndarray:
    """(n, d_text) unit LM vectors of catalog rows' rendered text: the free-text search space."""
    # Deferred: the encoder imports torch, which the serving engine must not need.
    from shelflm.encoders.encode import TextEncoder

    texts = render_catalog(Catalog.from_frame(items, "items"), text.template())
    # Always unit length: search ranks by cosine whatever the tower's input normalisation.
    return unit_rows(TextEncoder(text.encoder, base_dir).encode(list(texts)))
