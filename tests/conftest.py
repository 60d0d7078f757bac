"""Fixtures shared across test folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelflm.data.project_format import write_project_dataset
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop
from tiny_artifact import TinyTrained, train_tiny

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data next to the repository (the public datasets); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> TinyTrained:
    """The one shared tiny trained model (12 titled items, item 11 cold) and its artifact."""
    return train_tiny(tmp_path_factory.mktemp("trained") / "model")


@pytest.fixture(scope="session")
def trained_artifact(tiny_trained: TinyTrained) -> Path:
    """The shared tiny model's artifact directory (read it, never write into it)."""
    return tiny_trained.directory


@pytest.fixture(scope="session")
def project_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-shopper, 40-product synthetic shop in the project format (for CLI runs)."""
    folder = tmp_path_factory.mktemp("shop") / "data"
    write_project_dataset(generate_shop(SyntheticShopConfig(
        num_users=60, num_items=40, target_events=1500, seed=1)), folder)
    return folder
