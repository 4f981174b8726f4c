"""Multi-shot posterior sampling: K samples per measurement, their mean and per-location std (uncertainty map)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..conditioning import Cond
from ..operators.base import Operator
from ..types import Denoiser

__all__ = ["PosteriorSamples", "reduce_shots", "multishot"]


@dataclass
class PosteriorSamples:
    """K posterior samples of each of B measurements.

    Attributes:
        samples: (B, K, C, *spatial).
        mean: (B, C, *spatial), the posterior-mean estimate (the MMSE reconstruction).
        std: (B, C, *spatial), the per-location sample standard deviation (ddof=1; 0 when K = 1).
    """

    samples: Tensor
    mean: Tensor
    std: Tensor

    @property
    def shots(self) -> int:
        return self.samples.shape[1]


def reduce_shots(samples: Tensor, shots: int) -> PosteriorSamples:
    """(B*K, ...) with sample i's shots in rows i*K ... i*K+K-1 (``repeat_interleave`` order) -> PosteriorSamples.

    >>> import torch
    >>> r = reduce_shots(torch.tensor([[1.0], [3.0], [10.0], [10.0]]), 2)
    >>> r.mean.tolist(), r.std.tolist()
    ([[2.0], [10.0]], [[1.4142135381698608], [0.0]])
    """
    if samples.shape[0] % shots:
        raise ValueError(f"{samples.shape[0]} samples cannot be split into groups of {shots} shots")
    s = samples.reshape(samples.shape[0] // shots, shots, *samples.shape[1:])
    std = s.std(dim=1, unbiased=True) if shots > 1 else torch.zeros_like(s[:, 0])
    return PosteriorSamples(samples=s, mean=s.mean(dim=1), std=std)


def multishot(method: str | Callable, denoiser: Denoiser, shape: Sequence[int], sigmas: Tensor, *,
              operator: Operator, measurement: Tensor, shots: int, cond: Cond | None = None,
              generator: torch.Generator | None = None, callback=None, max_batch: int | None = None,
              **method_kwargs) -> PosteriorSamples:
    """Draw ``shots`` posterior samples for each of the B measurements and reduce them.

    Every item of the batch (measurement, condition) is repeated K times (``repeat_interleave``),
    independent initial noise ~ N(0, sigmas[0]^2) is drawn for each copy, the posterior sampler runs in
    chunks of at most ``max_batch`` rows, and the K samples are reduced to mean and std.

    Args:
        method: a name of :data:`diffsci.guidance.METHODS` ("dc", "dps", "pigdm", "diffpir") or a sampler
            with the posterior-sampler signature.
        shape: (B, C, *spatial) of the estimates.
        measurement: (B, *meas) or (1, *meas).
        method_kwargs: passed on to the sampler (e.g. ``sampler="heun"``, ``step_size=``).
    """
    from . import get_method
    fn = get_method(method) if isinstance(method, str) else method
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    shape = tuple(int(s) for s in shape)
    b = shape[0]
    y = torch.as_tensor(measurement)
    if y.shape[0] == 1 and b > 1:
        y = y.expand(b, *y.shape[1:])
    if y.shape[0] != b:
        raise ValueError(f"measurement has batch {y.shape[0]} (shape {tuple(y.shape)}) but the estimates have "
                         f"batch {b} (shape {shape})")
    y = y.repeat_interleave(shots, dim=0)
    c = cond.repeat_interleave(shots) if cond is not None else None
    dtype = sigmas.dtype if sigmas.is_floating_point() else torch.float32
    gdev = generator.device if generator is not None else sigmas.device
    x = torch.randn((b * shots, *shape[1:]), generator=generator, device=gdev, dtype=dtype).to(sigmas.device)
    x = x * sigmas[0]
    step = max_batch or x.shape[0]
    out = []
    for lo in range(0, x.shape[0], step):
        hi = min(lo + step, x.shape[0])
        out.append(fn(denoiser, x[lo:hi], sigmas, operator=operator, measurement=y[lo:hi],
                      cond=c.index(slice(lo, hi)) if c is not None else None, callback=callback,
                      generator=generator, **method_kwargs))
    return reduce_shots(torch.cat(out), shots)
