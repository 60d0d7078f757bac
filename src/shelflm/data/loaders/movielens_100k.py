"""GroupLens MovieLens 100K, the original folder: `u.data`, `u.item` (latin-1), `u.genre`.

`u.user` (age, gender, occupation) is not read: the Dataset has no user table yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport
from shelflm.data.loaders import common
from shelflm.data.schema import CATEGORY_SEPARATOR, Dataset

# The order of the 19 genre flags in u.item, used when u.genre is absent.
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
ITEM_FIELDS = ["movie_id", "title", "release_date", "video_release_date", "imdb_url"]


def is_movielens_100k(path: Path) -> bool:
    """A folder holding `u.data` and `u.item`."""
    return path.is_dir() and (path / "u.data").is_file() and (path / "u.item").is_file()


def _genres(folder: Path) -> tuple[str, ...]:
    path = folder / "u.genre"
    if not path.is_file():
        return GENRES
    table = common.read_table(path, sep="|", names=["genre", "index"],
                              encoding=common.UTF8_OR_LATIN1)
    order = common.to_number(table, "index", path, integer=True)
    return tuple(table["genre"].to_numpy()[order.argsort(kind="stable")])


def load_movielens_100k(path: str | Path) -> Dataset:
    """Ratings from `u.data` as "rating" events; titles, genres and dates from `u.item`."""
    folder = Path(path)
    genres = _genres(folder)
    data_path, item_path = folder / "u.data", folder / "u.item"
    events = common.read_table(data_path, sep="\t", names=["user_id", "item_id", "rating", "ts"])
    for column in ("user_id", "item_id"):
        common.to_number(events, column, data_path, integer=True)  # ids are integers here
    events["value"] = common.to_number(events, "rating", data_path, integer=True)
    common.check_range(events, events["value"].to_numpy(), "rating", data_path, 1, 5)
    events["timestamp"] = common.to_unix_seconds(events, "ts", data_path)
    events["event"] = "rating"
    source = common.count_source(events)

    raw = common.read_table(item_path, sep="|", names=ITEM_FIELDS + list(genres),
                            encoding=common.UTF8_OR_LATIN1)
    flags = np.column_stack([common.to_number(raw, g, item_path, integer=True)
                             for g in genres]) if len(raw) else np.zeros((0, len(genres)))
    bad = (flags != 0) & (flags != 1)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(item_path, f"genre flag {flags[row, col]:g} is not 0 or 1",
                        line=int(raw["line"].iloc[row]), field=genres[col])
    names = np.array(genres, dtype=object)
    movie_genres = [list(names[row.astype(bool)]) for row in flags]
    items = pd.DataFrame({
        "line": raw["line"], "item_id": raw["movie_id"], "title": raw["title"],
        # The first flagged genre is the category; all genres stay in the attributes.
        "category": ["Movies" + CATEGORY_SEPARATOR + g[0] if g else "Movies"
                     for g in movie_genres],
        "attributes": [json.dumps({"genres": g, "release_date": d}, ensure_ascii=False)
                       for g, d in zip(movie_genres, raw["release_date"], strict=True)],
    })
    items = common.check_known_items(events, items, data_path, create_missing=False)
    dropped = DropReport()
    events = common.drop_duplicates(events, ["user_id", "item_id", "timestamp", "value"],
                                    dropped, "exact duplicate rating")
    return common.build_dataset(
        folder.name or "movielens-100k", items, events, data_path, dropped=dropped, source=source,
        items_file=item_path,
    )
