"""Several shops as one training set: each keeps its own catalog and shoppers.

`combine_shops` prefixes every item and user id with its shop's name ("beauty/B00X..."), so
ids that happen to be equal in two shops stay two items and two shoppers, and stacks the
catalogs and the events. A model trained on it has one user tower and one text path for
every shop; serving one shop later takes that shop's own catalog (`serve --catalog`), whose
items are scored from their text.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from shelflm.data.errors import DropReport
from shelflm.data.schema import Catalog, Dataset, Interactions

SEPARATOR = "/"


def combine_shops(shops: Sequence[Dataset]) -> Dataset:
    """One Dataset of `shops` (two or more, distinct names); ids become "<name>/<id>"."""
    if len(shops) < 2:
        raise ValueError(f"combine_shops: needs two or more datasets, got {len(shops)}")
    names = [shop.name for shop in shops]
    if len(set(names)) != len(names):
        raise ValueError(f"combine_shops: dataset names must differ (they prefix the ids), "
                         f"got {names}")
    items, events, dropped = [], [], DropReport()
    for shop in shops:
        prefix = shop.name + SEPARATOR
        items.append(shop.catalog.items.assign(item_id=prefix + shop.catalog.items["item_id"]))
        ev = shop.interactions.events
        events.append(ev.assign(user_id=prefix + ev["user_id"], item_id=prefix + ev["item_id"],
                                event=ev["event"].astype(str)))
        for reason, n in shop.dropped.counts.items():
            dropped.add(f"{shop.name}: {reason}", n)
    name = "+".join(names)
    return Dataset(name, Catalog.from_frame(pd.concat(items, ignore_index=True), name),
                   Interactions.from_frame(pd.concat(events, ignore_index=True), name),
                   dropped, has_time=all(shop.has_time for shop in shops))

