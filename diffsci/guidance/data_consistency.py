"""Hard data consistency: replace the denoised estimate by its projection onto the measured set.

Kadkhodaie & Simoncelli (2021) and Chung et al. (2022, "Come-closer-diffuse-faster"; "score-based MRI")
apply the measurement as a projection at every step; here the projection acts on the denoised estimate
(as in DDNM, Wang et al. 2023, Eq. 12), which makes the method a *posterior denoiser* that any sampler
integrates.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..operators.base import LinearOperator
from ..samplers import get_sampler
from ..types import Callback, Denoiser
from ._common import check_problem, posterior_variance, resolve_sigma_data, scalar_sigma

__all__ = ["data_consistency", "DataConsistencyDenoiser"]


class DataConsistencyDenoiser:
    r"""D'(x, sigma) = D + A^+_rho (y - A D), rho = sigma_y^2 / r^2(sigma).

    Noiseless (sigma_y = 0): rho = 0 and D' is the orthogonal projection of D onto {x : Ax = y} (exact
    for operators with ``has_projection``; conjugate gradients otherwise). Noisy: D' is the mean of
    x0 | y when x0 ~ N(D, r^2 I) and y = A x0 + n, n ~ N(0, sigma_y^2 I), i.e.
    D + r^2 A^H (r^2 A A^H + sigma_y^2 I)^{-1}(y - A D).
    """

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, measurement: Tensor, sigma_data: float):
        self.denoiser, self.operator, self.y, self.sigma_data = denoiser, operator, measurement, sigma_data

    def __call__(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        d = self.denoiser(x, sigma, cond)
        rho = 0.0
        if self.operator.sigma_y > 0:
            r2 = float(posterior_variance(torch.as_tensor(scalar_sigma(sigma), dtype=torch.float64), self.sigma_data))
            rho = self.operator.sigma_y ** 2 / max(r2, 1e-300)
        return d + self.operator.pinv(self.y - self.operator(d), rho)


def data_consistency(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, operator: LinearOperator,
                     measurement: Tensor, cond: Cond | None = None, callback: Callback | None = None,
                     generator: torch.Generator | None = None, sampler: str = "stochastic",
                     sigma_data: float | None = None) -> Tensor:
    """Posterior sampling with data consistency on the denoised estimate at every denoiser call.

    Args:
        denoiser: D(x, sigma, cond) -> x0_hat.
        x: initial noise at sigmas[0], shape (B, C, *spatial).
        sigmas: decreasing grid ending in 0.
        operator: linear, noise std ``operator.sigma_y``.
        measurement: y of shape ``operator.measurement_shape(x.shape)`` (batch 1 broadcasts).
        sampler: the engine sampler that integrates the data-consistent denoiser (diffsci.samplers);
            the default "stochastic" (EDM Alg. 2) is more accurate than "heun" on noisy problems
            (see ``diffsci bench inverse``).
        sigma_data: data std for r^2(sigma) of the noise-aware step (default: ``denoiser.sigma_data``);
            unused when sigma_y = 0.

    Returns:
        The final iterate; with sigma_y = 0 it satisfies A x = y (to solver precision).
    """
    y = check_problem(x, operator, measurement, linear=True)
    sd = resolve_sigma_data(denoiser, sigma_data, "noise-aware data consistency") if operator.sigma_y > 0 else 1.0
    dc = DataConsistencyDenoiser(denoiser, operator, y, sd)
    return get_sampler(sampler)(dc, x, sigmas, cond=cond, callback=callback, generator=generator)
