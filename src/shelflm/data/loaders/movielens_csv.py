"""GroupLens MovieLens "latest" CSVs (ratings.csv, movies.csv, tags.csv) and ML-1M .dat files.

Tags are free text users attach to movies: they become the movie's `tags` attribute (not
events) and their count is kept in the dataset's source counts.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd

from shelflm.data.errors import DataError, DropReport, shown
from shelflm.data.loaders import common, reading
from shelflm.data.schema import CATEGORY_SEPARATOR, Dataset

NO_GENRE = "(no genres listed)"


def is_movielens_csv(path: Path) -> bool:
    """A folder with `ratings.csv` + `movies.csv`, or ML-1M's `ratings.dat` + `movies.dat`."""
    return path.is_dir() and any(
        (path / f"ratings.{ext}").is_file() and (path / f"movies.{ext}").is_file()
        for ext in ("csv", "dat")
    )


def _read_dat(path: Path, names: list[str]) -> pd.DataFrame:
    """ML-1M's `::`-separated latin-1 files, read by the fast C parser after a swap to tabs."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(path, "file not found") from exc
    reading.check_text(path, data[:reading.HEAD_BYTES])
    text = reading.decode(data, path, 1, common.UTF8_OR_LATIN1).removeprefix("\ufeff")
    text = text.replace("::", "\t")
    return common.read_table(io.StringIO(text), sep="\t", names=names,  # type: ignore[arg-type]
                             quoting=csv.QUOTE_NONE, source=path)


def _read(folder: Path, stem: str, columns: list[str], dat_names: list[str]) -> tuple[
        pd.DataFrame, Path]:
    csv_path, dat_path = folder / f"{stem}.csv", folder / f"{stem}.dat"
    if csv_path.is_file():
        return common.read_table(csv_path, required=columns), csv_path
    if dat_path.is_file():
        return _read_dat(dat_path, dat_names), dat_path
    raise DataError(csv_path, "file not found")


def load_movielens_csv(path: str | Path, *, rating_range: tuple[float, float] = (0.5, 5.0)
                       ) -> Dataset:
    """Ratings as "rating" events; movie titles, genres (category) and user tags (attributes)."""
    folder = Path(path)
    ratings, ratings_path = _read(folder, "ratings", ["userId", "movieId", "rating", "timestamp"],
                                  ["userId", "movieId", "rating", "timestamp"])
    movies, movies_path = _read(folder, "movies", ["movieId", "title", "genres"],
                                ["movieId", "title", "genres"])
    events = pd.DataFrame({"line": ratings["line"], "user_id": ratings["userId"].str.strip(),
                           "item_id": ratings["movieId"].str.strip()})
    events["value"] = common.to_number(ratings, "rating", ratings_path)
    common.check_range(ratings, events["value"].to_numpy(), "rating", ratings_path, *rating_range)
    events["timestamp"] = common.to_unix_seconds(ratings, "timestamp", ratings_path)
    events["event"] = "rating"

    tags = _tags(folder)
    source = common.count_source(events, **({"tags": len(tags)} if tags is not None else {}))
    genres = [[g for g in text.split("|") if g and g != NO_GENRE] for text in movies["genres"]]
    movie_tags: dict[str, list[str]] = {}
    if tags is not None:
        unknown = ~tags["movieId"].isin(movies["movieId"].str.strip())
        if unknown.any():
            movie = tags["movieId"][unknown].iloc[0]
            raise DataError(folder / "tags.csv", f"tag for movie {shown(movie)} that is not in "
                            "movies", line=common.first_bad(tags, unknown),
                            field="movieId")
        # Distinct non-empty tags per movie, in the order they were first given.
        unique = tags[tags["tag"] != ""].drop_duplicates(["movieId", "tag"])
        movie_tags = unique.groupby("movieId", sort=False)["tag"].agg(list).to_dict()
    items = pd.DataFrame({
        "line": movies["line"], "item_id": movies["movieId"].str.strip(), "title": movies["title"],
        "category": ["Movies" + CATEGORY_SEPARATOR + g[0] if g else "Movies" for g in genres],
        "attributes": [
            json.dumps({"genres": g, **({"tags": movie_tags[m]} if m in movie_tags else {})},
                       ensure_ascii=False)
            for g, m in zip(genres, movies["movieId"].str.strip(), strict=True)
        ],
    })
    items = common.check_known_items(events, items, ratings_path, create_missing=False)
    dropped = DropReport()
    events = common.drop_duplicates(events, ["user_id", "item_id", "timestamp", "value"],
                                    dropped, "exact duplicate rating")
    return common.build_dataset(folder.name or "movielens", items, events, ratings_path,
                                dropped=dropped, source=source, items_file=movies_path)


def _tags(folder: Path) -> pd.DataFrame | None:
    path = folder / "tags.csv"
    if not path.is_file():
        return None
    tags = common.read_table(path, required=["userId", "movieId", "tag", "timestamp"])
    tags["movieId"] = tags["movieId"].str.strip()
    tags["tag"] = tags["tag"].str.strip()
    return tags
