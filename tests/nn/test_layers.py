"""Layer factories: group counts, 'same' convolutions with both paddings, the pointwise (1x1) layer."""

import pytest
import torch
import torch.nn.functional as F

from diffsci.nn import UNet
from diffsci.nn.layers import CONV, Pointwise, conv, num_groups


def test_num_groups_divides():
    for c in (1, 3, 8, 16, 24, 48, 96, 100, 256):
        g = num_groups(c, 32)
        assert c % g == 0 and g <= 32
        assert all(c % h for h in range(g + 1, min(c, 32) + 1))          # the largest such divisor


@pytest.mark.parametrize("d", [1, 2, 3])
def test_conv_same_size_and_circular_is_periodic(d):
    torch.manual_seed(0)
    layer = conv(d, 2, 3, 3, padding_mode="circular")
    x = torch.randn(1, 2, *([6] * d))
    y = layer(x)
    assert y.shape == (1, 3, *([6] * d))
    # circular padding = the convolution of the periodically tiled input, cropped
    tiled = x.repeat(1, 1, *([3] * d))
    full = F.__dict__[f"conv{d}d"](tiled, layer.weight, layer.bias)
    crop = (slice(None), slice(None)) + (slice(5, 11),) * d
    torch.testing.assert_close(y, full[crop], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="padding_mode"):
        conv(d, 2, 3, padding_mode="reflect")


@pytest.mark.parametrize("d", [1, 2, 3])
def test_pointwise_is_a_1x1_conv_in_both_layouts(d):
    torch.manual_seed(0)
    p = Pointwise(5, 3)
    x = torch.randn(2, 5, *([4] * d))
    ref = CONV[d](5, 3, 1)
    ref.weight.data = p.weight.data.reshape(3, 5, *([1] * d))
    ref.bias.data = p.bias.data
    torch.testing.assert_close(p(x), ref(x), rtol=1e-5, atol=1e-6)
    if d > 1:
        fmt = torch.channels_last if d == 2 else torch.channels_last_3d
        torch.testing.assert_close(p(x.contiguous(memory_format=fmt)), ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("d", [2, 3])
def test_channels_last_gives_the_same_network(d):
    torch.manual_seed(0)
    kw = dict(channels=(8, 16), attention_levels=(False, True), num_head_channels=8)
    a, b = UNet(d, 1, channels_last=False, **kw), UNet(d, 1, channels_last=True, **kw)
    b.load_state_dict(a.state_dict())
    torch.nn.init.normal_(a.conv_out.weight, std=0.1)
    b.conv_out.weight.data.copy_(a.conv_out.weight.data)
    x = torch.randn(2, 1, *([8] * d))
    t = torch.tensor([0.1, -0.3])
    ya, yb = a(x, t), b(x, t)
    assert yb.is_contiguous()
    torch.testing.assert_close(ya, yb, rtol=1e-4, atol=1e-5)
    ya.square().sum().backward()
    yb.square().sum().backward()
    torch.testing.assert_close(a.conv_in.weight.grad, b.conv_in.weight.grad, rtol=1e-3, atol=1e-5)


def test_channels_last_needs_2d_or_3d():
    with pytest.raises(ValueError, match="channels-last"):
        UNet(1, 1, channels=(8,), attention_levels=(False,), channels_last=True)
