"""The `shelflm` command: one typer app assembled from the command modules in shelflm.commands
(each exposes `register(app)`)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads weights at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import typer  # noqa: E402

from shelflm.commands import (  # noqa: E402
    assist,
    compare,
    config,
    data,
    demo,
    ensemble,
    evaluate,
    refresh,
    risk,
    serve,
    train,
    update,
)

app = typer.Typer(
    name="shelflm",
    help="Real-time e-commerce recommender powered by a pretrained language model.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Help texts name config fields in brackets ("[training.epochs; default 200]"): plain
    # text, not rich markup, or the brackets vanish.
    rich_markup_mode=None,
)
for command in (config, data, demo, serve, train, update, refresh, evaluate, compare,
                ensemble, risk, assist):
    command.register(app)

if __name__ == "__main__":
    app()
