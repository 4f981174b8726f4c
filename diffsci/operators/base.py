r"""The measurement-operator contract: :class:`Operator` (forward only) and :class:`LinearOperator`.

A measurement is ``y = A(x) + n`` with ``n`` Gaussian of standard deviation ``sigma_y`` **in every real
scalar component** (for complex measurements the real and imaginary parts each have std ``sigma_y``, so
``E|n_k|^2 = 2 sigma_y^2``). The noise level is an attribute of the operator: it is part of the
measurement model, and every posterior sampler reads it from there.

Tensors are batched, ``x`` of shape (B, C, *spatial) with 1, 2 or 3 spatial axes; operators act on the
trailing axes and broadcast over the leading ones.

Real and complex. diffsci models are real-valued, so an operator declares its ``input_kind``:

- ``"any"``: a real-valued matrix (identity, mask, downsampling) that keeps the dtype of its input;
- ``"real"``: a complex-valued matrix restricted to real inputs (k-space of a magnitude image). It is the
  real-linear map :math:`\mathbb{R}^n \to \mathbb{C}^m \cong \mathbb{R}^{2m}`, so its adjoint is
  :math:`\mathrm{Re}(A^H y)` and inner products of measurements are :math:`\mathrm{Re}\langle u, v\rangle`;
- ``"complex"``: a complex-linear map of complex inputs. A real model with (re, im) channels uses it
  through :class:`~diffsci.operators.ComplexView`.

Every :class:`LinearOperator` has a regularised pseudo-inverse

.. math:: A^+_\rho\, y = (A^H A + \rho I)^{-1} A^H y = A^H (A A^H + \rho I)^{-1} y,

which is all the posterior samplers need: the projection onto :math:`\{x : Ax = y\}` is
:math:`x + A^+_0 (y - Ax)`, a proximal data step is :math:`z + A^+_\rho (y - Az)`, and pseudo-inverse
guidance uses :math:`A^H (r^2 A A^H + \sigma_y^2 I)^{-1} = r^{-2} A^+_{\sigma_y^2/r^2}`. Operators with
a closed form (identity, mask, downsampling, single-coil Fourier) override it and set
``has_projection = True``; the others fall back to conjugate gradients on the normal equations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["Operator", "LinearOperator", "ComposedOperator", "ComposedLinearOperator", "inner",
           "conjugate_gradient"]

INPUT_KINDS = ("any", "real", "complex")


def inner(a: Tensor, b: Tensor, *, real: bool = False) -> Tensor:
    """Per-sample inner product :math:`\\langle a, b\\rangle = \\sum \\bar a b` over all non-batch axes, (B,).

    With ``real=True`` it returns the real part, the inner product of :math:`\\mathbb{C}^m` seen as
    :math:`\\mathbb{R}^{2m}`.

    >>> inner(torch.tensor([[1j, 2.0]]), torch.tensor([[1j, 1.0]]))
    tensor([3.+0.j])
    """
    p = (a.conj() * b) if (a.is_complex() or b.is_complex()) else a * b
    p = p.reshape(p.shape[0], -1).sum(1)
    return p.real if (real and p.is_complex()) else p


def conjugate_gradient(apply, b: Tensor, *, iters: int = 50, tol: float = 1e-6) -> Tensor:
    """Solve ``apply(z) = b`` for a self-adjoint positive semi-definite ``apply``, batched over dim 0.

    Hestenes & Stiefel (1952); the inner product is the real part of the complex one, so the same code
    solves real-linear systems on complex tensors. Starting from 0, a singular consistent system
    converges to its minimum-norm solution. Stops when every sample's residual norm is below
    ``tol`` times the norm of its right-hand side.

    Written here because torch has no CG and scipy's ``cg`` runs on NumPy arrays: one system at a time,
    on the CPU, outside autograd.
    """
    def dot(u, v):
        return inner(u, v, real=True)

    z = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = dot(r, r)
    stop = tol ** 2 * rs.clamp_min(torch.finfo(rs.dtype).tiny)
    for _ in range(iters):
        if bool((rs <= stop).all()):
            break
        Ap = apply(p)
        pAp = dot(p, Ap)
        alpha = torch.where(pAp > 0, rs / pAp.clamp_min(torch.finfo(rs.dtype).tiny), torch.zeros_like(rs))
        shape = (-1,) + (1,) * (b.ndim - 1)
        z = z + alpha.reshape(shape) * p
        r = r - alpha.reshape(shape) * Ap
        rs_new = dot(r, r)
        beta = torch.where(rs > 0, rs_new / rs.clamp_min(torch.finfo(rs.dtype).tiny), torch.zeros_like(rs))
        p = r + beta.reshape(shape) * p
        rs = rs_new
    return z


class Operator(nn.Module):
    """A (possibly nonlinear) measurement operator ``y = A(x) + n``, n ~ N(0, sigma_y^2) per real component.

    Subclasses implement :meth:`forward` and :meth:`measurement_shape` (and :meth:`input_shape` where the
    input shape can be read off a measurement). It is an ``nn.Module`` only so that ``.to(device)`` moves
    its masks and sensitivities; it has no trainable parameters.

    Attributes:
        sigma_y: measurement noise std per real scalar component.
        input_kind: ``"any"``, ``"real"`` or ``"complex"`` (see the module docstring).
        complex_output: True when measurements are complex (Fourier operators).
    """

    input_kind: str = "any"
    complex_output: bool = False

    def __init__(self, sigma_y: float = 0.0):
        super().__init__()
        sigma_y = float(sigma_y)
        if not (sigma_y >= 0 and math.isfinite(sigma_y)):
            raise ValueError(f"sigma_y must be a finite number >= 0, got {sigma_y}")
        self.sigma_y = sigma_y

    # --- the contract ---------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of ``A(x)`` for an input of shape ``x_shape``; a ValueError when the input cannot be measured."""
        return tuple(x_shape)

    def input_shape(self, y_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of the ``x`` that produces a measurement of shape ``y_shape``."""
        return tuple(y_shape)

    @property
    def name(self) -> str:
        return type(self).__name__

    # --- measuring and checking -----------------------------------------------------------------
    def measure(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Simulate a measurement ``A(x) + sigma_y n`` (complex noise: std sigma_y in re and im)."""
        y = self.forward(x)
        if self.sigma_y > 0:
            real_dtype = y.real.dtype if y.is_complex() else y.dtype
            gdev = generator.device if generator is not None else y.device
            n = torch.randn((*y.shape, 2) if y.is_complex() else y.shape, generator=generator,
                            device=gdev, dtype=real_dtype).to(y.device)
            n = torch.view_as_complex(n) if y.is_complex() else n
            support = self.measured(y)
            y = y + self.sigma_y * (n if support is None else support * n)
        return y

    def measured(self, y: Tensor) -> Tensor | None:
        """Where the measurement holds data (0/1, broadcasting against y), or None for everywhere.

        Entries outside it (unmeasured pixels, unsampled k-space) stay exactly 0 in simulated measurements.
        """
        return None

    def check_input(self, x: Tensor, what: str = "input") -> None:
        """Raise a ValueError when ``x`` has the wrong kind (real/complex) or shape for this operator."""
        if self.input_kind == "real" and x.is_complex():
            raise ValueError(f"{what} is complex ({x.dtype}) but {self.name} has a real input domain "
                             "(complex_input=False); pass complex_input=True for complex images, or view a "
                             "real (re, im) channel model through ComplexView")
        if self.input_kind == "complex" and not x.is_complex():
            raise ValueError(f"{what} is real ({x.dtype}) but {self.name} has a complex input domain; "
                             "a real model with (re, im) channels must use ComplexView(operator)")
        self.measurement_shape(x.shape)

    def check_measurement(self, y: Tensor, x_shape: Sequence[int], *, complex_input: bool = False,
                          what: str = "measurement") -> None:
        """Raise a ValueError naming both shapes when ``y`` is not what ``A`` makes of an input of ``x_shape``.

        ``complex_input`` says whether the inputs are complex (they never are for a diffsci model).
        """
        expected = self.measurement_shape(x_shape)
        if tuple(y.shape) != tuple(expected):
            raise ValueError(f"{what} has shape {tuple(y.shape)}, but {self.name} maps an input of shape "
                             f"{tuple(x_shape)} to a measurement of shape {tuple(expected)}")
        if self.complex_output and not y.is_complex():
            raise ValueError(f"{what} is real ({y.dtype}) but {self.name} makes complex measurements "
                             f"(expected a complex array of shape {tuple(expected)})")
        if not self.complex_output and y.is_complex() and not complex_input:
            raise ValueError(f"{what} is complex ({y.dtype}, shape {tuple(y.shape)}) but {self.name} is a "
                             "real operator on a real model: complex data cannot be given to a real model. "
                             "Use a Fourier operator for k-space, or a (re, im) channel model with ComplexView")

    def __matmul__(self, other: "Operator") -> "Operator":
        if isinstance(self, LinearOperator) and isinstance(other, LinearOperator):
            return ComposedLinearOperator(self, other)
        return ComposedOperator(self, other)

    def extra_repr(self) -> str:
        return f"sigma_y={self.sigma_y:g}, input_kind={self.input_kind!r}"


class LinearOperator(Operator):
    r"""A linear operator with its adjoint, :math:`A^H`; composition (``A @ B``), normal operator and pseudo-inverse.

    Subclasses implement :meth:`forward` and :meth:`adjoint`; those with a closed-form pseudo-inverse
    override :meth:`pinv` and set ``has_projection = True``.
    """

    has_projection: bool = False
    #: conjugate-gradient iterations of the default :meth:`pinv`
    cg_iters: int = 100
    cg_tol: float = 1e-7

    def adjoint(self, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def normal(self, x: Tensor) -> Tensor:
        """:math:`A^H A x`."""
        return self.adjoint(self.forward(x))

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        r""":math:`(A^H A + \rho I)^{-1} A^H y`; ``rho = 0`` is the Moore-Penrose pseudo-inverse :math:`A^+ y`.

        Default: conjugate gradients on the normal equations in the input space (inexact: ``cg_iters``).
        """
        b = self.adjoint(y)
        return conjugate_gradient(lambda z: self.normal(z) + rho * z, b, iters=self.cg_iters, tol=self.cg_tol)

    def project(self, x: Tensor, y: Tensor) -> Tensor:
        r"""Orthogonal projection of ``x`` onto :math:`\{x : Ax = y\}`: :math:`x + A^+(y - Ax)`.

        Only for operators with an exact pseudo-inverse (``has_projection``); a ValueError otherwise.
        """
        if not self.has_projection:
            raise ValueError(f"{self.name} has no exact projection onto the measured set; use a guided "
                             "sampler (dps, pigdm, diffpir) or the noise-aware data consistency instead")
        return x + self.pinv(y - self.forward(x))

    def adjointness_gap(self, x: Tensor, y: Tensor) -> float:
        r"""Relative gap :math:`|\langle Ax, y\rangle - \langle x, A^H y\rangle| / (\|Ax\| \|y\|)`.

        The inner products are complex unless the input domain is real, where they are real parts
        (the adjoint of a real-input operator is the adjoint of the real-linear map).
        """
        real = self.input_kind == "real" or not (x.is_complex() or y.is_complex())
        lhs = inner(self.forward(x), y, real=real).sum()
        rhs = inner(x, self.adjoint(y), real=real).sum()
        scale = self.forward(x).abs().pow(2).sum().sqrt() * y.abs().pow(2).sum().sqrt()
        return float((lhs - rhs).abs() / scale.clamp_min(torch.finfo(scale.dtype).tiny))


class ComposedOperator(Operator):
    """``A @ B``: x -> A(B(x)) for operators of which at least one is nonlinear."""

    def __init__(self, outer: Operator, inner_op: Operator):
        super().__init__(outer.sigma_y)
        self.outer, self.inner_op = outer, inner_op
        self.input_kind = inner_op.input_kind
        self.complex_output = outer.complex_output or (inner_op.complex_output and outer.input_kind == "any")

    @property
    def name(self) -> str:
        return f"{self.outer.name} @ {self.inner_op.name}"

    def forward(self, x: Tensor) -> Tensor:
        return self.outer(self.inner_op(x))

    def measured(self, y: Tensor) -> Tensor | None:
        return self.outer.measured(y)

    def measurement_shape(self, x_shape):
        return self.outer.measurement_shape(self.inner_op.measurement_shape(x_shape))

    def input_shape(self, y_shape):
        return self.inner_op.input_shape(self.outer.input_shape(y_shape))


class ComposedLinearOperator(ComposedOperator, LinearOperator):
    """``A @ B`` of two linear operators: forward A B, adjoint B^H A^H; noise level of the outer one."""

    def adjoint(self, y: Tensor) -> Tensor:
        return self.inner_op.adjoint(self.outer.adjoint(y))
