"""MovieLens loaders on tiny files written in the exact GroupLens formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelflm.data.errors import DataError
from shelflm.data.loaders import detect_format, load_dataset, load_movielens_100k

FLAGS_COMEDY = "|".join("1" if i == 5 else "0" for i in range(19))
FLAGS_ACTION_WAR = "|".join("1" if i in (1, 17) else "0" for i in range(19))


def write_ml100k(folder: Path, data: str | None = None, item_lines: list[str] | None = None
                 ) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "u.data").write_text(data or "1\t1\t5\t881250949\n1\t2\t3\t881250950\n"
                                   "2\t2\t4\t881250951\n")
    items = item_lines or [
        f"1|Amélie (2001)|01-Jan-2001||http://x|{FLAGS_COMEDY}",
        f"2|Heat (1995)|01-Jan-1995||http://y|{FLAGS_ACTION_WAR}",
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    return folder


def test_ml100k_reads_ratings_titles_and_genres(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml")
    assert detect_format(folder) == "movielens-100k"
    ds = load_dataset(folder)
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 2, 3)
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["1", "title"] == "Amélie (2001)"  # latin-1 decoded
    assert items.loc["1", "category"] == "Movies > Comedy"
    assert json.loads(items.loc["2", "attributes"])["genres"] == ["Action", "War"]
    ev = ds.interactions.events
    assert set(ev["event"]) == {"rating"}
    assert ev[ev["user_id"] == "1"]["value"].tolist() == [5.0, 3.0]
    assert ds.source is not None and ds.source.rows == 3


def test_ml100k_wrong_number_of_fields_names_file_and_line(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml", data="1\t1\t5\t881250949\n1\t2\t3\n")
    with pytest.raises(DataError, match=r"u\.data, line 2: .*wrong number of fields"):
        load_movielens_100k(folder)


def test_ml100k_rating_out_of_range(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml", data="1\t1\t5\t881250949\n1\t2\t6\t881250950\n")
    with pytest.raises(DataError, match=r"u\.data, line 2: field 'rating': rating 6 out of range"):
        load_movielens_100k(folder)


def test_ml100k_unparsable_timestamp(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml", data="1\t1\t5\tyesterday\n")
    with pytest.raises(DataError, match=r"line 1: field 'ts': unparsable timestamp 'yesterday'"):
        load_movielens_100k(folder)


def test_ml100k_unknown_item_is_an_error(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml", data="1\t1\t5\t881250949\n1\t99\t3\t881250950\n")
    with pytest.raises(DataError, match=r"u\.data, line 2: field 'item_id': .*'99'.*not in the"):
        load_movielens_100k(folder)


def test_ml100k_bad_genre_flag(tmp_path: Path) -> None:
    bad = FLAGS_COMEDY.replace("1", "7")
    folder = write_ml100k(tmp_path / "ml", item_lines=[
        f"1|A (2001)|01-Jan-2001||http://x|{FLAGS_COMEDY}", f"2|B (1995)|||http://y|{bad}"])
    with pytest.raises(DataError, match=r"u\.item, line 2: field 'Comedy'"):
        load_movielens_100k(folder)


def test_ml100k_exact_duplicates_are_counted(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml", data="1\t1\t5\t881250949\n1\t1\t5\t881250949\n")
    ds = load_movielens_100k(folder)
    assert len(ds.interactions) == 1
    assert ds.dropped.counts == {"exact duplicate rating": 1}


def write_ml_latest(folder: Path, ratings: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "ratings.csv").write_text(
        ratings or "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,0.5,964981247\n"
        "2,1,3.5,964982224\n")
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n'
        '2,"American President, The (1995)",Comedy|Drama|Romance\n'
        "3,Unrated Film (2000),(no genres listed)\n")
    (folder / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n2,1,funny,1445714994\n2,1,pixar,1445714996\n"
        "1,1,funny,1445714999\n")
    return folder


def test_ml_latest_reads_ratings_movies_and_tags(tmp_path: Path) -> None:
    folder = write_ml_latest(tmp_path / "mls")
    assert detect_format(folder) == "movielens"
    ds = load_dataset(folder)
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 3, 3)
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["2", "title"] == "American President, The (1995)"
    assert items.loc["1", "category"] == "Movies > Adventure"
    assert items.loc["3", "category"] == "Movies"
    assert json.loads(items.loc["1", "attributes"])["tags"] == ["funny", "pixar"]
    assert ds.source is not None and ds.source.extra == {"tags": 3}
    assert sorted(ds.interactions.events["value"].tolist()) == [0.5, 3.5, 4.0]


def test_ml_latest_missing_column_names_file_and_field(tmp_path: Path) -> None:
    folder = write_ml_latest(tmp_path / "mls", ratings="userId,movieId,timestamp\n1,1,9\n")
    with pytest.raises(DataError, match=r"ratings\.csv: field 'rating': missing required column"):
        load_dataset(folder)


def test_ml_latest_rating_out_of_range(tmp_path: Path) -> None:
    folder = write_ml_latest(tmp_path / "mls",
                             ratings="userId,movieId,rating,timestamp\n1,1,4,9\n1,2,5.5,10\n")
    with pytest.raises(DataError, match=r"ratings\.csv, line 3: field 'rating': rating 5.5"):
        load_dataset(folder)


def test_ml_1m_dat_files(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Café (1996)::Animation|Musical\n"
        .encode("latin-1"))
    ds = load_dataset(folder)
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (1, 2, 2)
    assert ds.catalog.items.set_index("item_id").loc["661", "title"] == "Café (1996)"
