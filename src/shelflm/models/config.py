"""Configs of the user tower, the item tower and the model that joins them (torch-free).

They live apart from the torch modules that use them (`sequence.py`, `item_tower.py`,
`shelf_model.py`) so that loading a run config (`shelflm.settings`) never imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pydantic import ConfigDict

from shelflm.data.schema import EVENT_TYPES
from shelflm.models.modality_config import ModalityConfig


@dataclass
class SequenceEncoderConfig:
    """Shape and regularisation of the user tower."""

    # Unknown keys in a config file are errors, not silently ignored.
    __pydantic_config__ = ConfigDict(extra="forbid")

    hidden: int = field(default=64, metadata={
        "help": "Width of item vectors, attention and the user vector."})
    num_blocks: int = field(default=2, metadata={"help": "Transformer blocks."})
    num_heads: int = field(default=1, metadata={
        "help": "Attention heads; must divide `hidden`."})
    max_len: int = field(default=50, metadata={
        "help": "Most recent events kept; older ones are cut off."})
    dropout: float = field(default=0.5, metadata={
        "help": "On embeddings, attention and MLP (high values suit sparse shops)."})
    num_event_types: int = field(default=len(EVENT_TYPES), metadata={
        "help": "Event-type vocabulary (view, click, ...)."})

    def __post_init__(self) -> None:
        if self.hidden <= 0 or self.num_blocks <= 0 or self.num_heads <= 0 or self.max_len <= 0:
            raise ValueError(f"SequenceEncoderConfig: sizes must be positive, got {self}")
        if self.hidden % self.num_heads:
            raise ValueError(
                f"SequenceEncoderConfig: hidden={self.hidden} is not divisible by "
                f"num_heads={self.num_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"SequenceEncoderConfig: dropout must be in [0, 1), got {self.dropout}"
            )


@dataclass
class ItemTowerConfig:
    """Which parts make an item vector, and how the ID part is regularised."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    hidden: int = field(default=64, metadata={
        "help": "Output width; must equal the user tower's hidden size."})
    use_text: bool = field(default=True, metadata={
        "help": "LM vectors through the text head (False: the SASRec-ID baseline)."})
    use_id: bool = field(default=True, metadata={
        "help": "Add a learned ID embedding for items with training interactions."})
    id_dropout: float = field(default=0.1, metadata={
        "help": "Chance, per training lookup, of hiding the ID part (cold-start drill)."})
    whiten: bool = field(default=True, metadata={
        "help": "Decorrelate LM vectors (PCA whitening) before the linear head."})
    head: str = field(default="linear", metadata={
        "help": "Text head: 'linear' (fixed PCA whitening + one linear map) or 'moe' "
                "(UniSRec's mixture of `experts` learned whitenings (x - b_k) W_k, mixed by a "
                "softmax gate over x: nothing fitted to one catalog's statistics)."})
    experts: int = field(default=8, metadata={"help": "Experts of the 'moe' head."})
    id_gate: float = field(default=0.0, metadata={
        "help": "Evidence gate on the ID part: an item with n training events gets "
                "n / (n + id_gate) of its ID embedding, so rank among items with little "
                "evidence is decided by text (0: the whole ID for every item with events)."})
    cold_id_neighbours: int = field(default=0, metadata={
        "help": "Scoring only: an item without training events borrows the mean ID embedding "
                "of its k nearest trained items by LM text vector, so it competes with warm "
                "items on the same footing instead of with a text part alone (0 = text only)."})

    graph: float = field(default=0.0, metadata={
        "help": "Knowledge-graph fusion (models/item_graph.py): weight of an item's graph "
                "neighbours in its LM input, the items of its category path and brand and "
                "those next to it in training sequences (0 = off)."})
    graph_cooccurrence: int = field(default=10, metadata={
        "help": "With graph > 0: how many co-occurring items count as neighbours (0: the "
                "catalog's attributes only)."})
    graph_links: tuple[str, ...] = field(default=(), metadata={
        "help": "With graph > 0: keys of an item's `attributes` JSON that list related item "
                "ids (e.g. [\"complements\", \"substitutes\"]); each key is one more relation, "
                "and a new product's links count as soon as it is added."})
    modalities: tuple[ModalityConfig, ...] = field(default=(), metadata={
        "help": "Extra item inputs besides the text (ModalityConfig each: name, kind = "
                "vector | text | numeric, source, fields), each fused with the text part by "
                "a learned gate; an item without one gets nothing from it (none = text only)."})

    def __post_init__(self) -> None:
        # An artifact's config.json holds them as plain dicts.
        self.modalities = tuple(ModalityConfig(**m) if isinstance(m, dict) else m
                                for m in self.modalities)
        names = [m.name for m in self.modalities]
        if len(set(names)) != len(names):
            raise ValueError(f"ItemTowerConfig: modality names must be distinct, got {names}")
        if self.hidden <= 0:
            raise ValueError(f"ItemTowerConfig: hidden must be positive, got {self.hidden}")
        if not 0.0 <= self.graph < 1.0 or self.graph_cooccurrence < 0:
            raise ValueError("ItemTowerConfig: graph must be in [0, 1) and graph_cooccurrence "
                             f">= 0, got {self.graph} and {self.graph_cooccurrence}")
        if not (self.use_text or self.use_id):
            raise ValueError("ItemTowerConfig: at least one of use_text / use_id must be on")
        if self.head not in ("linear", "moe"):
            raise ValueError(f"ItemTowerConfig: head must be 'linear' or 'moe', got "
                             f"{self.head!r}")
        if self.experts <= 0 or self.id_gate < 0:
            raise ValueError("ItemTowerConfig: experts must be positive and id_gate >= 0, "
                             f"got {self.experts} and {self.id_gate}")
        if self.cold_id_neighbours < 0:
            raise ValueError("ItemTowerConfig: cold_id_neighbours must be >= 0, got "
                             f"{self.cold_id_neighbours}")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(
                f"ItemTowerConfig: id_dropout must be in [0, 1), got {self.id_dropout}"
            )


@dataclass
class ShelfModelConfig:
    """The two towers' configs; their hidden sizes must agree (inner-product scoring)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    sequence: SequenceEncoderConfig = field(default_factory=SequenceEncoderConfig, metadata={
        "help": "The user tower: causal self-attention over the behaviour sequence."})
    items: ItemTowerConfig = field(default_factory=ItemTowerConfig, metadata={
        "help": "The item tower: LM text vectors through a head, plus optional IDs."})

    def __post_init__(self) -> None:
        # An artifact's config.json holds the towers as plain dicts (see to_dict).
        if isinstance(self.sequence, dict):
            self.sequence = SequenceEncoderConfig(**self.sequence)
        if isinstance(self.items, dict):
            self.items = ItemTowerConfig(**self.items)
        if self.sequence.hidden != self.items.hidden:
            raise ValueError(
                f"ShelfModelConfig: user tower hidden={self.sequence.hidden} != item tower "
                f"hidden={self.items.hidden}"
            )

    def to_dict(self) -> dict:
        """Plain JSON-able dict (inverse: ShelfModelConfig(**d))."""
        return asdict(self)
