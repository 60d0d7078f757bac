"""A shopper's message split into its wish and the constraints it states."""

from __future__ import annotations

import pytest

from shelflm.text.query_parse import parse_message


@pytest.mark.parametrize("message, wish, low, high", [
    ("something for a dad who hikes, under 40", "for a dad who hikes", None, 40.0),
    ("running shoes between 50 and 80 dollars", "running shoes", 50.0, 80.0),
    ("$20-30 tea", "tea", 20.0, 30.0),
    ("a lamp over 100", "a lamp", 100.0, None),
    ("model XR-500 charger", "model XR-500 charger", None, None),
])
def test_price_bounds_are_read_and_taken_out_of_the_wish(message, wish, low, high) -> None:
    parsed = parse_message(message)
    assert (parsed.wish, parsed.min_price, parsed.max_price) == (wish, low, high)


def test_refinements_have_no_wish_of_their_own() -> None:
    assert parse_message("show me a cheaper one").cheaper
    assert parse_message("more expensive please").pricier
    assert parse_message("not that brand").not_that_brand
    for message in ("cheaper", "not that brand", "what goes with this tent?"):
        assert parse_message(message).refines_only, message


def test_exclusions_and_goes_with() -> None:
    parsed = parse_message("coffee without sugar, no nike please")
    assert parsed.wish == "coffee" and parsed.exclude_terms == ["sugar", "nike"]
    parsed = parse_message("a lamp that goes with this tent")
    assert parsed.goes_with and parsed.wish == "a lamp"
