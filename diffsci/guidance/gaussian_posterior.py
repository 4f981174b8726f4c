r"""The exact posterior of a linear-Gaussian inverse problem: the ground truth the posterior samplers are tested on.

Prior :math:`x \sim N(\mu, \Sigma)`, measurement :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)`
(per real component). With :math:`A` written as a real matrix (complex measurements stacked as
[Re; Im], see :func:`operator_matrix`), the posterior is :math:`N(m, C)` with

.. math::
    m = \mu + \Sigma A^\top (A \Sigma A^\top + \sigma_y^2 I)^{+} (y - A\mu), \qquad
    C = \Sigma - \Sigma A^\top (A \Sigma A^\top + \sigma_y^2 I)^{+} A \Sigma

(the pseudo-inverse covers noiseless, redundant measurements). Because :math:`x_\sigma = x + \sigma n`
given y is again Gaussian, the exact *posterior* denoiser is simply ``GaussianDenoiser(m, cov=C)``:
a sampler run on it samples the posterior up to its own discretisation error (the "oracle" row of
``diffsci bench inverse``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..diffusion import GaussianDenoiser
from ..operators.base import LinearOperator

__all__ = ["operator_matrix", "real_vector", "gaussian_posterior", "posterior_denoiser"]


def real_vector(y: Tensor) -> Tensor:
    """(B, *meas) -> (B, m) real, complex entries stacked as [Re, Im] (the layout of :func:`operator_matrix`)."""
    y = y.reshape(y.shape[0], -1)
    return torch.cat([y.real, y.imag], 1) if y.is_complex() else y


def operator_matrix(operator: LinearOperator, event_shape: Sequence[int], *,
                    dtype: torch.dtype = torch.float64) -> Tensor:
    """The dense real matrix (m, n) of ``operator`` on real inputs of shape ``event_shape`` = (C, *spatial).

    Column j is A applied to the j-th basis vector; complex measurements give 2m rows [Re; Im].
    Meant for small problems (tests, benchmarks).
    """
    if operator.input_kind == "complex":
        raise ValueError(f"{operator.name} has a complex input domain; use ComplexView for a real model")
    n = 1
    for s in event_shape:
        n *= int(s)
    basis = torch.eye(n, dtype=dtype).reshape(n, *event_shape)
    return real_vector(operator(basis)).T.contiguous()


def gaussian_posterior(prior: GaussianDenoiser, operator: LinearOperator, measurement: Tensor, *,
                       sigma_y: float | None = None) -> tuple[Tensor, Tensor]:
    """Exact posterior mean (event shape) and covariance (n, n) of ``N(mu, Sigma)`` given ``y = A x + n``.

    Args:
        prior: the Gaussian prior with its exact denoiser.
        operator: a linear operator on real inputs.
        measurement: one measurement, shape (1, *meas) or (*meas).
        sigma_y: noise std per real component (default: ``operator.sigma_y``).
    """
    dtype = prior.mean.dtype
    event = prior.event_shape
    sigma_y = operator.sigma_y if sigma_y is None else float(sigma_y)
    A = operator_matrix(operator, event, dtype=dtype)
    y = measurement.to(device=A.device)
    expected = operator.measurement_shape((1, *event))
    if tuple(y.shape) == expected[1:]:
        y = y[None]
    operator.check_measurement(y, (1, *event))
    y = real_vector(y.to(torch.complex128 if y.is_complex() else dtype))[0].to(dtype)
    keep = A.abs().sum(1) > 0                              # unmeasured (all-zero) rows carry nothing
    A, y = A[keep], y[keep]
    mu = prior.mean.reshape(-1)
    S = prior.covariance().to(dtype)
    G = A @ S @ A.T + sigma_y ** 2 * torch.eye(A.shape[0], dtype=dtype)
    K = S @ A.T @ torch.linalg.pinv(G, hermitian=True, rtol=1e-12)        # Kalman gain (n, m)
    m = mu + K @ (y - A @ mu)
    C = S - K @ A @ S
    return m.reshape(event), (C + C.T) / 2


def posterior_denoiser(prior: GaussianDenoiser, operator: LinearOperator, measurement: Tensor) -> GaussianDenoiser:
    """The exact denoiser of p(x | y): ``GaussianDenoiser(m, cov=C)`` of :func:`gaussian_posterior`."""
    m, C = gaussian_posterior(prior, operator, measurement)
    return GaussianDenoiser(m, cov=C)
