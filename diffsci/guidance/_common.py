"""What every posterior sampler checks and shares: the problem's shapes and kinds, and r_t^2."""

from __future__ import annotations

import torch
from torch import Tensor

from ..operators.base import LinearOperator, Operator


def check_problem(x: Tensor, operator: Operator, measurement: Tensor, *, linear: bool = False) -> Tensor:
    """Validate (x, operator, measurement) and return the measurement on x's device, batch and precision.

    A measurement with batch 1 is broadcast to x's batch. Errors name both shapes, and say so when
    complex data meet a real model.
    """
    if not isinstance(operator, Operator):
        raise TypeError(f"operator must be a diffsci.operators.Operator, got {type(operator).__name__}")
    if linear and not isinstance(operator, LinearOperator):
        raise TypeError(f"this sampler needs a LinearOperator (adjoint, pseudo-inverse); {operator.name} is "
                        "not linear: use dps")
    if not isinstance(measurement, Tensor):
        measurement = torch.as_tensor(measurement)
    if x.is_complex():
        raise ValueError(f"the model's iterate is complex ({x.dtype}); diffsci models are real: give complex "
                         "images as (re, im) channels and wrap the operator in ComplexView")
    if operator.input_kind == "complex":
        raise ValueError(f"{operator.name} takes complex images but the model is real (shape {tuple(x.shape)}): "
                         "wrap it as ComplexView(operator) for a (re, im) channel model, or use "
                         "complex_input=False for magnitude images")
    expected = operator.measurement_shape(x.shape)
    y = measurement
    if y.ndim == len(expected) and y.shape[0] == 1 and x.shape[0] > 1:
        y = y.expand(x.shape[0], *y.shape[1:])
    operator.check_measurement(y, x.shape)
    dtype = (torch.complex128 if x.dtype == torch.float64 else torch.complex64) if y.is_complex() else x.dtype
    return y.to(device=x.device, dtype=dtype)


def posterior_variance(sigma: Tensor, sigma_data: float) -> Tensor:
    """r^2(sigma) = sigma^2 sigma_d^2 / (sigma^2 + sigma_d^2): Var[x0 | x_sigma] for x0 ~ N(0, sigma_d^2 I).

    PiGDM's r_t^2 (Song et al. 2023, Sec. 3.1: r_t^2 = sigma_t^2 / (1 + sigma_t^2) for unit-variance
    data) in the EDM parameterisation.
    """
    return sigma ** 2 * sigma_data ** 2 / (sigma ** 2 + sigma_data ** 2)


def resolve_sigma_data(denoiser, sigma_data: float | None, method: str) -> float:
    """``sigma_data`` if given, else the denoiser's own (EDMDenoiser has one); an error otherwise."""
    if sigma_data is not None:
        return float(sigma_data)
    sd = getattr(denoiser, "sigma_data", None)
    if sd is None:
        raise ValueError(f"{method} needs the data std for its r_t^2 = sigma^2 sd^2/(sigma^2 + sd^2): pass "
                         f"sigma_data= (the denoiser {type(denoiser).__name__} has no sigma_data attribute)")
    return float(sd)


def scalar_sigma(sigma: Tensor | float) -> float:
    """The noise level of a call as a float: a scalar, or a (B,) tensor whose entries are all equal."""
    t = torch.as_tensor(sigma).reshape(-1)
    if t.numel() > 1 and not bool((t == t[0]).all()):
        raise ValueError("posterior guidance needs one sigma for the whole batch (got different per-sample sigmas)")
    return float(t[0])
