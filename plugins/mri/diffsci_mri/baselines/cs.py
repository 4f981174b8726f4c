"""Compressed-sensing MRI (Lustig, Donoho & Pauly 2007) solved by primal-dual hybrid gradient.

Solves, for every slice of a batch,

.. math::
    \\hat x = \\arg\\min_{x \\in \\mathcal C} \\tfrac12 \\|A x - y\\|_2^2 + \\lambda \\|\\Psi x\\|_{2,1}

with :math:`\\Psi` total variation (isotropic finite differences) or an orthonormal wavelet, and
:math:`\\mathcal C` the complex images, the real ones, or the non-negative real ones. Chambolle & Pock
(2011), Algorithm 1, with :math:`K = [A; \\Psi]`:

.. math::
    p \\leftarrow \\frac{p + \\sigma(A\\bar x - y)}{1+\\sigma},\\quad
    q \\leftarrow \\Pi_{\\|\\cdot\\|_{2,\\infty}\\le\\lambda}(q + \\sigma\\Psi\\bar x),\\quad
    x' \\leftarrow \\Pi_{\\mathcal C}(x - \\tau(A^H p + \\Psi^H q)),\\quad \\bar x \\leftarrow 2x' - x

Written here rather than with SigPy's ``TotalVariationRecon`` / ``L1WaveletRecon`` because those
optimise over complex images only: a magnitude-image benchmark must give CS the same real,
non-negative image space as the diffusion prior, and the torch version runs a whole batch of slices
at once through the same (adjointness-tested) operators as the diffusion samplers. Its solution is
checked against SigPy's on the complex problem in the tests.

``A`` is any object with ``forward(x)`` and ``adjoint(y)`` (e.g. ``diffsci.operators.SubsampledFourier``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .sparsity import FiniteDifference, Wavelet, l1_norm

__all__ = ["CSResult", "cs_reconstruct", "cs_objective", "operator_norm_sq", "tune_lambda", "make_sparsity"]

Constraint = Literal["complex", "real", "nonneg"]


@dataclass
class CSResult:
    """The reconstruction, its objective value per slice and the objective history (every ``record_every``)."""

    x: Tensor
    objective: Tensor
    history: list[Tensor] = field(default_factory=list)
    iterations: int = 0


def make_sparsity(kind: str, **kw):
    """``"tv"`` -> :class:`FiniteDifference`, ``"wavelet"`` -> :class:`Wavelet` (kw: wavelet, level)."""
    if kind == "tv":
        return FiniteDifference()
    if kind == "wavelet":
        return Wavelet(**kw)
    raise ValueError(f"unknown sparsity '{kind}'; valid: tv, wavelet")


def _project(x: Tensor, constraint: Constraint) -> Tensor:
    if constraint == "complex":
        return x
    x = x.real if x.is_complex() else x
    return x.clamp_min(0) if constraint == "nonneg" else x


def _adjoint(A, p: Tensor, constraint: Constraint) -> Tensor:
    # restricted to real images, the adjoint of x -> A x under <u, v> = Re(u^H v) is Re(A^H p)
    a = A.adjoint(p)
    return a if constraint == "complex" or not a.is_complex() else a.real


def operator_norm_sq(A, Psi, x0: Tensor, constraint: Constraint = "complex", iters: int = 30,
                     generator: torch.Generator | None = None) -> float:
    """Largest eigenvalue of K^H K = A^H A + Psi^H Psi by power iteration (a bound on ||K||^2)."""
    v = torch.randn(x0.shape, generator=generator, dtype=x0.real.dtype).to(x0.device)
    if constraint == "complex" and x0.is_complex():
        v = torch.complex(v, torch.randn(x0.shape, generator=generator, dtype=v.dtype).to(x0.device))
    lam = 0.0
    for _ in range(iters):
        v = v / v.abs().square().sum().sqrt()
        w = _adjoint(A, A.forward(v), constraint) + Psi.adjoint(Psi.forward(v))
        lam = float((w.conj() * v).real.sum() if w.is_complex() else (w * v).sum())
        v = w
    return lam


def cs_objective(A, Psi, x: Tensor, y: Tensor, lam: float | Tensor) -> Tensor:
    """Per-slice objective 1/2 ||A x - y||^2 + lam ||Psi x||_{2,1}, shape (B,)."""
    r = A.forward(x) - y
    data = 0.5 * r.abs().square().reshape(r.shape[0], -1).sum(dim=1)
    return data + torch.as_tensor(lam, dtype=data.dtype) * l1_norm(Psi.forward(x), Psi.group_dims)


def cs_reconstruct(A, y: Tensor, lam: float | Tensor, *, sparsity: str = "tv",
                   constraint: Constraint = "nonneg", iters: int = 300, x0: Tensor | None = None,
                   record_every: int = 0, tol: float = 0.0, sparsity_kw: dict | None = None,
                   step_balance: float = 0.1, callback: Callable[[int, Tensor], None] | None = None) -> CSResult:
    """Compressed-sensing reconstruction by PDHG (Chambolle & Pock 2011, Alg. 1).

    Args:
        A: measurement operator, ``forward`` (B, C, H, W) image -> k-space, ``adjoint`` back.
        y: measured k-space, as ``A.forward`` returns it.
        lam: regularisation weight (scalar, or (B,) per slice).
        sparsity: ``"tv"`` (isotropic total variation) or ``"wavelet"`` (orthonormal db4, 4 levels).
        constraint: ``"complex"``, ``"real"`` or ``"nonneg"`` image space.
        iters: maximum number of PDHG iterations.
        x0: starting image (default: the zero-filled ``A^H y`` projected on the constraint).
        record_every: record the objective every this many iterations (0: never).
        tol: stop when the relative change of x falls below ``tol`` (0: run all iterations).
        step_balance: b in tau = 1 / (b ||K||), sigma = b / ||K|| (tau sigma ||K||^2 = 1 either way).
            For images scaled to about [0, 1], b = 0.1 converges in ~300 iterations where b = 1 needs
            ~3000 (measured on a 128x128 Shepp-Logan phantom, 4x).

    Returns:
        :class:`CSResult` with ``x`` (B, C, H, W), the final objective (B,) and its history.
    """
    Psi = make_sparsity(sparsity, **(sparsity_kw or {}))
    x = _project(A.adjoint(y) if x0 is None else x0, constraint)
    L2 = operator_norm_sq(A, Psi, x, constraint) * 1.01
    tau, sigma = 1.0 / (step_balance * L2 ** 0.5), step_balance / L2 ** 0.5    # tau sigma ||K||^2 <= 1
    lam_t = torch.as_tensor(lam, dtype=x.real.dtype, device=x.device)
    lam_b = lam_t.reshape(-1, *([1] * (Psi.forward(x).ndim - 1))) if lam_t.ndim else lam_t
    p = torch.zeros_like(y)
    q = torch.zeros_like(Psi.forward(x))
    x_bar = x
    history: list[Tensor] = []
    it = 0
    for it in range(1, iters + 1):
        p = (p + sigma * (A.forward(x_bar) - y)) / (1 + sigma)          # prox of sigma F*, F = 1/2||.-y||^2
        q = q + sigma * Psi.forward(x_bar)
        mag = q.abs().square().sum(dim=Psi.group_dims, keepdim=True).sqrt() if Psi.group_dims else q.abs()
        q = q / torch.clamp(mag / lam_b, min=1.0)                        # projection on the l2,inf ball
        x_new = _project(x - tau * (_adjoint(A, p, constraint) + Psi.adjoint(q)), constraint)
        x_bar = 2 * x_new - x                                           # over-relaxation (theta = 1)
        change = (x_new - x).abs().square().sum().sqrt() / x_new.abs().square().sum().sqrt().clamp_min(1e-12)
        x = x_new
        if record_every and it % record_every == 0:
            history.append(cs_objective(A, Psi, x, y, lam_t))
        if callback is not None:
            callback(it, x)
        if tol and float(change) < tol:
            break
    return CSResult(x, cs_objective(A, Psi, x, y, lam_t), history, it)


def tune_lambda(reconstruct: Callable[[float], Tensor], reference: Tensor, score: Callable[[Tensor, Tensor], float],
                grid: Sequence[float]) -> tuple[float, dict[float, float]]:
    """Pick the lambda of ``grid`` that maximises ``score(reconstruct(lam), reference)`` (training data only).

    Returns the best lambda and the score of every candidate.
    """
    scores = {float(lam): float(score(reconstruct(lam), reference)) for lam in grid}
    best = max(scores, key=scores.get)
    return best, scores
