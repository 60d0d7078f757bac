"""The dashboard's JSON (serving/http/dashboard): overview with the last hour's series, an item
as the model sees it, a shopper's timeline, the model card, versions side by side, reload and
rollback recorded in the models directory; the API's keys guard it exactly as the API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shelflm.serving.config import ApiConfig, ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.app import create_app
from shelflm.serving.http.dashboard.history import _quantile
from shelflm.serving.versions import first_state, write_state

KEY = {"X-API-Key": "k"}


@pytest.fixture
def models(tmp_path: Path, trained_artifact: Path) -> Path:
    """Two versions of the tiny trained model: v1 (served) and v2 (another lr, metrics)."""
    root = tmp_path / "models"
    for name in ("v1", "v2"):
        shutil.copytree(trained_artifact, root / name)
    config = json.loads((root / "v2" / "config.json").read_text())
    config["shelflm_config"] = {"training": {"lr": 0.0003}}
    (root / "v2" / "config.json").write_text(json.dumps(config))
    (root / "v2" / "metrics.json").write_text(json.dumps({"ndcg@10": 0.5, "hr@10": float("nan")}))
    return root


def _client(models: Path, **api) -> TestClient:
    config = ServingConfig(store=StoreConfig(backend="memory"), models_dir=models,
                           api=ApiConfig(api_keys=["k"], **api))
    engine = Engine.from_artifact(models / "v1", config)
    return TestClient(create_app(engine, config.api))


def test_overview_counts_the_shop_and_the_api_traffic_not_its_own(models: Path) -> None:
    client = _client(models)
    history = client.app.state.history
    history.interval = 0.0  # a sample per call
    history.sample()
    client.post("/events", json={"events": [{"user_id": "u1", "item_id": "i0", "event": "view"},
                                            {"user_id": "u2", "item_id": "i1", "event": "view"}]},
                headers=KEY)
    for _ in range(5):
        assert client.get("/users/u1/recommendations").status_code == 200
    body = client.get("/dashboard/api/overview").json()
    assert (body["catalog"]["items"], body["users"], body["events"]) == (12, 2, 2)
    assert body["model"]["name"] == "v1" and body["model"]["age_s"] >= 0
    assert body["index"]["size"] == 12 and body["cache"]["hits"] >= 4
    series = body["series"]
    assert len(series["t"]) == len(series["rps"]) == len(series["p99_ms"]) >= 1
    assert body["window"]["requests"] == 6  # the POST and five GETs; not the dashboard's
    assert 0 < body["window"]["p50_ms"] <= body["window"]["p99_ms"]
    assert body["window"]["events_per_min"] > 0


def test_latency_quantiles_interpolate_inside_their_bucket() -> None:
    buckets = [(0.001, 50.0), (0.002, 90.0), (0.005, 100.0), (float("inf"), 100.0)]
    assert _quantile(buckets, 0.5) == pytest.approx(1.0)
    assert _quantile(buckets, 0.7) == pytest.approx(1.5)
    assert _quantile(buckets, 0.99) == pytest.approx(4.7)
    assert _quantile([(0.001, 0.0), (float("inf"), 0.0)], 0.5) is None
    assert _quantile([(0.001, 0.0), (float("inf"), 3.0)], 0.5) == pytest.approx(1.0)


def test_item_and_shopper_pages(models: Path) -> None:
    client = _client(models)
    client.post("/events", json={"events": [{"user_id": "u1", "item_id": "i4", "event": "view"},
                                            {"user_id": "u1", "item_id": "i5", "event": "click"}]},
                headers=KEY)
    item = client.get("/dashboard/api/items/i4").json()
    assert item["title"] == "shampoo for dry hair" and item["category"] == "Hair"
    assert item["text"] == "shampoo for dry hair"  # the artifact's template: {title}
    assert [e["user_id"] for e in item["events"]] == ["u1"] and item["popularity"] >= 1
    missing = client.get("/dashboard/api/items/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    user = client.get("/dashboard/api/users/u1").json()
    assert [(e["item_id"], e["event"], e["title"]) for e in user["events"]] == [
        ("i4", "view", "shampoo for dry hair"), ("i5", "click", "hair conditioner")]
    assert user["known"] and user["ab_bucket"] is None
    assert client.get("/dashboard/api/users/nobody").json()["known"] is False


def test_model_card_versions_and_side_by_side(models: Path) -> None:
    client = _client(models)
    card = client.get("/dashboard/api/model").json()
    assert card["name"] == "v1" and card["num_items"] == 12 and len(card["curves"]) == 3
    assert card["tuning"]["share"] > 0 and card["metrics"]["valid"]["ndcg@10"] is not None
    other = client.get("/dashboard/api/model", params={"version": "v2"}).json()
    assert other["metrics"]["test"] == {"ndcg@10": 0.5, "hr@10": None}  # NaN is no JSON
    listing = client.get("/dashboard/api/versions").json()
    assert {v["name"]: v["live"] for v in listing["versions"]} == {"v1": True, "v2": False}
    assert listing["live"] == "v1" and listing["previous"] is None
    side = client.get("/dashboard/api/compare", params={"a": "v1", "b": "v2"}).json()
    assert {"key": "training.lr", "a": None, "b": 0.0003} in side["config_diff"]
    assert {"split": "test", "metric": "ndcg@10", "a": None, "b": 0.5} in side["metrics"]
    for bad in ("../v1", "nope", ".."):
        answer = client.get("/dashboard/api/model", params={"version": bad})
        assert answer.status_code == 404 and answer.json()["field"] == "version"


def test_reload_and_rollback_need_the_admin_key_and_are_recorded(models: Path) -> None:
    write_state(models, first_state("v1"))  # a nearline loop keeps refresh.json here
    client = _client(models)
    assert client.post("/dashboard/api/reload", json={"artifact_dir": "v2"}).status_code == 401
    wrong = client.post("/dashboard/api/rollback", headers={"X-API-Key": "no"})
    assert wrong.status_code == 403
    assert client.post("/dashboard/api/rollback", headers=KEY).status_code == 409  # none yet
    swapped = client.post("/dashboard/api/reload", json={"artifact_dir": "v2"}, headers=KEY)
    assert swapped.status_code == 200 and swapped.json()["artifact_dir"] == "v2"
    state = json.loads((models / "refresh.json").read_text())
    assert (state["live"], state["previous"]) == ("v2", "v1")
    assert client.get("/dashboard/api/versions").json()["previous"] == "v1"
    back = client.post("/dashboard/api/rollback", headers=KEY).json()
    assert back["artifact_dir"] == "v1" and back["reload_generation"] == 2
    state = json.loads((models / "refresh.json").read_text())
    assert (state["live"], state["previous"]) == ("v1", "v2")
    assert [d["decision"] for d in state["history"]] == ["reload", "rollback"]
    assert client.get("/dashboard/api/model").json()["name"] == "v1"


def test_rollback_without_a_refresh_record_goes_to_what_served_before(models: Path) -> None:
    client = _client(models)
    client.post("/dashboard/api/reload", json={"artifact_dir": "v2"}, headers=KEY)
    assert client.post("/dashboard/api/rollback", headers=KEY).json()["artifact_dir"] == "v1"
    assert not (models / "refresh.json").exists()


def test_reads_need_the_key_when_the_api_reads_do_and_the_shell_is_static(
        models: Path) -> None:
    client = _client(models, keys_for_reads=True)
    for path in ("/dashboard/api/overview", "/dashboard/api/items/i0",
                 "/dashboard/api/users/u1", "/dashboard/api/model", "/dashboard/api/versions"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=KEY).status_code == 200, path
    page = client.get("/dashboard/")  # no data in it: served without a key
    assert page.status_code == 200 and "script-src 'self'" in page.headers[
        "content-security-policy"]
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/"
    asset = client.get("/dashboard/static/vendor/uPlot.iife.min.js")
    assert asset.status_code == 200 and "uPlot" in asset.text
