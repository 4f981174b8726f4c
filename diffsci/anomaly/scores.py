"""Sample-level anomaly scores (higher = more anomalous), all from one denoiser.

* ``nll``: -log p(x) in bits/dim by the probability-flow ODE (:func:`diffsci.likelihood.log_likelihood`);
* ``elbo``: the variational upper bound on -log p(x) in bits/dim (:func:`diffsci.likelihood.elbo`),
  no Jacobians: cheaper;
* ``recon``: the mean squared reconstruction residual after noising to sigma* and denoising, averaged
  over K repeats and several sigma* (:func:`diffsci.anomaly.maps.reconstruction_maps`), with a map.

:func:`score_samples` runs one of them by name (``kind``) and returns the score (and the map, when there is one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch  # noqa: F401  (the doctests use it)
from torch import Tensor

from ..conditioning import Cond
from ..likelihood import elbo, log_likelihood
from ..types import Denoiser
from .maps import reconstruction_maps

__all__ = ["nll_score", "elbo_score", "reconstruction_score", "score_samples", "ScoreResult", "SCORE_METHODS"]

SCORE_METHODS = ("nll", "elbo", "recon")


def nll_score(denoiser: Denoiser, x: Tensor, cond: Cond | None = None, **kwargs) -> Tensor:
    """-log p(x) in bits/dim, (B,); ``kwargs`` go to :func:`diffsci.likelihood.log_likelihood`.

    >>> from diffsci.diffusion import GaussianDenoiser
    >>> g = GaussianDenoiser(torch.zeros(1, 2, dtype=torch.float64), var=1.0)
    >>> s = nll_score(g, torch.tensor([[[0.0, 0.0]], [[3.0, 0.0]]], dtype=torch.float64), steps=8)
    >>> bool(s[1] > s[0])
    True
    """
    return log_likelihood(denoiser, x, cond, **kwargs).bits_per_dim


def elbo_score(denoiser: Denoiser, x: Tensor, cond: Cond | None = None, **kwargs) -> Tensor:
    """-ELBO in bits/dim (an upper bound on the NLL), (B,); ``kwargs`` go to :func:`diffsci.likelihood.elbo`."""
    return elbo(denoiser, x, cond, **kwargs).bits_per_dim


def reconstruction_score(denoiser: Denoiser, x: Tensor, cond: Cond | None = None, **kwargs) -> Tensor:
    """Mean reconstruction residual per sample, (B,); ``kwargs`` go to :func:`reconstruction_maps`."""
    return reconstruction_maps(denoiser, x, cond, **kwargs).score


@dataclass
class ScoreResult:
    """score: (B,) float64; map: (B, C, *spatial) or None; stderr: (B,) or None; info: method details."""

    score: Tensor
    map: Tensor | None = None
    stderr: Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


def score_samples(denoiser: Denoiser, x: Tensor, kind: str = "nll", cond: Cond | None = None,
                  **kwargs) -> ScoreResult:
    """Score a batch by ``kind`` in ("nll", "elbo", "recon"); ``kwargs`` go to that score's function."""
    if kind == "nll":
        r = log_likelihood(denoiser, x, cond, **kwargs)
        return ScoreResult(r.bits_per_dim.double(), None, r.stderr_bits_per_dim,
                           {"unit": "bits/dim", "nfe": r.nfe})
    if kind == "elbo":
        r = elbo(denoiser, x, cond, **kwargs)
        return ScoreResult(r.bits_per_dim.double(), None, r.stderr / (r.dim * math.log(2)),
                           {"unit": "bits/dim (upper bound)", "nfe": r.nfe})
    if kind == "recon":
        r = reconstruction_maps(denoiser, x, cond, **kwargs)
        return ScoreResult(r.score.double(), r.map, None,
                           {"unit": "mean residual", "nfe": r.nfe, "sigmas": list(r.sigmas)})
    raise ValueError(f"unknown score kind '{kind}'; valid: {', '.join(SCORE_METHODS)}")
