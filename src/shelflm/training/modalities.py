"""The extra modalities of a training run (ItemTowerConfig.modalities) made ready for the
item tower: vector files read and aligned with the catalog, second texts encoded by the
run's LM, numbers read; each modality's width is set from its data."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from shelflm.data.modality_files import load_modality_vectors
from shelflm.data.schema import Catalog
from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.encode import TextEncoder
from shelflm.models.config import ShelfModelConfig
from shelflm.models.modality_config import ModalityConfig
from shelflm.models.modality_inputs import modality_inputs, present_rows

log = logging.getLogger(__name__)


def prepare_modalities(catalog: Catalog, modalities: tuple[ModalityConfig, ...],
                       encoder: EncoderConfig) -> tuple[tuple[ModalityConfig, ...],
                                                        dict[str, np.ndarray]]:
    """(the modalities with their widths set, {name: (num_items, width) raw inputs})."""
    files = {}
    for m in modalities:
        if m.kind == "vector":
            read = load_modality_vectors(m.source, catalog.ids, m.width)
            for line in read.dropped.lines():
                log.info("modality %s (%s): %s", m.name, m.source, line)
            files[m.name] = read.aligned(catalog.ids)
    text_encoder = TextEncoder(encoder) if any(m.kind == "text" for m in modalities) else None
    inputs = modality_inputs(catalog.items, modalities,
                             text_encoder.encode if text_encoder else None, files)
    resolved = tuple(replace(m, width=int(inputs[m.name].shape[1])) for m in modalities)
    for m in resolved:
        log.info("modality %s (%s, width %d): %d of %d items have it", m.name, m.kind,
                 m.width, int(present_rows(inputs[m.name]).sum()), len(catalog))
    return resolved, inputs


def with_modalities(config: ShelfModelConfig, modalities: tuple[ModalityConfig, ...]
                    ) -> ShelfModelConfig:
    """`config` with the item tower's modalities replaced (their widths set)."""
    return replace(config, items=replace(config.items, modalities=modalities))
