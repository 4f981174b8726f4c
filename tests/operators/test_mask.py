"""Mask: inpainting, gaps and missing slices."""

from __future__ import annotations

import pytest
import torch

from diffsci.operators import Mask


def test_missing_slices_broadcast_and_projection_replaces_known_values():
    m = torch.tensor([1.0, 0.0, 1.0])[:, None, None]                  # (D, 1, 1): slice 1 missing
    op = Mask(m)
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(1, 2, 3, 2, 2)
    y = op(x)
    assert torch.equal(y[:, :, 1], torch.zeros(1, 2, 2, 2, dtype=torch.float64))
    assert torch.equal(y[:, :, [0, 2]], x[:, :, [0, 2]])
    z = torch.full_like(x, -7.0)
    p = op.project(z, y)
    assert torch.equal(p[:, :, [0, 2]], x[:, :, [0, 2]]) and bool((p[:, :, 1] == -7).all())
    # pinv with rho: M y / (1 + rho)
    assert torch.allclose(op.pinv(y, 1.0), y / 2)


def test_mask_rejects_non_binary_values():
    with pytest.raises(ValueError, match="only 0 and 1"):
        Mask(torch.tensor([0.5, 1.0]))
