"""Config of the cross-encoder ranker (torch-free, like models/config.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pydantic import ConfigDict

from shelflm.encoders.config import DEFAULT_MODEL
from shelflm.text.history import HistoryTextConfig

TUNINGS = ("lora", "head", "full")


@dataclass
class CrossEncoderConfig:
    """A language model over "history text [SEP] candidate text" with a like head (BCE) and a
    rating head (MSE)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    base_model: str = field(default=DEFAULT_MODEL, metadata={
        "help": "Local Hugging Face model directory ('default' = the bundled "
                "all-MiniLM-L6-v2); an artifact records it relative to itself."})
    max_length: int = field(default=256, metadata={
        "help": "Tokens of history + candidate; longer pairs are cut (the history's oldest "
                "items first) and counted."})
    candidate_chars: int = field(default=300, metadata={
        "help": "The candidate's text cut to this many characters before tokenising."})
    tuning: str = field(default="lora", metadata={
        "help": "'lora' (peft LoRA on the attention projections), 'head' (the LM frozen) or "
                "'full'."})
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA path."})
    prior: bool = field(default=True, metadata={
        "help": "The like head adds a learned weight (starting at 1) times a first-stage "
                "log-odds of each case: the history's share of liked events for like "
                "cases (who likes most things likes the next one more often), retrieval's "
                "standardised score when reranking."})
    history: HistoryTextConfig = field(default_factory=HistoryTextConfig, metadata={
        "help": "How the shopper's history becomes the first segment's text."})

    def __post_init__(self) -> None:
        if isinstance(self.history, dict):
            self.history = HistoryTextConfig(**self.history)
        if self.tuning not in TUNINGS:
            raise ValueError(f"CrossEncoderConfig: tuning must be one of {TUNINGS}, got "
                             f"{self.tuning!r}")
        if self.max_length < 8 or self.candidate_chars < 1 or self.lora_rank < 1:
            raise ValueError("CrossEncoderConfig: max_length >= 8, candidate_chars >= 1 and "
                             f"lora_rank >= 1 needed, got {self.max_length}, "
                             f"{self.candidate_chars}, {self.lora_rank}")

    def to_dict(self) -> dict:
        """JSON-ready (an artifact's config.json)."""
        return asdict(self)
