"""Transfer to another shop: start from an artifact's weights, train only the adaptor.

The item vectors of a text model come from the frozen LM's vectors through a small text
head (the adaptor; a PEFT tuner where one was used) plus optional IDs, and the user tower
reads those vectors. `init_from_artifact` copies a trained model's user tower and text head
into a model built for a new catalog; `train_only_adaptor` freezes everything but the text
path and the ID part, so only a few percent of the weights learn the new shop.
"""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from shelflm.models.artifact import WEIGHTS

# Per-item weights belong to the source catalog, whatever their shapes.
_PER_ITEM = ("item_tower.id_embedding.weight", "item_tower.has_id")
_ADAPTOR = ("item_tower.text_head.", "item_tower.tuner_proj.", "item_tower.id_embedding.",
            "item_tower.fusion.")


def init_from_artifact(model: nn.Module, directory: str | Path) -> list[str]:
    """Copy the artifact's weights whose names and shapes match `model`'s (not per-item
    ones); returns the copied names. ValueError when nothing matches (another design)."""
    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise ValueError(f"init_from: {directory} is not a shelflm artifact (no {WEIGHTS})")
    own = model.state_dict()
    copied = {name: value for name, value in load_file(str(path)).items()
              if name in own and name not in _PER_ITEM and own[name].shape == value.shape}
    if not copied:
        raise ValueError(f"init_from: no weight of {directory} fits this model (another "
                         "hidden size or item tower design?)")
    model.load_state_dict(copied, strict=False)
    return sorted(copied)


def train_only_adaptor(model: nn.Module) -> None:
    """Freeze every weight but the text path and the ID part."""
    for name, param in model.named_parameters():
        if not name.startswith("item_tower.tuner."):  # a tuner keeps its own (LM frozen)
            param.requires_grad_(name.startswith(_ADAPTOR))


def trainable_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) weights of `model`."""
    params = list(model.parameters())
    return (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
