"""Configs of a training run: optimisation, adversarial perturbation, augmentation (torch-free).

They live apart from the trainer and the losses so that loading a run config
(`shelflm.settings`) never imports torch; `trainer.py`, `adversarial.py` and `augment.py`
use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import ConfigDict

from shelflm.models.cross_config import CrossEncoderConfig
from shelflm.text.history import HistoryTextConfig

# The ranking losses `shelflm.training.losses.build_ranking_loss` knows, by name.
RANKING_LOSSES: tuple[str, ...] = ("full_softmax", "sampled_softmax", "bpr")
TRAIN_ONLY = ("all", "adaptor")  # which weights train (TrainConfig.train_only)


@dataclass
class AdversarialConfig:
    """Which perturbation, where, how large, and how much its loss counts."""

    # Unknown keys in a config file are errors, not silently ignored.
    __pydantic_config__ = ConfigDict(extra="forbid")

    method: Literal["none", "fgm", "pgd"] = field(default="none", metadata={
        "help": "fgm, pgd, or none (adversarial training off)."})
    target: Literal["inputs", "representations"] = field(default="inputs", metadata={
        "help": "Perturb the input item vectors, or the scored user and item vectors (APR)."})
    epsilon: float = field(default=0.5, metadata={
        "help": "L2 radius of the perturbation, per vector (row)."})
    weight: float = field(default=1.0, metadata={
        "help": "The adversarial loss is added as weight * loss(perturbed)."})
    pgd_steps: int = field(default=3, metadata={"help": "PGD iterations."})
    pgd_alpha: float | None = field(default=None, metadata={
        "help": "PGD step size; None = epsilon / pgd_steps * 1.5."})

    def __post_init__(self) -> None:
        if self.method not in ("none", "fgm", "pgd"):
            raise ValueError(f"AdversarialConfig: unknown method {self.method!r}")
        if self.target not in ("inputs", "representations"):
            raise ValueError(f"AdversarialConfig: unknown target {self.target!r}")
        if self.epsilon <= 0 or self.weight < 0 or self.pgd_steps < 1:
            raise ValueError(f"AdversarialConfig: epsilon > 0, weight >= 0, pgd_steps >= 1; "
                             f"got {self}")

    @property
    def enabled(self) -> bool:
        """True when a perturbation is applied."""
        return self.method != "none" and self.weight > 0


@dataclass
class AugmentConfig:
    """Contrastive auxiliary task: which augmentations, how strong, how much it counts."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    weight: float = field(default=0.0, metadata={
        "help": "Contrastive loss weight; 0 switches augmentation off."})
    crop_ratio: float = field(default=0.6, metadata={
        "help": "Share of the sequence kept by crop (a contiguous span)."})
    mask_ratio: float = field(default=0.3, metadata={
        "help": "Share of items replaced by the mask token."})
    reorder_ratio: float = field(default=0.3, metadata={
        "help": "Share of the sequence (a span) shuffled."})
    temperature: float = field(default=0.5, metadata={"help": "InfoNCE temperature."})

    def __post_init__(self) -> None:
        for name in ("crop_ratio", "mask_ratio", "reorder_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"AugmentConfig: {name} must be in [0, 1], got "
                                 f"{getattr(self, name)}")
        if self.weight < 0 or self.temperature <= 0:
            raise ValueError(f"AugmentConfig: weight >= 0 and temperature > 0; got {self}")


@dataclass
class TrainConfig:
    """Optimisation, stopping and regularisation of one training run."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    epochs: int = field(default=200, metadata={
        "help": "Upper bound; early stopping usually ends sooner."})
    batch_size: int = field(default=128, metadata={"help": "Users per step."})
    lr: float = field(default=2e-3, metadata={
        "help": "Adam learning rate (Beauty: 2e-3 reaches its best in ~10 epochs)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW decoupled weight decay."})
    id_lr_scale: float = field(default=10.0, metadata={
        "help": "ID embeddings learn this much faster (each item is seen rarely)."})
    lm_lr: float | None = field(default=None, metadata={
        "help": "Learning rate of a PEFT tuner's weights (None: lr); full fine-tuning of the "
                "language model needs a far smaller one than the towers."})
    loss: str = field(default="full_softmax", metadata={
        "help": f"Ranking loss, one of {', '.join(RANKING_LOSSES)}."})
    num_negatives: int = field(default=256, metadata={"help": "For sampled_softmax."})
    seen_negatives_only: bool = field(default=True, metadata={
        "help": "Only items with training events serve as softmax negatives: the others never "
                "occur as targets, so the loss would only push their text vectors down (cold "
                "items buried)."})
    patience: int = field(default=5, metadata={
        "help": "Evaluations without a validation NDCG@10 gain before stopping."})
    eval_every: int = field(default=1, metadata={
        "help": "Epochs between validation evaluations."})
    seed: int = field(default=0, metadata={"help": "Seeds torch and the batch order."})
    max_valid_cases: int | None = field(default=None, metadata={
        "help": "Evaluate on a fixed random subset (faster stopping)."})
    evaluate_test: bool = field(default=False, metadata={
        "help": "Also log test metrics each evaluation (for learning curves)."})
    time_budget_s: float | None = field(default=None, metadata={
        "help": "Stop after this much training time."})
    device: str = field(default="cpu", metadata={
        "help": "Torch device for training and scoring ('cuda' where one exists)."})
    text_only_weight: float = field(default=0.0, metadata={
        "help": "Weight of a second loss computed with text-only item vectors (no ID part): "
                "it trains the text path to rank on its own, which is all a cold item has "
                "(0 = off)."})
    lm_refresh_steps: int = field(default=0, metadata={
        "help": "With a fine-tuned LM ([tuning]) and a full-table loss: item vectors come from "
                "a cache recomputed every this many steps, and only `lm_rows` of them per "
                "step (the batch's targets, then random items) run through the LM with "
                "gradients (0 = the LM encodes the whole catalog every step)."})
    lm_rows: int = field(default=256, metadata={
        "help": "Items re-encoded with gradients per step when lm_refresh_steps > 0."})
    init_from: str | None = field(default=None, metadata={
        "help": "Artifact directory to start from (transfer to another shop): every weight "
                "whose name and shape match is copied (user tower, text head); ID embeddings "
                "start fresh, the catalog being another one."})
    train_only: str = field(default="all", metadata={
        "help": "'all', or 'adaptor': only the text head over the frozen LM vectors (or the "
                "PEFT tuner's weights) and the ID part train; the user tower keeps its "
                "initial weights (with init_from: parameter-efficient transfer)."})
    init_items: bool = field(default=False, metadata={
        "help": "With init_from: also carry the artifact's per-item weights (ID rows) to the "
                "items with the same id: an update of the same shop (`shelflm update`)."})
    distill_weight: float = field(default=0.0, metadata={
        "help": "With init_from: weight of the KL from that artifact's next-item "
                "distribution to this model's at every position, so an update keeps what "
                "the previous model knew (`shelflm update`)."})
    replay_events: int = field(default=20_000, metadata={
        "help": "Events of chosen exemplar sequences saved with the artifact, replayed by "
                "`shelflm update` (0: none)."})
    log_path: str | None = field(default=None, metadata={
        "help": "JSON lines, one record per epoch."})
    progress: bool = field(default=True, metadata={
        "help": "Rich progress bar with live loss and metric."})
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig, metadata={
        "help": "Adversarial perturbation (FGM / PGD) as a regulariser."})
    augment: AugmentConfig = field(default_factory=AugmentConfig, metadata={
        "help": "Contrastive sequence augmentation (CL4SRec-style)."})

    def __post_init__(self) -> None:
        if isinstance(self.adversarial, dict):
            self.adversarial = AdversarialConfig(**self.adversarial)
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if self.lm_refresh_steps < 0 or self.lm_rows < 1:
            raise ValueError(f"TrainConfig: lm_refresh_steps >= 0 and lm_rows >= 1, got "
                             f"{self.lm_refresh_steps} and {self.lm_rows}")
        if self.train_only not in TRAIN_ONLY:
            raise ValueError(f"TrainConfig: train_only {self.train_only!r} not in {TRAIN_ONLY}")
        if self.loss not in RANKING_LOSSES:
            raise ValueError(f"TrainConfig: loss {self.loss!r} not in {RANKING_LOSSES}")
        if (self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 1
                or self.id_lr_scale <= 0 or self.text_only_weight < 0
                or self.distill_weight < 0 or self.replay_events < 0
                or (self.lm_lr is not None and self.lm_lr <= 0)):
            raise ValueError(f"TrainConfig: epochs, batch_size, patience >= 1, lr > 0, loss "
                             f"weights and replay_events >= 0; "
                             f"got {self}")


@dataclass
class CrossTrainConfig:
    """How the cross-encoder is fitted."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    epochs: int = field(default=10, metadata={"help": "Passes over the training cases."})
    batch_size: int = field(default=16, metadata={"help": "Cases per step."})
    lr: float = field(default=5e-4, metadata={"help": "Learning rate of the LM part (LoRA)."})
    head_lr: float = field(default=5e-3, metadata={"help": "Learning rate of the heads."})
    rating_weight: float = field(default=0.1, metadata={
        "help": "Weight of the rating head's MSE beside the like head's BCE (0: off)."})
    dev_fraction: float = field(default=0.25, metadata={
        "help": "Share of the training cases held out to pick the epoch (0: keep the last)."})
    seed: int = field(default=0, metadata={"help": "Shuffling and initialisation."})

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.head_lr <= 0:
            raise ValueError(f"CrossTrainConfig: sizes and rates must be positive, got {self}")
        if not 0 <= self.dev_fraction < 1:
            raise ValueError(f"CrossTrainConfig: dev_fraction must be in [0, 1), got "
                             f"{self.dev_fraction}")


def _ranker_model() -> CrossEncoderConfig:
    # A reranker reads N pairs per request: short inputs (the last 5 titles, the
    # candidate's first 120 characters) by default.
    return CrossEncoderConfig(max_length=128, candidate_chars=120,
                              history=HistoryTextConfig(last_k=5))


@dataclass
class RankerConfig:
    """`shelflm train --model cross-encoder`: a second stage over a retrieval artifact's top
    N, learned on the split's validation cases (training/rerank.py)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    model: CrossEncoderConfig = field(default_factory=_ranker_model, metadata={
        "help": "The cross-encoder (its prior is retrieval's standardised score)."})
    training: CrossTrainConfig = field(default_factory=lambda: CrossTrainConfig(epochs=3),
                                       metadata={"help": "How it is fitted."})
    candidates: int = field(default=50, metadata={
        "help": "Retrieval's top N that the negatives are drawn from (and that `shelflm "
                "evaluate` reranks)."})
    negatives: int = field(default=3, metadata={
        "help": "Negatives per validation case, drawn from its top N."})
    cases: int = field(default=2000, metadata={
        "help": "Most validation cases trained on, of those whose target is in retrieval's "
                "top N (a random draw; each makes 1 + negatives pairs)."})

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = CrossEncoderConfig(**self.model)
        if isinstance(self.training, dict):
            self.training = CrossTrainConfig(**self.training)
        if self.candidates < 2 or self.negatives < 1 or self.cases < 1:
            raise ValueError(f"RankerConfig: candidates >= 2, negatives >= 1 and cases >= 1 "
                             f"needed, got {self.candidates}, {self.negatives}, {self.cases}")
