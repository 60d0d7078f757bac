"""Command groups of the CLI. Each module exposes `register(app)`; add new ones to MODULES."""

from __future__ import annotations

import importlib

import typer

MODULES = ("config", "data", "demo", "serve", "train")


def register_all(app: typer.Typer) -> None:
    """Attach every command module's commands to the root app."""
    for name in MODULES:
        importlib.import_module(f"shelflm.commands.{name}").register(app)
