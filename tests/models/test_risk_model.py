"""The risk model: calibrated on real shoppers, it flags a bot with the reasons, marks a
user with too few events as such, loads back to the same scores, and learns from labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashing_model import HashingModel
from risk_shop import burst_bot, shoppers
from serving.conftest import tiny_catalog
from shelflm.models.risk import RiskModel, score_users
from shelflm.models.risk_config import RiskConfig
from shelflm.models.risk_signals import ModelView
from shelflm.training.risk import fit_risk


@pytest.fixture(scope="module")
def shop() -> tuple:
    catalog = tiny_catalog()
    view = ModelView.of(HashingModel(catalog, dim=64))
    ids = catalog.items["item_id"].tolist()
    return catalog, view, ids, shoppers(ids, 80)


@pytest.fixture(scope="module")
def fitted(shop: tuple) -> RiskModel:
    catalog, view, _, events = shop
    return fit_risk(events, catalog, view, RiskConfig(trees=100))


def test_a_bot_is_flagged_with_its_reasons(shop: tuple, fitted: RiskModel) -> None:
    _, view, ids, _ = shop
    new = pd.concat([burst_bot("bot", ids), shoppers(ids, 20, seed=9)])
    scores = {s.user_id: s for s in score_users(fitted, new, view)}
    bot = scores["bot"]
    assert bot.flagged and bot.score == 1.0 and bot.status == "ok"
    assert {"peak_per_minute", "gap_median"} & {r["feature"] for r in bot.reasons}
    assert all(r["share"] >= 0.95 and r["text"] for r in bot.reasons)
    humans = [s for u, s in scores.items() if u != "bot"]
    assert sum(s.flagged for s in humans) <= 2  # a 0.99 threshold: about 1% of real shoppers


def test_calibration_flags_the_configured_share_of_training_shoppers(shop: tuple,
                                                                     fitted: RiskModel) -> None:
    risk = fitted.risk(fitted.calibration.features)
    assert risk.min() >= 0 and risk.max() == 1.0
    assert np.mean(risk >= 0.9) == pytest.approx(0.1, abs=0.03)


def test_too_few_events_is_insufficient_data(shop: tuple, fitted: RiskModel) -> None:
    _, view, ids, _ = shop
    few = burst_bot("new", ids, events=3)
    (s,) = score_users(fitted, few, view)
    assert s.score is None and not s.flagged and s.status == "insufficient_data"
    assert s.events == 3


def test_saved_and_loaded_scores_the_same(shop: tuple, fitted: RiskModel,
                                          tmp_path: Path) -> None:
    _, view, ids, _ = shop
    new = pd.concat([burst_bot("bot", ids), shoppers(ids, 10, seed=4)])
    loaded = RiskModel.load(fitted.save(tmp_path / "risk"))
    assert [s.to_dict() for s in score_users(loaded, new, view)] == \
        [s.to_dict() for s in score_users(fitted, new, view)]
    assert loaded.feature_names == fitted.feature_names
    assert not list(tmp_path.rglob("*.pkl"))


def test_a_folder_that_is_not_a_risk_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a shelflm risk model"):
        RiskModel.load(tmp_path)


def test_labels_train_a_supervised_detector(shop: tuple) -> None:
    catalog, view, ids, events = shop
    bots = pd.concat([burst_bot(f"bot{k}", ids, 40 + 10 * k) for k in range(6)])
    labels = pd.Series({**{f"bot{k}": 1 for k in range(6)}, **{f"u{u}": 0 for u in range(30)}})
    model = fit_risk(pd.concat([events, bots]), catalog, view, RiskConfig(trees=50,
                                                                          threshold=0.5),
                     labels=labels)
    assert model.supervised
    scores = {s.user_id: s for s in score_users(model, pd.concat(
        [burst_bot("bot9", ids, 70), shoppers(ids, 5, seed=11)]), view)}
    assert scores["bot9"].score > 0.5 and scores["bot9"].flagged
    assert max(s.score for u, s in scores.items() if u != "bot9") < 0.5


@pytest.mark.parametrize("bad", [{"threshold": 0.0}, {"threshold": 1.5},
                                 {"min_events": 10, "window": 5}, {"positions": -1}])
def test_bad_settings_name_the_field(bad: dict) -> None:
    with pytest.raises(ValueError, match="RiskConfig"):
        RiskConfig(**bad)


def test_a_users_score_does_not_depend_on_who_else_is_scored(shop: tuple,
                                                            fitted: RiskModel) -> None:
    _, view, ids, _ = shop
    bots = pd.concat([burst_bot(f"bot{k}", ids, 60 + k) for k in range(30)])
    together = {s.user_id: s.score for s in score_users(fitted, bots, view)}
    (alone,) = score_users(fitted, burst_bot("bot3", ids, 63), view)
    assert alone.flagged and together["bot3"] == alone.score
    assert all(score >= fitted.config.threshold for score in together.values())


def test_loading_with_another_detector_calibrates_it_anew(shop: tuple, fitted: RiskModel,
                                                          tmp_path: Path) -> None:
    _, view, ids, _ = shop
    other = RiskModel.load(fitted.save(tmp_path / "risk"),
                           RiskConfig(detector="iforest", trees=50))
    (bot,) = score_users(other, burst_bot("bot", ids), view)
    assert other.config.detector == "iforest" and bot.score > 0.9
