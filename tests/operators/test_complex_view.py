"""ComplexView: a real (re, im) channel model seen as a complex image."""

from __future__ import annotations

import pytest
import torch

from diffsci.operators import ComplexView, SubsampledFourier, to_complex, to_real


def test_round_trip_and_layout():
    x = torch.arange(8.0).reshape(1, 4, 2)             # channels re0, re1, im0, im1
    z = to_complex(x)
    assert z.shape == (1, 2, 2) and complex(z[0, 1, 0]) == 2 + 6j
    assert torch.equal(to_real(z), x)
    with pytest.raises(ValueError, match="even number of channels"):
        to_complex(torch.zeros(1, 3, 2))


def test_view_of_complex_fourier_projects_exactly():
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(6, 6, generator=g) < 0.4).double()
    op = ComplexView(SubsampledFourier(mask, complex_input=True))
    x_true = torch.randn(2, 2, 6, 6, generator=g, dtype=torch.float64)
    y = op(x_true)
    p = op.project(torch.zeros_like(x_true), y)
    assert torch.allclose(op(p), y)
    # on the unmeasured frequencies the projection of 0 stays 0
    k = torch.fft.fftn(to_complex(p), dim=(-2, -1), norm="ortho")
    assert torch.allclose(k * (1 - mask), torch.zeros_like(k))


def test_view_of_a_real_domain_operator_is_an_error():
    with pytest.raises(ValueError, match="takes real inputs already"):
        ComplexView(SubsampledFourier(torch.ones(4)))
