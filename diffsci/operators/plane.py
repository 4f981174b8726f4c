r"""One plane of a volume (a line of an image, a sample of a signal): :math:`y = x[\dots, i, \dots]`.

The measurement drops the measured axis: a (B, C, D, H, W) volume gives a (B, C, H, W) slice, so a 2D micrograph
or one MRI slice is the measurement as it is stored. Selecting one index along an axis has
:math:`A A^H = I`, so

.. math:: A^+_\rho\, y = \frac{A^H y}{1 + \rho}, \qquad \Pi_y(x) = x \text{ with the plane replaced by } y,

where :math:`A^H y` is a zero volume holding ``y`` in the plane. (:class:`~diffsci.operators.Mask` measures the
same plane but keeps the volume's shape, zeros off the plane.)
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .base import LinearOperator

__all__ = ["Plane"]


class Plane(LinearOperator):
    """Measure the plane ``index`` along spatial axis ``axis`` (0 = the first spatial axis).

    Args:
        axis: spatial axis across the plane.
        index: its position (negative counts from the end); None: the middle, ``size // 2``, of each input.
        depth: the input's size along ``axis``, needed to go from a measurement to an input
            (:meth:`input_shape`, :meth:`adjoint`); None: the measurement's first spatial side (a cube from a
            square slice).
        sigma_y: noise std of the measured plane.

    >>> import torch
    >>> A = Plane(axis=0, index=1)
    >>> x = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    >>> A(x).tolist()
    [[[[4.0, 5.0], [6.0, 7.0]]]]
    >>> A.input_shape((1, 1, 2, 2))
    (1, 1, 2, 2, 2)
    """

    has_projection = True

    def __init__(self, axis: int = 0, index: int | None = None, depth: int | None = None, sigma_y: float = 0.0):
        super().__init__(sigma_y)
        if int(axis) != axis or axis < 0:
            raise ValueError(f"axis must be a spatial axis index >= 0, got {axis}")
        if depth is not None and int(depth) < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.axis = int(axis)
        self.index = None if index is None else int(index)
        self.depth = None if depth is None else int(depth)

    def extra_repr(self) -> str:
        where = "middle" if self.index is None else self.index
        return f"axis={self.axis}, index={where}, depth={self.depth}, " + super().extra_repr()

    def _position(self, size: int) -> int:
        i = size // 2 if self.index is None else self.index
        if not -size <= i < size:
            raise ValueError(f"plane index {i} is outside an axis of size {size} (spatial axis {self.axis})")
        return i % size

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        x_shape = tuple(x_shape)
        if len(x_shape) < 3 or self.axis >= len(x_shape) - 2:
            raise ValueError(f"an input of shape {x_shape} (B, C, *spatial) has no spatial axis {self.axis}")
        self._position(x_shape[2 + self.axis])
        return x_shape[:2 + self.axis] + x_shape[3 + self.axis:]

    def input_shape(self, y_shape: Sequence[int]) -> tuple[int, ...]:
        y_shape = tuple(y_shape)
        if len(y_shape) < 2 or self.axis > len(y_shape) - 2:
            raise ValueError(f"a measurement of shape {y_shape} (B, C, *plane) cannot be a plane across spatial "
                             f"axis {self.axis}")
        depth = self.depth
        if depth is None:
            if len(y_shape) < 3:
                raise ValueError("the measured plane has no spatial side to take the depth from: give depth=")
            depth = y_shape[2]
        x_shape = y_shape[:2 + self.axis] + (depth,) + y_shape[2 + self.axis:]
        self._position(depth)
        return x_shape

    def forward(self, x: Tensor) -> Tensor:
        self.measurement_shape(x.shape)
        return x.select(2 + self.axis, self._position(x.shape[2 + self.axis]))

    def adjoint(self, y: Tensor) -> Tensor:
        shape = self.input_shape(y.shape)
        x = y.new_zeros(shape)
        x.select(2 + self.axis, self._position(shape[2 + self.axis])).copy_(y)
        return x

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        return self.adjoint(y) / (1 + rho)

    def project(self, x: Tensor, y: Tensor) -> Tensor:
        out = x.clone()
        out.select(2 + self.axis, self._position(x.shape[2 + self.axis])).copy_(y)
        return out
