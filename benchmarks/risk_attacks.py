"""Shilling attack profiles and the baseline detectors of benchmarks/risk_shilling.py.

Attacks (Lam & Riedl 2004; Mobasher et al. 2007): each fake profile rates 10 target items
(at most median popularity) with the maximum, 5, plus filler items drawn uniformly from the
rest of the catalog:
- random: filler ratings ~ N(global mean, global std), rounded and clipped to 1..5;
- average: filler rating of item i ~ N(mean of i, std of i) (single-rating items: std 0);
- bandwagon: also the 10 most popular items rated 5, filler as in random.
The attacker knows the genuine ratings' statistics. A fake copies the timestamps of a randomly
chosen genuine user, resampled with replacement to the profile's length and sorted, and takes
its items in random order, so the time features do not trivially give fakes away.

Baselines: PCA-VarSelect (Mehta & Nejdl 2009) on the rating matrix, and pyod's default
detectors on the risk model's own features (z-scored by the training users' mean and std;
ECOD and COPOD score one user per call, as their batch scores are transductive).
Impact: hit_ratio, how often the targets reach genuine users' top 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from shelflm.data.schema import EVENT_TYPES
from shelflm.models.risk_signals import ModelView

ATTACKS = ("random", "average", "bandwagon")
TARGETS, BANDWAGON, TOP_RATING, LOW_RATING = 10, 10, 5.0, 1.0
PYOD = ("IForest", "LOF", "KNN", "ECOD", "COPOD", "HBOS")


@dataclass
class Knowledge:
    """What the attacker knows of the genuine ratings."""

    items: np.ndarray  # every catalog item id
    popularity: pd.Series  # item id -> ratings, catalog order
    item_mean: pd.Series
    item_std: pd.Series
    global_mean: float
    global_std: float
    donors: list[np.ndarray]  # each genuine user's timestamps

    @classmethod
    def of(cls, events: pd.DataFrame, item_ids: pd.Index) -> Knowledge:
        items = events["item_id"].astype(str)
        values = events["value"].astype(np.float64)
        by = values.groupby(items)
        ids = np.asarray(item_ids.astype(str))
        donors = [g.to_numpy(np.int64) for _, g in
                  events["timestamp"].groupby(events["user_id"].astype(str))]
        return cls(ids, items.value_counts().reindex(ids, fill_value=0), by.mean(),
                   by.std().fillna(0.0), float(values.mean()), float(values.std()), donors)

    def popular(self) -> np.ndarray:
        """The BANDWAGON most rated items."""
        return self.popularity.sort_values(ascending=False, kind="stable").index[:BANDWAGON]


def pick_targets(know: Knowledge, rng: np.random.Generator) -> np.ndarray:
    """TARGETS items drawn among those with at most the median number of ratings."""
    pool = know.popularity.index[know.popularity <= know.popularity.median()]
    return rng.choice(np.asarray(pool), TARGETS, replace=False)


def fake_profiles(know: Knowledge, attack: str, fakes: int, filler: int,
                  targets: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """`fakes` profiles of `attack` with `filler` filler items each, as rating events of
    users fake-0, fake-1, ..."""
    fixed = np.concatenate([targets, know.popular()]) if attack == "bandwagon" else targets
    pool = np.setdiff1d(know.items, fixed)
    frames = []
    for k in range(fakes):
        chosen = rng.choice(pool, filler, replace=False)
        if attack == "average":
            mean = know.item_mean.reindex(chosen).to_numpy()
            std = know.item_std.reindex(chosen).to_numpy()
        else:
            mean, std = know.global_mean, know.global_std
        rated = np.clip(np.rint(rng.normal(mean, std, filler)), LOW_RATING, TOP_RATING)
        items = np.concatenate([fixed, chosen])
        values = np.concatenate([np.full(len(fixed), TOP_RATING), rated])
        order = rng.permutation(len(items))
        donor = know.donors[rng.integers(len(know.donors))]
        stamps = np.sort(rng.choice(donor, len(items), replace=True))
        frames.append(pd.DataFrame({"user_id": f"fake-{k}", "item_id": items[order],
                                    "timestamp": stamps, "event": "rating",
                                    "value": values[order]}))
    return pd.concat(frames, ignore_index=True)


def cell_fakes(know: Knowledge, targets: np.ndarray, seed: int, attack: str, size: float,
               filler: float, users: int = 943) -> pd.DataFrame:
    """One cell's profiles: `size` x `users` fakes with `filler` x catalog filler items each,
    seeded by (seed, attack, size, filler), so detection and impact inject the same ones."""
    rng = np.random.default_rng([seed, ATTACKS.index(attack), round(size * 100),
                                 round(filler * 100)])
    return fake_profiles(know, attack, round(size * users), round(filler * len(know.items)),
                         targets, rng)


def pca_varselect(events: pd.DataFrame, users: pd.Index, spam: int,
                  components: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(score, flagged) per user of `users`: each user's ratings z-scored (unrated: 0), PCA
    with users as the variables, score = the user's squared loadings summed over the top
    `components` components; the `spam` lowest scores are flagged."""
    items = pd.Index(pd.unique(events["item_id"].astype(str)))
    rows = items.get_indexer(events["item_id"].astype(str))
    cols = users.get_indexer(events["user_id"].astype(str))
    values = events["value"].astype(np.float64)
    by = values.groupby(cols)
    mean = by.transform("mean").to_numpy()
    std = by.transform(lambda v: v.std(ddof=0)).to_numpy()
    z = np.where(std > 0, (values.to_numpy() - mean) / np.where(std > 0, std, 1), 0.0)
    matrix = np.zeros((len(items), len(users)))
    matrix[rows, cols] = z
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    score = (vt[:components] ** 2).sum(axis=0)
    flagged = np.zeros(len(users), bool)
    flagged[np.argsort(score, kind="stable")[:spam]] = True
    return score, flagged


def pyod_detectors(train: np.ndarray, seed: int) -> dict[str, object]:
    """Each PYOD detector with its default parameters (IForest seeded), fitted on `train`
    z-scored; apply them to rows passed through `standardise(train, rows)`."""
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.hbos import HBOS
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF

    made = {"IForest": IForest(random_state=seed), "LOF": LOF(), "KNN": KNN(),
            "ECOD": ECOD(), "COPOD": COPOD(), "HBOS": HBOS()}
    x = standardise(train, train)
    return {name: detector.fit(x) for name, detector in made.items()}


def pyod_judged(detector: object, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flagged as predict() does, decision_function score) of rows `x`; ECOD and COPOD rank
    a batch against the training rows and the batch itself, so they get one row per call."""
    if type(detector).__name__ in ("ECOD", "COPOD"):
        score = np.array([detector.decision_function(row[None])[0] for row in x])
    else:
        score = detector.decision_function(x)
    return score > detector.threshold_, score


def standardise(train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`rows` z-scored by the columns of `train` (constant columns: centred only)."""
    std = train.std(axis=0)
    return (rows - train.mean(axis=0)) / np.where(std > 0, std, 1.0)


def detection_metrics(truth: np.ndarray, flagged: np.ndarray, score: np.ndarray) -> dict:
    """Precision, recall and F1 of `flagged`, ROC-AUC of `score` (fakes = positives)."""
    p, r, f, _ = precision_recall_fscore_support(truth, flagged, average="binary",
                                                 zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f),
            "auc": float(roc_auc_score(truth, score)), "flagged": int(np.sum(flagged))}


def feature_separation(features: pd.DataFrame, truth: np.ndarray, top: int = 3) -> dict:
    """The `top` features that alone separate fakes best: max(AUC, 1 - AUC) each."""
    aucs = {c: float(roc_auc_score(truth, features[c].to_numpy())) for c in features.columns}
    strength = {c: max(a, 1 - a) for c, a in aucs.items()}
    return {c: round(aucs[c], 4) for c in sorted(strength, key=strength.get, reverse=True)[:top]}


def hit_ratio(served: object, events: pd.DataFrame, targets: np.ndarray) -> float:
    """Mean over `targets` of the share of users of `events` (who have not rated it) with it
    in their top 10; each user's whole history in, rated items out."""
    view, rating = ModelView.of(served), EVENT_TYPES.index("rating")
    slots = events["item_id"].map(view.slot_of).to_numpy()
    events = events.assign(slot=slots).sort_values(["user_id", "timestamp"], kind="stable")
    users = [g.to_numpy() for _, g in events.groupby("user_id")["slot"]]
    vectors = np.stack([view.user_vector(view.vectors[s], np.full(len(s), rating))
                        for s in users])
    scores = vectors[:, : view.scored.shape[1]] @ view.scored.T
    rated = np.zeros_like(scores, bool)
    for i, s in enumerate(users):
        rated[i, s] = True
    scores[rated] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    hits = [np.mean([slot in row for row, r in zip(top, rated[:, slot], strict=True) if not r])
            for slot in (view.slot_of(t) for t in targets)]
    return float(np.mean(hits))
