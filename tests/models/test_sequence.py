"""The causal user tower: no peeking at the future, padding changes nothing, config checks."""

import pytest
import torch

from shelflm.models.config import SequenceEncoderConfig
from shelflm.models.sequence import SequenceEncoder


def _encoder(**kw):
    torch.manual_seed(0)
    return SequenceEncoder(SequenceEncoderConfig(hidden=8, num_heads=2, max_len=6, **kw)).eval()


def test_future_items_do_not_change_earlier_positions():
    enc = _encoder()
    x = torch.randn(1, 5, 8)
    events = torch.zeros(1, 5, dtype=torch.long)
    valid = torch.ones(1, 5, dtype=torch.bool)
    before = enc(x, events, valid)
    changed = x.clone()
    changed[0, 3:] = torch.randn(2, 8)  # rewrite positions 3 and 4
    after = enc(changed, events, valid)
    assert torch.allclose(before[0, :3], after[0, :3], atol=1e-6)
    assert not torch.allclose(before[0, 3:], after[0, 3:])


def test_left_padding_leaves_the_user_vector_unchanged():
    enc = _encoder()
    x = torch.randn(1, 3, 8)
    events = torch.tensor([[0, 2, 3]])
    plain = enc(x, events, torch.ones(1, 3, dtype=torch.bool))[0, -1]
    padded_x = torch.cat([torch.randn(1, 2, 8), x], dim=1)  # garbage in the padding slots
    padded_ev = torch.cat([torch.zeros(1, 2, dtype=torch.long), events], dim=1)
    valid = torch.tensor([[False, False, True, True, True]])
    padded = enc(padded_x, padded_ev, valid)
    assert torch.isfinite(padded).all()
    assert torch.allclose(padded[0, -1], plain, atol=1e-5)


def test_event_types_matter():
    enc = _encoder()
    x = torch.randn(1, 3, 8)
    valid = torch.ones(1, 3, dtype=torch.bool)
    a = enc(x, torch.tensor([[0, 0, 0]]), valid)[0, -1]
    b = enc(x, torch.tensor([[0, 0, 3]]), valid)[0, -1]
    assert not torch.allclose(a, b)


def test_too_long_sequences_and_bad_configs_are_rejected():
    enc = _encoder()
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.randn(1, 7, 8), torch.zeros(1, 7, dtype=torch.long),
            torch.ones(1, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="divisible"):
        SequenceEncoderConfig(hidden=10, num_heads=3)
    with pytest.raises(ValueError, match="dropout"):
        SequenceEncoderConfig(dropout=1.0)
