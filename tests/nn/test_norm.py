"""group_norm_silu: the fused, memory-lean SiLU(GroupNorm * gamma + beta) against plain autograd."""

import pytest
import torch
import torch.nn.functional as F

from diffsci.nn.norm import group_norm_silu

CASES = [((3, 8, 10), (3, 8), None), ((2, 6, 5, 4), (6,), None), ((2, 4, 3, 3, 3), (2, 4), None),
         ((3, 8, 5, 4), (3, 8), torch.channels_last), ((2, 4, 3, 3, 3), (4,), torch.channels_last_3d)]


def _reference(x, groups, gamma, beta):
    g = gamma if gamma.ndim == 2 else gamma[None]
    b = beta if beta.ndim == 2 else beta[None]
    shape = (*g.shape, *[1] * (x.ndim - 2))
    return F.silu(F.group_norm(x, groups, eps=1e-6) * g.reshape(shape) + b.reshape(shape))


def _inputs(shape, gshape, fmt, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = 3 + 2 * torch.randn(shape, generator=gen, dtype=torch.float64)     # a non-zero mean on purpose
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    gamma = torch.randn(gshape, generator=gen, dtype=torch.float64)
    beta = torch.randn(gshape, generator=gen, dtype=torch.float64)
    return [t.requires_grad_() for t in (x, gamma, beta)]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")     # inside gradcheck
@pytest.mark.parametrize("shape,gshape,fmt", CASES)
def test_matches_plain_autograd_and_gradcheck(shape, gshape, fmt):
    x, gamma, beta = _inputs(shape, gshape, fmt)
    out = group_norm_silu(x, 2, gamma, beta)
    assert out.grad_fn is not None and "GroupNormSiLU" in type(out.grad_fn).__name__   # the fused node ran
    ref = _reference(x, 2, gamma, beta)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), (x, gamma, beta))
    ref_grads = torch.autograd.grad((ref * w).sum(), (x, gamma, beta))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda *a: group_norm_silu(a[0], 2, a[1], a[2]), (x, gamma, beta))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torch_func_transforms_use_plain_ops():
    """Under torch.func (used by the exact likelihood) the same values and Jacobian products come out."""
    x, gamma, beta = (t.detach() for t in _inputs((2, 4, 6), (2, 4), None))
    fn = lambda v: group_norm_silu(v, 2, gamma, beta)                  # noqa: E731
    out, pullback = torch.func.vjp(fn, x)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    _, ref_pullback = torch.func.vjp(lambda v: _reference(v, 2, gamma, beta), x)
    torch.testing.assert_close(pullback(w)[0], ref_pullback(w)[0])
    _, tangent = torch.func.jvp(fn, (x,), (w,))
    _, ref_tangent = torch.func.jvp(lambda v: _reference(v, 2, gamma, beta), (x,), (w,))
    torch.testing.assert_close(tangent, ref_tangent)


def test_no_grad_path():
    x, gamma, beta = (t.detach() for t in _inputs((2, 4, 6), (4,), None))
    with torch.no_grad():
        torch.testing.assert_close(group_norm_silu(x, 4, gamma, beta), _reference(x, 4, gamma, beta))
