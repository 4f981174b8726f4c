"""Measurement operators ``y = A(x) + n``: the forward models of inverse problems, in 1D, 2D and 3D.

Two levels: :class:`Operator` (forward only; DPS needs no more) and :class:`LinearOperator` (adjoint,
normal operator, composition ``A @ B``, regularised pseudo-inverse, exact projection where one exists).
The noise std ``sigma_y`` (per real component) lives on the operator. See docs/inverse.md.
"""

from .base import ComposedLinearOperator, ComposedOperator, LinearOperator, Operator, conjugate_gradient, inner
from .complex_view import ComplexView, to_complex, to_real
from .downsample import Downsample
from .fourier import SubsampledFourier
from .identity import Identity
from .mask import Mask
from .multicoil import MultiCoilFourier
from .plane import Plane
from .spec import GRAMMAR, parse_operator

#: Every built-in linear operator class; the contract test (tests/operators/test_contract.py) builds
#: each in 1D, 2D and 3D, real and complex, and checks <Ax, y> = <x, A^H y>.
OPERATORS = {"identity": Identity, "mask": Mask, "downsample": Downsample, "fourier": SubsampledFourier,
             "multicoil": MultiCoilFourier, "plane": Plane, "complex_view": ComplexView}

__all__ = ["Operator", "LinearOperator", "ComposedOperator", "ComposedLinearOperator", "Identity", "Mask",
           "Downsample", "SubsampledFourier", "MultiCoilFourier", "Plane", "ComplexView", "to_complex", "to_real",
           "inner", "conjugate_gradient", "parse_operator", "GRAMMAR", "OPERATORS"]
