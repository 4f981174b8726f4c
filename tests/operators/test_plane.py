import pytest
import torch

from diffsci.operators import Mask, Plane, parse_operator


def test_a_plane_is_the_mask_of_that_plane_without_the_zeros():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 5, 6, 7, generator=g, dtype=torch.float64)
    for axis, index in ((0, 3), (1, -1), (2, None)):
        op = Plane(axis, index)
        i = (x.shape[2 + axis] // 2 if index is None else index) % x.shape[2 + axis]
        m = torch.zeros(5, 6, 7, dtype=torch.float64)
        m.select(axis, i).fill_(1)
        y = op(x)
        assert y.shape == tuple(s for d, s in enumerate(x.shape) if d != 2 + axis)
        torch.testing.assert_close(Plane(axis, index, depth=x.shape[2 + axis]).adjoint(y), Mask(m)(x))
        p = op.project(torch.zeros_like(x), y)                # the plane replaced, nothing else touched
        torch.testing.assert_close(p, Mask(m)(x))


def test_plane_shapes_and_errors():
    op = Plane(axis=0)                                       # middle index, depth from the slice (a cube)
    assert op.input_shape((1, 1, 8, 8)) == (1, 1, 8, 8, 8)
    assert Plane(axis=1, depth=4).input_shape((1, 1, 8, 8)) == (1, 1, 8, 4, 8)
    with pytest.raises(ValueError, match="no spatial axis 2"):
        Plane(axis=2).measurement_shape((1, 1, 8, 8))
    with pytest.raises(ValueError, match="index 9 is outside an axis of size 8"):
        Plane(axis=0, index=9)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="give depth="):
        Plane(axis=0).input_shape((1, 1))
    with pytest.raises(ValueError, match="axis must be"):
        Plane(axis=-1)


def test_plane_spec():
    op = parse_operator("plane:axis=1,index=3,sigma=0.1")
    assert isinstance(op, Plane) and (op.axis, op.index, op.depth, op.sigma_y) == (1, 3, None, 0.1)
    op = parse_operator("plane:axis=0,depth=16")
    assert op.index is None and op.depth == 16
    with pytest.raises(ValueError, match="index=mid2 is not an integer"):
        parse_operator("plane:index=mid2")
    with pytest.raises(ValueError, match="KEY=VALUE arguments only"):
        parse_operator("plane:0")
