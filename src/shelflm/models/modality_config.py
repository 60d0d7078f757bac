"""Config of one extra item modality besides the rendered text (torch-free).

An item may carry, next to its text, vectors of another modality (image embeddings made by
any encoder, supplied as a file of item id -> vector), numeric attributes (price, rating)
and a long second text (reviews, tags). `ItemTowerConfig.modalities` lists them; the item
tower fuses each through a learned gate (models/modality_fusion.py), and an item without one
gets no contribution from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import ConfigDict

MODALITY_KINDS: tuple[str, ...] = ("vector", "text", "numeric")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass
class ModalityConfig:
    """One extra input of the item tower, fused with the text part by a learned gate."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    name: str = field(default="", metadata={
        "help": "Lower-case name ([a-z][a-z0-9_]*, at most 32): the key of a vector "
                "modality in PUT /items' `vectors` and in the artifact's files."})
    kind: str = field(default="vector", metadata={
        "help": "'vector': per-item vectors from a file (e.g. image embeddings); 'text': a "
                "second text field encoded by the same LM on its own; 'numeric': numbers "
                "standardised on the training catalog, with a missing indicator each."})
    source: str = field(default="", metadata={
        "help": "vector: the file of item id -> vector (CSV/TSV, .npz or .jsonl; read when "
                "training only); text: a catalog column (description) or a key of the "
                "attributes JSON (tags, reviews); numeric: unused."})
    fields: tuple[str, ...] = field(default=(), metadata={
        "help": "numeric: catalog columns (price) or attributes JSON keys (rating) read as "
                "numbers; a missing or non-numeric value is missing."})
    log_fields: tuple[str, ...] = field(default=("price",), metadata={
        "help": "numeric: the fields read as log1p(max(x, 0)) before standardising "
                "(long-tailed, price-like); fields not in `fields` are ignored."})
    width: int = field(default=0, metadata={
        "help": "Input width: vector: the file's (0 = taken from it when training); text: "
                "the LM's (set when training); numeric: len(fields). The artifact records it."})

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name or ""):
            raise ValueError(f"ModalityConfig: name {self.name!r} must match "
                             f"{NAME_PATTERN.pattern}")
        if self.kind not in MODALITY_KINDS:
            raise ValueError(f"ModalityConfig {self.name}: kind {self.kind!r} is not one of "
                             f"{MODALITY_KINDS}")
        self.fields, self.log_fields = tuple(self.fields), tuple(self.log_fields)
        if self.width < 0:
            raise ValueError(f"ModalityConfig {self.name}: width must be >= 0, got {self.width}")
        if self.kind == "numeric":
            if not self.fields or len(set(self.fields)) != len(self.fields):
                raise ValueError(f"ModalityConfig {self.name}: numeric needs distinct `fields`,"
                                 f" got {self.fields}")
            if self.width not in (0, len(self.fields)):
                raise ValueError(f"ModalityConfig {self.name}: width {self.width} != "
                                 f"{len(self.fields)} fields")
            self.width = len(self.fields)
        elif self.kind == "text" and not self.source:
            raise ValueError(f"ModalityConfig {self.name}: a text modality needs `source`, "
                             "the catalog column or attributes key it reads")
        elif self.kind == "vector" and not (self.source or self.width):
            raise ValueError(f"ModalityConfig {self.name}: a vector modality needs `source` "
                             "(its file) or `width`")

    @property
    def logged(self) -> tuple[bool, ...]:
        """Per numeric field: read as log1p."""
        return tuple(f in self.log_fields for f in self.fields)


def parse_modality(spec: str) -> ModalityConfig:
    """A modality from the command line: NAME=vector:FILE, NAME=text:FIELD or
    NAME=numeric:FIELD,FIELD (price read as log1p; other log fields: the config file)."""
    name, eq, rest = spec.partition("=")
    kind, colon, source = rest.partition(":")
    if not (eq and colon and source.strip()):
        raise ValueError(f"modality {spec!r}: expected NAME=KIND:SOURCE, e.g. image=vector:"
                         "images.npz, tags=text:tags or numbers=numeric:price,rating")
    name, kind, source = name.strip(), kind.strip(), source.strip()
    if kind == "numeric":
        fields = tuple(p.strip() for p in source.split(",") if p.strip())
        return ModalityConfig(name=name, kind=kind, fields=fields)
    return ModalityConfig(name=name, kind=kind, source=source)
