"""The two-tower model: cold items come from text alone, ID dropout, scoring shapes."""

import numpy as np
import pytest
import torch

from shelflm.evaluation.protocol import evaluate_ranking
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.item_tower import ItemTower, MoEWhitenedHead, id_weights
from shelflm.models.shelf_model import pad_left
from shelflm.training.config import TrainConfig
from shelflm.training.recommender import ShelfRecommender, sasrec_id
from toy_shop import toy_leave_one_out, toy_shop

torch.set_num_threads(1)


def test_cold_item_vector_is_its_text_part_only():
    torch.manual_seed(0)
    text = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    has_id = np.array([1, 1, 1, 0, 0], dtype=np.float32)
    tower = ItemTower(ItemTowerConfig(hidden=4, id_dropout=0.0), 5, text, has_id).eval()
    with torch.no_grad():
        table = tower.all_items()
        text_only = tower.encode_text_vectors(torch.from_numpy(text))
    assert torch.allclose(table[3:], text_only[3:])
    assert not torch.allclose(table[:3], text_only[:3])


def test_an_item_without_text_is_scored_by_its_id_or_not_at_all():
    torch.manual_seed(0)
    text = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    text[[1, 3]] = 0  # no text (TextEncoder.encode gives empty texts zero rows)
    has_id = np.array([1, 1, 0, 0], dtype=np.float32)
    for head in ("linear", "moe"):
        tower = ItemTower(ItemTowerConfig(hidden=4, id_dropout=0.0, head=head), 4, text,
                          has_id).eval()
        with torch.no_grad():
            table = tower.all_items()
            assert torch.allclose(table[1], tower.id_embedding.weight[1])  # its ID alone
            assert torch.equal(table[3], torch.zeros(4))  # nothing to score it by
            assert table[[0, 2]].abs().sum(-1).min() > 0
            new = tower.encode_text_vectors(torch.from_numpy(text))
            assert torch.equal(new[[1, 3]], torch.zeros(2, 4))


def test_cold_item_borrows_its_text_neighbours_mean_id_when_asked():
    torch.manual_seed(0)
    # Items 0 and 1 point one way, 2 the other; cold item 3 is closest in text to 0 and 1.
    text = np.array([[1, 0.1], [1, -0.1], [-1, 0], [1, 0]], dtype=np.float32)
    has_id = np.array([1, 1, 1, 0], dtype=np.float32)
    config = ItemTowerConfig(hidden=4, id_dropout=0.0, whiten=False, cold_id_neighbours=2)
    tower = ItemTower(config, 4, text, has_id).eval()
    with torch.no_grad():
        table = tower.all_items()
        text_part = tower.encode_text_vectors(torch.from_numpy(text))
        ids = tower.id_embedding.weight
    assert torch.allclose(table[3], text_part[3] + (ids[0] + ids[1]) / 2, atol=1e-6)
    assert torch.allclose(table[:3], text_part[:3] + ids[:3], atol=1e-6)  # warm: unchanged
    assert torch.allclose(tower.all_items(text_only=True), text_part, atol=1e-6)


def test_id_dropout_only_in_training():
    torch.manual_seed(0)
    text = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    tower = ItemTower(ItemTowerConfig(hidden=4, id_dropout=0.5), 50, text)
    with torch.no_grad():
        tower.eval()
        a, b = tower.all_items(), tower.all_items()
        tower.train()
        c = tower.all_items()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cold_targets_are_ranked_from_text_better_than_by_an_id_only_model():
    dataset, text = toy_shop(num_users=150, seed=1)
    cold = np.array([3, 14, 25, 36])  # one item per group never appears in training
    split = toy_leave_one_out(dataset, cold_items=cold)
    assert split.test.target_is_cold.any()
    train = TrainConfig(epochs=12, batch_size=32, lr=5e-3, patience=12, progress=False)
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=16, max_len=8, dropout=0.1),
                              ItemTowerConfig(hidden=16, id_dropout=0.5))
    ours = ShelfRecommender(config, train, text)
    ours.fit(split)
    ids = sasrec_id(train, hidden=16, max_len=8, dropout=0.1)
    ids.fit(split)
    ours_cold = evaluate_ranking(ours, split.test, ks=(10,), subset="cold")["hr@10"]
    ids_cold = evaluate_ranking(ids, split.test, ks=(10,), subset="cold")["hr@10"]
    assert ours_cold > ids_cold + 0.1


def test_pad_left_keeps_the_newest_items():
    out = pad_left([np.array([1, 2, 3, 4]), np.array([5])], pad=0, max_len=3)
    assert out.tolist() == [[2, 3, 4], [0, 0, 5]]


def test_configs_are_checked():
    with pytest.raises(ValueError, match="hidden"):
        ShelfModelConfig(SequenceEncoderConfig(hidden=32), ItemTowerConfig(hidden=64))
    with pytest.raises(ValueError, match="use_text"):
        ItemTowerConfig(use_text=False, use_id=False)
    with pytest.raises(ValueError, match="text_vectors"):
        ShelfRecommender(ShelfModelConfig(), TrainConfig())


def test_row_lookup_matches_the_full_table():
    text = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    tower = ItemTower(ItemTowerConfig(hidden=4), 7, text).eval()
    idx = torch.tensor([[0, 3], [6, 3]])
    with torch.no_grad():
        assert torch.allclose(tower(idx), tower.all_items()[idx], atol=1e-6)


def test_the_id_part_is_weighted_by_evidence():
    assert id_weights(np.array([0, 1, 9]), 0.0).tolist() == [0, 1, 1]
    assert np.allclose(id_weights(np.array([0, 1, 9]), 1.0), [0, 0.5, 0.9])
    text = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    weights = id_weights(np.array([0, 1, 9]), 1.0)
    tower = ItemTower(ItemTowerConfig(hidden=4), 3, text, weights).eval()
    with torch.no_grad():
        table, text_part = tower.all_items(), tower.all_items(text_only=True)
        ids = tower.id_embedding.weight
    assert torch.allclose(table, text_part + ids * torch.from_numpy(weights)[:, None], atol=1e-6)


def test_moe_head_mixes_learned_whitenings_and_scores_new_items_alike():
    torch.manual_seed(0)
    x = torch.randn(5, 6)
    head = MoEWhitenedHead(6, 4, experts=3)
    head.fit_whitening(x)
    head.gate.weight.data.normal_()
    gate = torch.softmax(head.gate(x), -1)
    expected = sum(gate[:, k, None] * ((x - head.bias[k]) @ head.weight[k]) for k in range(3))
    assert torch.allclose(head(x), expected, atol=1e-5)
    assert torch.allclose(head(x[None])[0], head(x), atol=1e-6)  # any leading shape
    text = x.numpy()
    tower = ItemTower(ItemTowerConfig(hidden=4, head="moe", experts=3), 5, text).eval()
    with torch.no_grad():
        assert torch.allclose(tower.all_items(text_only=True), tower.encode_text_vectors(x),
                              atol=1e-6)
    with pytest.raises(ValueError, match="head"):
        ItemTowerConfig(head="mlp")
