"""The cross-encoder: pairs tokenised within the budget (cuts counted), the like-rate prior
as its starting point, and a fit that learns a text signal from a handful of cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from shelflm.data.pair_cases import like_logodds
from shelflm.encoders.lm import load_language_model
from shelflm.models.cross_config import CrossEncoderConfig
from shelflm.models.cross_encoder import CrossEncoder
from shelflm.text.history import PairTexts
from shelflm.training.config import CrossTrainConfig
from shelflm.training.cross_fit import evaluate_losses, fit_cross, predict_cross


def _model(**overrides: object) -> CrossEncoder:
    torch.manual_seed(0)
    tokenizer, lm = load_language_model()
    return CrossEncoder(CrossEncoderConfig(**overrides), tokenizer, lm)


def _pairs(n: int, seed: int) -> PairTexts:
    """Shoppers who liked hiking gear like hiking candidates and not kitchen ones; every
    history has the same liked share, so only the text can tell the cases apart."""
    rng = np.random.default_rng(seed)
    hikes = rng.random(n) < 0.5
    liked = rng.random(n) < 0.5
    match = hikes == liked  # a hiker's liked candidate is hiking gear
    candidates = ["trekking poles" if m else "kitchen knife" for m in match]
    histories = ["Liked: hiking boots; rain jacket." if h else "Liked: frying pan; whisk."
                 for h in hikes]
    return PairTexts(histories, candidates, like_logodds(np.ones((n, 2), bool)),
                     liked.astype(np.float32),
                     np.where(liked, 5.0, 2.0).astype(np.float32))


def test_the_prior_is_the_starting_score() -> None:
    history_liked = np.array([[True, True, False], [False, False, False]])
    assert np.allclose(like_logodds(history_liked), [np.log(3 / 2), np.log(1 / 4)])
    model = _model(tuning="head")
    data = _pairs(4, 0)
    data.prior = like_logodds(history_liked[[0, 1, 0, 1]])
    probs, _, _ = predict_cross(model, data)
    assert np.allclose(probs, 1 / (1 + np.exp(-data.prior)), atol=1e-6)


def test_long_pairs_are_cut_to_the_budget_and_counted() -> None:
    model = _model(max_length=16, tuning="head")
    batch, cut = model.tokenize(["Liked: " + "a very long title; " * 20, "Liked: x."],
                                ["boots", "poles"])
    assert batch["input_ids"].shape[1] <= 16 and cut == 1
    with pytest.raises(ValueError, match="candidates"):
        model.tokenize(["a"], ["b", "c"])


@pytest.mark.slow
def test_lora_learns_a_text_signal_from_a_few_cases() -> None:
    model = _model(tuning="lora")
    assert 0 < sum(p.numel() for p in model.trainable()) < 0.05 * sum(
        p.numel() for p in model.parameters())
    train, test = _pairs(32, 1), _pairs(64, 2)
    before = roc_auc_score(test.liked, predict_cross(model, test)[0])
    report = fit_cross(model, train, CrossTrainConfig(epochs=6, batch_size=8, dev_fraction=0))
    after = roc_auc_score(test.liked, predict_cross(model, test)[0])
    assert before == pytest.approx(0.5) and after > 0.9
    losses = [e["train_bce"] for e in report["epochs"]]
    assert losses[-1] < losses[0] and evaluate_losses(model, test)["bce"] < 0.6


def test_the_start_is_kept_when_no_epoch_beats_it_on_the_dev_cases() -> None:
    model = _model(tuning="head")
    data = _pairs(16, 7)
    start = predict_cross(model, data)[0]
    report = fit_cross(model, _pairs(32, 8), CrossTrainConfig(epochs=2, batch_size=8,
                                                                 head_lr=1e4))  # it blows up
    assert report["best_epoch"] == 0 and len(report["epochs"]) == 2
    assert all(e["dev_bce"] > 1 for e in report["epochs"])
    assert np.allclose(predict_cross(model, data)[0], start)


@pytest.mark.slow
@pytest.mark.parametrize("tuning", ["lora", "head"])
def test_an_artifact_reads_back_the_same_model(tmp_path, tuning: str) -> None:
    from shelflm.models.cross_artifact import read_cross_encoder, save_cross_encoder

    model = _model(tuning=tuning)
    fit_cross(model, _pairs(16, 3), CrossTrainConfig(epochs=1, batch_size=8))
    data = _pairs(8, 4)
    want = predict_cross(model, data)
    out = save_cross_encoder(model, tmp_path / "ce", "{title}", {"run": {"seed": 0}})
    again, config = read_cross_encoder(out)
    got = predict_cross(again, data)
    assert np.allclose(got[0], want[0], atol=1e-5) and np.allclose(got[1], want[1], atol=1e-4)
    assert config["model"]["base_model"] == "default" and config["run"] == {"seed": 0}
    (out / "config.json").unlink()  # as a killed save leaves it
    with pytest.raises(FileNotFoundError, match="not a shelflm cross-encoder"):
        read_cross_encoder(out)


@pytest.mark.slow
def test_the_onnx_export_scores_as_pytorch_does(tmp_path) -> None:
    from shelflm.models.cross_onnx import OnnxCrossEncoder, export_cross_encoder
    from shelflm.training.cross_fit import onnx_parity

    model = _model(tuning="lora")
    fit_cross(model, _pairs(16, 5), CrossTrainConfig(epochs=2, batch_size=8))
    path = export_cross_encoder(model, tmp_path / "ce.onnx")
    scorer = OnnxCrossEncoder(path, model)
    data = _pairs(12, 6)
    data.histories[0] = "Liked: " + "a long title; " * 40  # longer than any export input
    assert onnx_parity(model, scorer, data) < 1e-4
    assert np.allclose(predict_cross(scorer, data)[1], predict_cross(model, data)[1], atol=1e-3)
