"""Risk control while serving: a bot's events are scored as they arrive and quarantined (kept,
but counting for nobody else) in every worker; a release counts them again; the API answers
a user's risk with reasons, 404 for an unknown user and 'insufficient data' for a new one."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashing_model import HashingModel
from risk_shop import burst_bot, shoppers
from serving.conftest import tiny_catalog
from shelflm.models.risk_config import RiskConfig
from shelflm.models.risk_signals import ModelView
from shelflm.serving.config import ApiConfig, ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.app import create_app
from shelflm.serving.stage_config import RiskGuardConfig
from shelflm.serving.store import Event, make_store
from shelflm.training.risk import fit_risk

KEY = "admin-key"
IDS = tiny_catalog().items["item_id"].tolist()


@pytest.fixture(scope="module")
def risky_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hashing artifact whose risk/ folder was calibrated on 80 human-like shoppers."""
    from hashing_model import save_hashing_artifact

    model = HashingModel(tiny_catalog(), dim=64)
    folder = save_hashing_artifact(model, tmp_path_factory.mktemp("risky") / "artifact")
    fit_risk(shoppers(IDS, 80), model.catalog, ModelView.of(model),
             RiskConfig()).save(folder / "risk")
    return folder


def _engine(folder: Path, db: Path, **risk) -> Engine:
    config = ServingConfig(store=StoreConfig(path=db), risk_control=RiskGuardConfig(**risk))
    return Engine(HashingModel(tiny_catalog(), dim=64), make_store(config.store), config,
                  folder)


def _events(frame) -> list[Event]:
    return [Event(r.user_id, r.item_id, r.event, int(r.timestamp), r.value)
            for r in frame.itertuples()]


def _popularity(engine: Engine, item: str) -> float:
    engine.info()  # catches up with the store
    st = engine._state
    return float(st.items.popularity[st.items.slot(item)])


def test_a_bot_is_quarantined_in_every_worker_and_a_release_counts_it_again(
        risky_artifact: Path, tmp_path: Path) -> None:
    one, two = (_engine(risky_artifact, tmp_path / "events.db") for _ in range(2))
    one.ingest(_events(shoppers(IDS, 5, seed=3)))
    assert one.risk.quarantined() == []
    before = _popularity(two, "i19")
    one.ingest(_events(burst_bot("bot", IDS, 80)))
    assert [u["user_id"] for u in one.risk.quarantined()] == ["bot"]
    for engine in (one, two):  # the other worker follows the store's risk log
        assert engine.risk.state_of("bot")["quarantined"]
        assert _popularity(engine, "i19") == before  # the bot's 4 views of i19 count for none
    assert len(one.store.user_events("bot", 1000)) == 80  # kept, never deleted
    assert one.risk.release("bot")["released"]
    for engine in (one, two):
        assert _popularity(engine, "i19") == before + 4
        assert not engine.risk.state_of("bot")["quarantined"]
    one.ingest(_events(burst_bot("bot", IDS, 40, start=1_700_100_000)))
    assert not one.risk.state_of("bot")["quarantined"]  # released: not quarantined again
    restarted = _engine(risky_artifact, tmp_path / "events.db")
    assert _popularity(restarted, "i19") == before + 6


def test_a_quarantine_made_before_a_restart_holds(risky_artifact: Path,
                                                  tmp_path: Path) -> None:
    engine = _engine(risky_artifact, tmp_path / "events.db")
    before = _popularity(engine, "i0")
    engine.ingest(_events(burst_bot("bot", IDS, 80)))
    restarted = _engine(risky_artifact, tmp_path / "events.db")
    assert restarted.risk.state_of("bot")["quarantined"]
    assert _popularity(restarted, "i0") == before


def test_flag_only_counts_the_events(risky_artifact: Path, tmp_path: Path) -> None:
    engine = _engine(risky_artifact, tmp_path / "events.db", quarantine=False)
    engine.ingest(_events(burst_bot("bot", IDS, 80)))
    assert not engine.risk.state_of("bot")["quarantined"]
    assert engine.risk.stats()["flagged"] == 1
    assert _popularity(engine, "i0") == 4


def test_the_api_answers_risk_with_reasons_and_refuses_without_the_key(
        risky_artifact: Path, tmp_path: Path) -> None:
    engine = _engine(risky_artifact, tmp_path / "events.db")
    client = TestClient(create_app(engine, ApiConfig(api_keys=[KEY])))
    headers = {"X-API-Key": KEY}
    engine.ingest(_events(burst_bot("bot", IDS, 80)))
    engine.ingest(_events(burst_bot("newcomer", IDS, 2)))
    assert client.get("/users/bot/risk").status_code == 401
    bot = client.get("/users/bot/risk", headers=headers).json()
    assert bot["flagged"] and bot["quarantined"] and bot["score"] == 1.0
    assert bot["reasons"] and all("shoppers" in r["text"] for r in bot["reasons"])
    new = client.get("/users/newcomer/risk", headers=headers).json()
    assert new["score"] is None and new["status"] == "insufficient_data"
    missing = client.get("/users/nobody/risk", headers=headers)
    assert missing.status_code == 404 and "nobody" in missing.json()["error"]
    listed = client.get("/admin/quarantine", headers=headers).json()
    assert [u["user_id"] for u in listed["users"]] == ["bot"]
    assert "shelflm_risk_quarantined_users 1.0" in client.get("/metrics").text
    assert client.post("/admin/users/bot/release").status_code == 401
    released = client.post("/admin/users/bot/release", headers=headers).json()
    assert released == {"user_id": "bot", "quarantined": False, "released": True,
                        "quarantined_score": None}
    assert client.post("/admin/users/nobody/release", headers=headers).status_code == 404


def test_without_a_risk_model_nothing_is_scored(tmp_path: Path) -> None:
    from hashing_model import save_hashing_artifact

    folder = save_hashing_artifact(HashingModel(tiny_catalog(), dim=64), tmp_path / "plain")
    engine = _engine(folder, tmp_path / "events.db")
    engine.ingest(_events(burst_bot("bot", IDS, 80)))
    assert engine.risk.risk("bot")["status"] == "no_risk_model"
    assert engine.risk.stats() is None and engine.info()["risk"] is None


def test_a_configured_risk_model_that_is_missing_is_an_error(risky_artifact: Path,
                                                             tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\[serving.risk_control\] model"):
        _engine(risky_artifact, tmp_path / "events.db", model=tmp_path / "nowhere")


def test_a_trickling_user_is_scored_from_min_events_then_every_n(risky_artifact: Path,
                                                                 tmp_path: Path) -> None:
    engine = _engine(risky_artifact, tmp_path / "events.db", every=3, quarantine=False)
    scored = []
    for k, event in enumerate(_events(shoppers(IDS, 1, seed=2))[:8]):
        engine.ingest([event])
        scored.append(engine.risk.stats()["scored"])
        assert k >= 4 or engine.risk.stats()["scored"] == 0  # under min_events: not judged
    assert scored == [0, 0, 0, 0, 1, 1, 1, 2]


def test_a_serving_only_file_sets_risk_control(tmp_path: Path) -> None:
    from shelflm.settings import load_serving_config

    path = tmp_path / "serve.toml"
    path.write_text("user_cache_size = 10\n[risk_control]\nenabled = false\nevery = 3\n")
    config = load_serving_config(path)
    assert not config.risk_control.enabled and config.risk_control.every == 3
    assert config.user_cache_size == 10
