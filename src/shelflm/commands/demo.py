"""`shelflm demo`: the main job on the embedded default (synthetic shop, no server to install)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    users: int = typer.Option(3000, help="Synthetic shoppers."),
    items: int = typer.Option(3000, help="Synthetic products."),
    seed: int = typer.Option(0, help="Random seed of the synthetic shop."),
) -> None:
    """Generate the synthetic demo shop, load it and print its statistics."""
    from shelflm.commands.data import print_stats
    from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

    dataset = generate_shop(SyntheticShopConfig(num_users=users, num_items=items, seed=seed))
    print_stats(dataset)
