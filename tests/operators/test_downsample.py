"""Downsample: block averages, A A^H = I / p."""

from __future__ import annotations

import pytest
import torch

from diffsci.operators import Downsample


@pytest.mark.parametrize("factors", [(3,), (2, 2), (2, 1, 2)])
def test_block_average_and_tight_frame(factors):
    g = torch.Generator().manual_seed(0)
    spatial = tuple(4 * f for f in factors)
    x = torch.randn(2, 1, *spatial, generator=g, dtype=torch.float64)
    op = Downsample(factors)
    y = op(x)
    # the first block's average by hand
    block = x[(0, 0) + tuple(slice(0, f) for f in factors)]
    assert torch.allclose(y[(0, 0) + (0,) * len(factors)], block.mean())
    p = 1
    for f in factors:
        p *= f
    assert torch.allclose(op(op.adjoint(y)), y / p)                    # A A^H = I / p
    assert torch.allclose(op(op.pinv(y)), y)                           # A A^+ = I
    assert op.input_shape(y.shape) == x.shape


def test_indivisible_input_is_an_error():
    with pytest.raises(ValueError, match=r"\(5, 4\).*not divisible .*\(2, 2\)"):
        Downsample((2, 2))(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="positive integers"):
        Downsample((0, 2))
