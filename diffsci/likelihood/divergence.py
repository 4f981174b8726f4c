"""Divergence of a sample-wise vector field: exact (Jacobian trace over a basis) or Hutchinson estimates.

The field ``fn`` maps a batch (B, *event) to (B, *event) and must act on each sample on its own
(no batch statistics), so that one Jacobian product with the same vector in every sample gives every
sample's own product.

* exact: tr J = sum_i e_i^T J e_i over the d basis vectors, in chunks (d products);
* Hutchinson (1989): tr J = E[v^T J v] for probes with E[v v^T] = I (Rademacher or Gaussian), K products.

How the n products of one call are computed (``mode``):

* ``"batched"`` (default): tile the batch n times, run ``fn`` once on (n B, *event) and take one
  vector-Jacobian product by ``torch.autograd.grad``. Plain batched kernels, so it works for every
  op with a backward (flash attention, checkpointing, custom kernels). ``fn`` must accept the tiled
  batch: row j B + b is sample b (see :func:`tile`). Costs n forward passes.
* ``"reverse"``: ``torch.func.vjp`` once, then the n backward passes vmapped (one forward pass; needs
  vmap batching rules: PyTorch 2.13 falls back to a slow loop for CPU flash-attention's backward).
* ``"forward"``: ``torch.func.jvp`` vmapped (forward-mode AD; not every op has a rule, e.g. SDPA).

All of them work inside ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jvp, vjp, vmap

__all__ = ["exact_divergence", "hutchinson_divergence", "make_probes", "tile", "PROBES", "MODES"]

PROBES = ("rademacher", "gaussian")
MODES = ("batched", "reverse", "forward")

#: elements of (chunk, B, d) per call of the exact trace when no chunk size is given: the tiled network
#: input of mode "batched" (its activations are ~100x larger), the basis block of the vmapped modes
_EXACT_BUDGET = {"batched": 2 ** 18, "reverse": 2 ** 22, "forward": 2 ** 22}


def tile(x: Tensor, n: int) -> Tensor:
    """(B, ...) -> (n B, ...) with row j B + b = x[b]: the batch layout of ``mode="batched"``.

    >>> tile(torch.tensor([1, 2]), 2).tolist()
    [1, 2, 1, 2]
    """
    return x.repeat(n, *[1] * (x.ndim - 1))


def _products(fn: Callable[[Tensor], Tensor], x: Tensor, mode: str):
    """A function V (n, B, *event) -> (P (n, B, *event), fn(x)) with P = J V (forward) or V^T J (otherwise)."""
    if mode == "batched":
        def prod(v: Tensor) -> tuple[Tensor, Tensor]:
            n = v.shape[0]
            with torch.enable_grad():
                xr = tile(x.detach(), n).requires_grad_(True)
                out = fn(xr)
                (g,) = torch.autograd.grad(out, xr, grad_outputs=v.reshape(out.shape).to(out.dtype))
            return g.reshape(v.shape), out[:x.shape[0]].detach()
        return prod
    if mode == "reverse":
        out, pullback = vjp(fn, x)
        batched = vmap(lambda v: pullback(v)[0])
        return lambda v: (batched(v), out)
    if mode == "forward":
        out = fn(x)
        batched = vmap(lambda v: jvp(fn, (x,), (v,))[1])
        return lambda v: (batched(v), out)
    raise ValueError(f"unknown mode '{mode}'; valid: {', '.join(MODES)}")


def exact_divergence(fn: Callable[[Tensor], Tensor], x: Tensor, *, mode: str = "batched",
                     chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Per-sample Jacobian trace of ``fn`` at ``x``, tr(d fn / d x), with d Jacobian products.

    Args:
        fn: sample-wise map (B, *event) -> (B, *event).
        x: (B, *event).
        mode: "batched", "reverse" or "forward" (see the module docstring).
        chunk_size: basis vectors per call (default: 2^18 elements of (chunk, B, d) for "batched",
            2^22 for the vmapped modes).

    Returns:
        (fn(x), trace) with trace of shape (B,).

    >>> x = torch.ones(2, 3)
    >>> out, tr = exact_divergence(lambda x: 2 * x ** 2, x)  # J = diag(4 x)
    >>> tr.tolist()
    [12.0, 12.0]
    """
    b, d = x.shape[0], x[0].numel()
    prod = _products(fn, x, mode)
    chunk = chunk_size or max(1, min(d, _EXACT_BUDGET[mode] // max(1, b * d)))
    trace, out = x.new_zeros(b), None
    for i0 in range(0, d, chunk):
        i1 = min(d, i0 + chunk)
        idx = torch.arange(i1 - i0, device=x.device)
        basis = x.new_zeros(i1 - i0, b, d)
        basis[idx, :, i0 + idx] = 1                              # e_i in every sample
        rows, out = prod(basis.reshape(i1 - i0, *x.shape))
        trace = trace + rows.reshape(i1 - i0, b, d)[idx, :, i0 + idx].sum(0)   # sum_i (J e_i)_i
    return out, trace


def make_probes(k: int, x: Tensor, kind: str = "rademacher", generator: torch.Generator | None = None) -> Tensor:
    """K probe vectors per sample with E[v v^T] = I, shape (K, *x.shape), x's dtype and device.

    >>> v = make_probes(4, torch.zeros(2, 3), generator=torch.Generator().manual_seed(0))
    >>> v.shape, bool((v.abs() == 1).all())
    (torch.Size([4, 2, 3]), True)
    """
    shape = (k, *x.shape)
    gdev = generator.device if generator is not None else x.device
    if kind == "rademacher":
        v = torch.randint(0, 2, shape, generator=generator, device=gdev).to(x.dtype) * 2 - 1
    elif kind == "gaussian":
        v = torch.randn(shape, generator=generator, device=gdev, dtype=x.dtype)
    else:
        raise ValueError(f"unknown probe kind '{kind}'; valid: {', '.join(PROBES)}")
    return v.to(x.device)


def hutchinson_divergence(fn: Callable[[Tensor], Tensor], x: Tensor, probes: Tensor, *,
                          mode: str = "batched") -> tuple[Tensor, Tensor]:
    """Hutchinson's unbiased trace estimates v_k^T J v_k, one per probe (Hutchinson 1989).

    Args:
        fn: sample-wise map (B, *event) -> (B, *event).
        x: (B, *event).
        probes: (K, B, *event) with E[v v^T] = I (see :func:`make_probes`).
        mode: "batched", "reverse" or "forward".

    Returns:
        (fn(x), estimates) with estimates of shape (K, B); their mean over K estimates tr J.
    """
    if probes.shape[1:] != x.shape:
        raise ValueError(f"probes have shape {tuple(probes.shape)}, expected (K, {', '.join(map(str, x.shape))})")
    jv, out = _products(fn, x, mode)(probes)
    return out, (probes * jv).reshape(probes.shape[0], x.shape[0], -1).sum(-1)
