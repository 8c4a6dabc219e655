"""StuckBits re-encodes only what changes: the same values as encoding every write in its word."""

import numpy as np
import torch

from illusion_torch.wear.faults import StuckBits


def test_stuck_bits_equal_encoding_every_value():
    rng = np.random.default_rng(0)
    wl, fl, numel = 8, 4, 50
    mod = StuckBits(numel, wl, fl)
    stuck = rng.random(numel) < 0.2
    mod.and_mask[:] = torch.from_numpy(np.where(stuck, 0xFF & ~(1 << 6), 0xFF))
    mod.or_mask[:] = torch.from_numpy(np.where(stuck & (rng.random(numel) < 0.5), 1 << 2, 0))
    mod.hit = torch.from_numpy(np.flatnonzero(stuck))
    mod.active = True
    x = torch.from_numpy(rng.integers(-300, 300, (3, numel)) / 16.0)     # some beyond the 8-bit word
    codes = torch.round(x * 16).to(torch.int64) & 0xFF
    codes = (codes & mod.and_mask) | mod.or_mask
    want = torch.where(codes >= 128, codes - 256, codes).double() / 16
    assert torch.equal(mod(x), want)
    assert not torch.equal(mod(x), x)
