"""Sequence augmentations keep what they should, and the contrastive loss prefers agreement."""

import numpy as np
import pytest
import torch

from shelflm.training.augment import augment, crop, info_nce, mask, reorder
from shelflm.training.config import AugmentConfig

SEQ = np.arange(10, 20)


def test_crop_is_a_contiguous_span_of_the_right_length():
    rng = np.random.default_rng(0)
    out = crop(SEQ, 0.6, rng)
    assert len(out) == 6
    assert np.array_equal(out, np.arange(out[0], out[0] + 6))


def test_mask_replaces_exactly_the_share_asked():
    out = mask(SEQ, 0.3, mask_token=-1, rng=np.random.default_rng(0))
    assert (out == -1).sum() == 3
    assert np.array_equal(out[out != -1], SEQ[out != -1])


def test_reorder_shuffles_only_one_span():
    out = reorder(SEQ, 0.5, np.random.default_rng(3))
    assert sorted(out) == sorted(SEQ)
    changed = np.flatnonzero(out != SEQ)
    assert len(changed) and changed.max() - changed.min() < 5


def test_augment_never_returns_an_empty_sequence_and_config_is_validated():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert len(augment(np.array([7]), AugmentConfig(weight=1.0), 99, rng)) == 1
    with pytest.raises(ValueError, match="crop_ratio"):
        AugmentConfig(crop_ratio=1.5)


def test_info_nce_is_lower_for_matching_views():
    torch.manual_seed(0)
    a = torch.randn(8, 4)
    same = info_nce(a, a + 0.01 * torch.randn(8, 4), temperature=0.5)
    shuffled = info_nce(a, a[torch.randperm(8)], temperature=0.5)
    assert same < shuffled
