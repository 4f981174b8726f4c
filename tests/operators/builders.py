"""Builders of every built-in operator in 1D, 2D and 3D, real and complex (used by the contract tests)."""

from __future__ import annotations

import torch

from diffsci.operators import ComplexView, Downsample, Identity, Mask, MultiCoilFourier, Plane, SubsampledFourier

SPATIAL = {1: (12,), 2: (6, 8), 3: (4, 6, 4)}
B, C = 2, 2


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand(shape, *, complex_: bool, g: torch.Generator) -> torch.Tensor:
    if complex_:
        return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                             torch.randn(shape, generator=g, dtype=torch.float64))
    return torch.randn(shape, generator=g, dtype=torch.float64)


def bernoulli(shape, p: float, g: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=g, dtype=torch.float64) < p).double()


def build(name: str, dims: int, complex_: bool, seed: int = 0):
    """(operator, x, y): a random input x and a random measurement y of the right shape and kind."""
    g = _g(seed)
    spatial = SPATIAL[dims]
    c = C
    if name == "identity":
        op = Identity(sigma_y=0.1)
    elif name == "mask":
        op = Mask(bernoulli(spatial, 0.5, g), sigma_y=0.1)
    elif name == "downsample":
        op = Downsample((2,) * dims, sigma_y=0.1)
    elif name == "fourier":
        op = SubsampledFourier(bernoulli(spatial, 0.4, g), sigma_y=0.1, centered=bool(seed % 2),
                               complex_input=complex_)
    elif name == "multicoil":
        sens = rand((3, *spatial), complex_=True, g=g) / 3
        op = MultiCoilFourier(sens, bernoulli(spatial, 0.5, g), centered=bool(seed % 2), complex_input=complex_)
    elif name == "plane":                                  # the last spatial axis, at a negative index
        op = Plane(axis=dims - 1, index=-2, depth=spatial[-1], sigma_y=0.1)
    elif name == "complex_view":
        inner_op = (SubsampledFourier(bernoulli(spatial, 0.4, g), complex_input=True) if complex_
                    else Mask(bernoulli(spatial, 0.5, g)))
        op, c = ComplexView(inner_op), 2 * C
    else:
        raise KeyError(name)
    x_complex = complex_ and op.input_kind != "real"
    x = rand((B, c, *spatial), complex_=x_complex, g=g)
    y_shape = op.measurement_shape(x.shape)
    y = rand(y_shape, complex_=x_complex or op.complex_output, g=g)
    return op, x, y
