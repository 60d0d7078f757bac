"""Schemathesis against the ASGI app in-process (no network): every operation of the OpenAPI,
every check, positive and negative cases, with the API key.

The contract: no server error, no status or body the OpenAPI does not document, and no request
the schema calls valid refused, except for what only the data decides (an id the catalog does
not hold, a text that is blank once cleaned, an artifact folder that is not one): those answer
422 or 404, as documented, and the check below reads the message to be sure that is why.

Hypothesis is derandomized (the same cases on every run, so CI is reproducible) and bounded:
SHELFLM_SCHEMATHESIS_EXAMPLES (default 80) cases per operation and phase.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from hashing_model import HashingModel
from shelflm.data.schema import Catalog
from shelflm.serving.config import ApiConfig, ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.errors import BLANK
from shelflm.serving.http.app import create_app
from shelflm.serving.store import EventStore
from shelflm.serving.store.memory_store import MemoryEventStore
from shelflm.serving.store.sqlite_store import SqliteEventStore

KEY = "s3cret-key"
EXAMPLES = int(os.environ.get("SHELFLM_SCHEMATHESIS_EXAMPLES", "80"))
# 422s that only the data decides, each by the words of its message.
DATA_DEPENDENT = ("unknown item id", BLANK, "artifact_dir", "duplicate item id",
                  "greater than max_price", "unknown user id",
                  "unknown or expired conversation", "says nothing to look for",
                  "unknown modality", "unknown version", "no artifact folder",
                  "no earlier version")
CASES: list[str] = []  # each case run, by operation (the report's count)

pytestmark = pytest.mark.slow


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "headers": {"X-API-Key": KEY},
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
        "checks": {
            # A refusal is a refusal: 413 (a list past its limit) too.
            "negative_data_rejection": {"expected-statuses": [
                "400", "401", "403", "404", "405", "413", "415", "422"]},
            # 422 only for DATA_DEPENDENT reasons: see _only_data_dependent_refusals.
            "positive_data_acceptance": {"enabled": False},
        },
    })


def _app(store: EventStore) -> FastAPI:
    """The app of a six-item shop over `store`, limits made small so cases reach them."""
    catalog = Catalog.from_frame(pd.DataFrame({
        "item_id": [f"i{i}" for i in range(6)],
        "title": ["red lipstick", "black mascara", "face cream", "argan shampoo",
                  "hiking boots", "trail backpack"],
        "category": ["Beauty > Lips", "Beauty > Eyes", "Beauty > Skin", "Beauty > Hair",
                     "Outdoor > Shoes", "Outdoor > Bags"],
        "price": [5.0, 7.5, 12.0, 9.0, 80.0, 60.0]}))
    engine = Engine(HashingModel(catalog, dim=64), store, ServingConfig())
    return create_app(engine, ApiConfig(api_keys=[KEY], keys_for_reads=True, max_k=50,
                                        max_events=20, max_items=10))


# The schema of an app as configured below; each operation's test runs on a fresh app (`app`).
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", _app(MemoryEventStore()),
                                        config=_config())


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """A fresh app over the SQLite store, as served."""
    return _app(SqliteEventStore(tmp_path / "events.sqlite"))


def _only_data_dependent_refusals(case, response) -> None:
    """positive_data_acceptance, with the documented data-dependent 404 and 422 allowed."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status in (404, 409, 422):
        error = response.json()["error"]
        assert any(words in error for words in DATA_DEPENDENT), (case.as_curl_command(), error)
        return
    assert status < 400, (case.as_curl_command(), status, response.text[:500])


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_openapi_contract(case, app: FastAPI) -> None:
    response = case.call_and_validate(app=app, excluded_checks=[positive_data_acceptance])
    _only_data_dependent_refusals(case, response)
    CASES.append(case.operation.label)
