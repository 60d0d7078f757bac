"""A tiny end-to-end run: train on a patterned shop, evaluate, beat popularity; logging."""

import json

import numpy as np
import pytest
import torch

from shelflm.evaluation.protocol import evaluate_ranking, item_popularity
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.training.config import AdversarialConfig, AugmentConfig, TrainConfig
from shelflm.training.recommender import ShelfRecommender, sasrec_id
from toy_shop import toy_leave_one_out, toy_shop

torch.set_num_threads(1)


class Popularity:
    """Most-bought items first, the same for everyone."""

    name = "popularity"

    def __init__(self, train):
        self.counts = item_popularity(train).astype(np.float32)

    def score(self, users, histories, history_events):
        return np.tile(self.counts, (len(users), 1))


def _config(hidden=16):
    return ShelfModelConfig(SequenceEncoderConfig(hidden=hidden, max_len=8, dropout=0.1),
                            ItemTowerConfig(hidden=hidden))


@pytest.fixture(scope="module")
def split_and_text():
    dataset, text = toy_shop(num_users=120, seed=0)
    return toy_leave_one_out(dataset), text


def test_trained_model_beats_popularity_and_logs_each_epoch(split_and_text, tmp_path):
    split, text = split_and_text
    log = tmp_path / "log.jsonl"
    train = TrainConfig(epochs=12, batch_size=32, lr=5e-3, patience=12, progress=False,
                        log_path=str(log), evaluate_test=True)
    rec = ShelfRecommender(_config(), train, text)
    rec.fit(split)
    ours = evaluate_ranking(rec, split.test, ks=(10,))["ndcg@10"]
    pop = evaluate_ranking(Popularity(split.train), split.test, ks=(10,))["ndcg@10"]
    assert ours > pop + 0.2
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 13))
    assert {"train_loss", "valid_loss", "valid_ndcg@10", "test_ndcg@10"} <= set(records[0])
    assert records[-1]["train_loss"] < records[0]["train_loss"]


def test_early_stopping_keeps_the_best_epoch(split_and_text):
    split, text = split_and_text
    train = TrainConfig(epochs=30, batch_size=32, lr=5e-3, patience=1, progress=False)
    rec = ShelfRecommender(_config(), train, text)
    rec.fit(split)
    assert len(rec.history) < 30
    best = max(r["valid_ndcg@10"] for r in rec.history)
    from shelflm.evaluation.protocol import RankingEvaluator

    assert RankingEvaluator(split.valid, ks=(10,))(rec)["ndcg@10"] == pytest.approx(best)


def test_regularisers_and_id_baseline_train_without_error(split_and_text):
    split, text = split_and_text
    train = TrainConfig(epochs=2, batch_size=32, progress=False, loss="sampled_softmax",
                        num_negatives=16,
                        adversarial=AdversarialConfig(method="pgd", target="representations"),
                        augment=AugmentConfig(weight=0.1))
    rec = ShelfRecommender(_config(), train, text)
    rec.fit(split)
    assert np.isfinite(rec.history[-1]["train_loss"])
    base = sasrec_id(TrainConfig(epochs=2, batch_size=32, progress=False, loss="bpr"),
                     hidden=16, max_len=8)
    base.fit(split)
    assert base.score(split.test.users[:3], split.test.histories[:3],
                      split.test.history_events[:3]).shape == (3, split.train.num_items)


def test_bad_train_config_is_rejected():
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)


@pytest.mark.parametrize("seen_only", [True, False])
def test_items_without_training_events_are_not_pushed_down_as_negatives(seen_only):
    dataset, text = toy_shop(num_users=60, seed=2)
    cold = 5
    split = toy_leave_one_out(dataset, cold_items=np.array([cold]))
    # One text feature belongs to the cold item alone, so only that item's softmax gradient
    # can move the text head's weights on it.
    text = np.hstack([text, np.zeros((len(text), 1), dtype=text.dtype)])
    text[cold, -1] = 1.0
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=8, max_len=8, dropout=0.1),
                              ItemTowerConfig(hidden=8, whiten=False))
    train = TrainConfig(epochs=1, batch_size=16, progress=False, seen_negatives_only=seen_only)
    rec = ShelfRecommender(config, train, text)
    torch.manual_seed(train.seed)
    before = rec.build(split.train).item_tower.text_head.linear.weight[:, -1].clone()
    rec.fit(split)
    after = rec.model.item_tower.text_head.linear.weight[:, -1]
    assert torch.equal(before, after) == seen_only


class TextOnly:
    """Scores a fitted ShelfRecommender with every item as a cold item (no ID part)."""

    name = "text-only view"

    def __init__(self, rec):
        self.rec = rec

    def score(self, users, histories, history_events):
        with torch.no_grad():
            table = self.rec.model.item_tower.all_items(text_only=True)
            user = self.rec.model.user_vectors(histories, history_events, table)
        return (user @ table.T).numpy()


def test_text_only_loss_teaches_the_text_path_to_rank_alone(split_and_text):
    split, text = split_and_text
    scores = {}
    for weight in (0.0, 1.0):
        train = TrainConfig(epochs=6, batch_size=32, lr=5e-3, patience=6, progress=False,
                            text_only_weight=weight)
        rec = ShelfRecommender(_config(), train, text)
        rec.fit(split)
        scores[weight] = evaluate_ranking(TextOnly(rec), split.test, ks=(10,))["ndcg@10"]
    assert scores[1.0] > scores[0.0]
    with pytest.raises(ValueError, match="text_only_weight"):
        TrainConfig(text_only_weight=-1)


def test_tuner_weights_get_their_own_learning_rate(split_and_text):
    from shelflm.encoders.peft.registry import build_tuner, make_config

    split, _ = split_and_text
    titles = [f"item {i} colour {i % 7}" for i in range(split.train.num_items)]
    tuner = build_tuner(make_config("adaptor", d_out=16), titles)
    train = TrainConfig(epochs=1, batch_size=32, progress=False, lm_lr=1e-9, lr=5e-3)
    rec = ShelfRecommender(_config(), train, None, tuner=tuner)
    torch.manual_seed(0)
    before = {n: p.detach().clone() for n, p in tuner.named_parameters() if p.requires_grad}
    rec.fit(split)
    after = {n: p.detach() for n, p in rec.model.item_tower.tuner.named_parameters()}
    # AdamW's step is ~lr in size: lm_lr = 1e-9 leaves the tuner (almost) where it started.
    assert max(float((after[n] - before[n]).abs().max()) for n in before) < 1e-6


def test_a_tuned_lm_step_reencodes_only_some_rows_of_a_cached_table(split_and_text):
    from shelflm.encoders.peft.registry import build_tuner, make_config
    from shelflm.training.lm_cache import CachedItemTable

    split, _ = split_and_text
    n = split.train.num_items
    titles = [f"item {i} colour {i % 7}" for i in range(n)]
    tuner = build_tuner(make_config("adaptor", d_out=16), titles)
    rec = ShelfRecommender(_config(), TrainConfig(progress=False), None, tuner=tuner)
    model = rec.build(split.train).eval()
    table_fn = CachedItemTable(refresh_steps=3, rows=6, rng=np.random.default_rng(0))
    targets = torch.tensor([2, 5, 5])
    table = table_fn(model, targets)
    live = table_fn.live_rows(targets, n)
    assert len(live) == 6 and {2, 5} <= set(live.tolist())
    with torch.no_grad():
        assert torch.allclose(table, model.item_tower.all_items(), atol=1e-5)  # same weights
    table.sum().backward()
    grads = [p.grad for p in tuner.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)  # through the live rows
    many = torch.arange(20)
    assert len(table_fn.live_rows(many, n)) == 6  # a sample of the targets, no more
    for _ in range(4):
        table_fn(model, targets)
    assert table_fn.refreshes == 2  # steps 1 and 4 of 5 recomputed the whole catalog
    with pytest.raises(ValueError, match="refresh_steps"):
        CachedItemTable(0, 6, np.random.default_rng(0))


def test_training_with_a_cached_lm_table_learns(split_and_text):
    from shelflm.encoders.peft.registry import build_tuner, make_config

    split, _ = split_and_text
    titles = [f"item {i} colour {i % 7}" for i in range(split.train.num_items)]
    tuner = build_tuner(make_config("adaptor", d_out=16), titles)
    train = TrainConfig(epochs=4, batch_size=32, lr=5e-3, patience=9, progress=False,
                        lm_refresh_steps=2, lm_rows=16)
    rec = ShelfRecommender(_config(), train, None, tuner=tuner)
    rec.fit(split)
    assert rec.history[-1]["train_loss"] < rec.history[0]["train_loss"]
    assert evaluate_ranking(rec, split.test, ks=(10,))["ndcg@10"] > evaluate_ranking(
        Popularity(split.train), split.test, ks=(10,))["ndcg@10"]
