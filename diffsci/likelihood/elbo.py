r"""Continuous-time variational bound on log p(x) in the EDM (variance-exploding) parameterisation.

Kingma et al. (2021, VDM, Eq. 17) with SNR(sigma) = 1/sigma^2 (equivalently Song et al. 2021,
"Maximum likelihood training of score-based diffusion models", Thm. 1 with f = 0, g^2 dt = d sigma^2):

.. math::
    -\log p(x) \le \underbrace{\mathrm{KL}\big(\mathcal N(x, \sigma_\max^2 I)\,\|\,\pi\big)}_{\text{prior}}
      + \underbrace{\mathbb E\,[-\log \mathcal N(x; z_{\sigma_\min}, \sigma_\min^2 I)]}_{\text{reconstruction}}
      + \underbrace{\int_{\sigma_\min}^{\sigma_\max}
          \frac{\mathbb E_\varepsilon \lVert D(x + \sigma\varepsilon, \sigma) - x\rVert^2}{\sigma^3}
          \, d\sigma}_{\text{diffusion}}

with the prior pi = N(m, (sigma_max^2 + c^2) I), m the model's mean (pf_ode.model_mean), and a Gaussian decoder of std
sigma_min (its term is d/2 (1 + log 2 pi sigma_min^2) in closed form). The continuous-time bound is
the same for every sigma schedule (VDM Sec. 4.3: it depends on the end points only); the schedule
chooses where the integral is sampled: sigma = phi(u), u ~ U[0, 1] stratified over ``steps`` strata,
weighted by phi'(u) / phi(u)^3, so the estimate is unbiased for the integral itself, not a quadrature.

With the exact denoiser (and prior) the bound is tight up to its ends: -ELBO(x) = E_eps[-log p_{sigma_min}
(x + sigma_min eps)] (the diffusion and prior terms equal the KL of the forward path; the decoder terms
cancel), so on Gaussian data it sits O(sigma_min^2) above the exact NLL. The gap grows with the
denoiser's error, which is what makes -ELBO an anomaly score. Cost: steps * repeats denoiser calls,
no Jacobians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..conditioning import Cond
from ..types import Denoiser
from .pf_ode import LN2, LOG_2PI, dequantize, model_mean

__all__ = ["ELBOResult", "elbo", "sigma_proposal"]


@dataclass
class ELBOResult:
    """Per-sample results of :func:`elbo` (tensors (B,), float64, nats unless stated).

    Attributes:
        elbo: the evidence lower bound on log p(x) (mean over repeats).
        nats_per_dim, bits_per_dim: -elbo / d and -elbo / (d ln 2): upper bounds on the NLL per dim.
        nfe: denoiser evaluations.
        stderr: Monte-Carlo standard error of elbo (NaN with a single repeat).
        prior_kl, reconstruction, diffusion: the three terms of -elbo.
        dim: d.
    """

    elbo: Tensor
    nats_per_dim: Tensor
    bits_per_dim: Tensor
    nfe: int
    stderr: Tensor
    prior_kl: Tensor
    reconstruction: Tensor
    diffusion: Tensor
    dim: int


def sigma_proposal(u: Tensor, sigma_min: float, sigma_max: float, schedule: str = "loglinear",
                   rho: float = 7.0) -> tuple[Tensor, Tensor]:
    """sigma = phi(u) for u in [0, 1] and the weight phi'(u) / phi(u)^3 of the diffusion integral.

    >>> s, w = sigma_proposal(torch.tensor([0.0, 1.0], dtype=torch.float64), 1.0, 100.0)
    >>> [round(v, 4) for v in s.tolist()], [round(v, 4) for v in w.tolist()]  # w = log(100) / sigma^2
    ([1.0, 100.0], [4.6052, 0.0005])
    """
    if schedule == "loglinear":
        L = math.log(sigma_max / sigma_min)
        sigma = sigma_min * torch.exp(u * L)
        return sigma, L / sigma ** 2
    if schedule == "karras":
        a, b = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
        base = a + u * (b - a)
        sigma = base ** rho
        return sigma, rho * (b - a) * base ** (rho - 1) / sigma ** 3
    raise ValueError(f"unknown schedule '{schedule}'; valid: karras, loglinear")


def elbo(denoiser: Denoiser, x: Tensor, cond: Cond | None = None, *, steps: int = 32, repeats: int = 4,
         sigma_min: float = 0.002, sigma_max: float = 80.0, schedule: str = "loglinear", rho: float = 7.0,
         sigma_data: float | None = None, dequantize_width: float | None = None,
         generator: torch.Generator | None = None) -> ELBOResult:
    """Continuous-time ELBO per sample (Kingma et al. 2021, Eq. 17, in the EDM parameterisation).

    Args:
        denoiser: D(x, sigma, cond) accepting per-sample sigma (B,).
        x: (B, C, *spatial) continuous data.
        steps: strata of u (one denoiser call each per repeat).
        repeats: independent stratified estimates; their spread gives ``stderr``.
        sigma_min, sigma_max: the ends of the diffusion (decoder std and prior scale).
        schedule: the sampling distribution of sigma: "loglinear" (uniform in log sigma) or "karras".
        sigma_data: c of the prior N(m, (sigma_max^2 + c^2) I); default ``denoiser.sigma_data`` or 0.
        dequantize_width: bin width for integer-valued data (adds d log width, see pf_ode.dequantize).
        generator: for the noise, the strata offsets and dequantisation.

    >>> from diffsci.diffusion import GaussianDenoiser
    >>> g = GaussianDenoiser(torch.zeros(1, 4, dtype=torch.float64), var=1.0)
    >>> x = g.sample(64, generator=torch.Generator().manual_seed(0))
    >>> r = elbo(g, x, generator=torch.Generator().manual_seed(1))
    >>> bool(abs(float((-r.elbo + g.log_prob(x)).mean())) < 0.1)  # tight for the exact denoiser
    True
    """
    if steps < 1 or repeats < 1:
        raise ValueError(f"steps and repeats must be >= 1, got {steps}, {repeats}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    if not x.is_floating_point():
        x = x.float()
    b, d = x.shape[0], x[0].numel()
    gdev = generator.device if generator is not None else x.device
    with torch.no_grad():
        offset = 0.0
        if dequantize_width is not None:
            x, offset = dequantize(x, dequantize_width, generator)
        m = model_mean(denoiser, x, sigma_max, cond)
        c = float(getattr(denoiser, "sigma_data", 0.0) if sigma_data is None else sigma_data)
        v = sigma_max ** 2 + c ** 2                                   # prior N(m, v I)
        dist2 = ((x - m).double() ** 2).reshape(b, -1).sum(1)
        prior_kl = 0.5 * (d * sigma_max ** 2 / v + dist2 / v - d - d * math.log(sigma_max ** 2 / v))
        recon = torch.full_like(prior_kl, 0.5 * d * (1 + LOG_2PI + 2 * math.log(sigma_min)))
        # Control variate: beta (|sigma eps|^2 - d sigma^2) has mean zero for any beta fixed before eps is
        # drawn; with beta = (c^2/(c^2 + sigma^2))^2, c^2 the sample's own mean square about m, it cancels
        # most of the chi^2 noise that dominates |D - x|^2 = |a sigma eps - (1 - a)(x - m)|^2 at small sigma.
        cv_c2 = (dist2 / d).clamp_min(1e-12)
        diffusion = torch.zeros(repeats, b, dtype=torch.float64, device=x.device)
        for r in range(repeats):
            offsets = torch.rand(steps, b, generator=generator, device=gdev, dtype=torch.float64).to(x.device)
            for i in range(steps):
                u = (i + offsets[i]) / steps                          # stratified u ~ U[i/N, (i+1)/N)
                sigma, weight = sigma_proposal(u, sigma_min, sigma_max, schedule, rho)
                eps = torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype).to(x.device)
                s = sigma.to(x.dtype).reshape(b, *[1] * (x.ndim - 1))
                den = denoiser(x + s * eps, sigma.to(x.dtype), cond)
                err = ((den - x).double() ** 2).reshape(b, -1).sum(1)
                beta = (cv_c2 / (cv_c2 + sigma ** 2)) ** 2
                err = err - beta * sigma ** 2 * ((eps.double() ** 2).reshape(b, -1).sum(1) - d)
                diffusion[r] += weight * err / steps                  # E ||D - x||^2 phi'/phi^3
        neg = prior_kl + recon + diffusion - offset                   # (R, B)
        value = -neg.mean(0)
        if repeats > 1:
            stderr = neg.std(0, correction=1) / math.sqrt(repeats)
        else:
            stderr = torch.full_like(value, math.nan)
    return ELBOResult(elbo=value, nats_per_dim=-value / d, bits_per_dim=-value / (d * LN2),
                      nfe=steps * repeats + 2, stderr=stderr, prior_kl=prior_kl, reconstruction=recon,
                      diffusion=diffusion.mean(0), dim=d)
