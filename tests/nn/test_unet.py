"""diffsci.nn.UNet: shapes, periodic equivariance, conditioning, input checks, checkpointing, overfit."""

import pytest
import torch

from diffsci import Cond
from diffsci.diffusion import EDMDenoiser, EDMLoss
from diffsci.nn import UNet

SPATIAL = {1: (32,), 2: (16, 16), 3: (8, 8, 8)}
SMALL = dict(channels=(8, 16), attention_levels=(False, True), num_head_channels=8)


def _net(spatial_dims, seed=0, **kw):
    """A tiny UNet whose zero-initialised output conv is made random, so that F depends on everything."""
    torch.manual_seed(seed)
    net = UNet(spatial_dims, 2, **{**SMALL, **kw}).eval()
    with torch.no_grad():
        net.conv_out.weight.normal_(0, 0.1)
        net.conv_out.bias.normal_(0, 0.1)
    return net


def _x(spatial_dims, b=2, c=2, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, *SPATIAL[spatial_dims], generator=g, dtype=dtype)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_shape_dtype_and_zero_init(d):
    torch.manual_seed(0)
    net = UNet(d, 2, out_channels=3, **SMALL)
    x = _x(d)
    y = net(x, torch.zeros(2))
    assert y.shape == (2, 3, *SPATIAL[d]) and y.dtype == torch.float32
    assert torch.equal(y, torch.zeros_like(y))                    # zero-init output conv: F = 0
    y64 = _net(d).double()(x.double(), torch.zeros(2, dtype=torch.float64))
    assert y64.dtype == torch.float64 and y64.abs().sum() > 0


@pytest.mark.parametrize("d", [1, 2, 3])
def test_noise_level_is_used(d):
    net, x = _net(d), _x(d)
    with torch.no_grad():
        assert not torch.allclose(net(x, torch.full((2,), -1.0)), net(x, torch.full((2,), 1.0)), atol=1e-4)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_circular_padding_is_translation_equivariant(d):
    """F(roll(x, k)) = roll(F(x), k) for shifts k that are multiples of the down-sampling factor."""
    kw = dict(channels=(8, 8, 16), attention_levels=(False, False, True), num_head_channels=8)
    x, t = _x(d), torch.full((2,), 0.3)
    dims = tuple(range(2, 2 + d))
    shift = tuple(4 * (i + 1) for i in range(d))                # factor 4 = 2**(3-1)
    for mode, order, equivariant in (("circular", "conv_first", True), ("circular", "nearest_first", True),
                                     ("zeros", "conv_first", False)):
        net = _net(d, padding_mode=mode, upsample=order, **kw)
        with torch.no_grad():
            a = net(torch.roll(x, shift, dims), t)
            b = torch.roll(net(x, t), shift, dims)
        err = (a - b).abs().max().item()
        if equivariant:
            assert err < 1e-5, f"circular padding is not shift-equivariant (err {err})"
        else:
            assert err > 1e-3, "zero padding should break equivariance (the test would be vacuous)"


@pytest.mark.parametrize("d", [1, 2, 3])
def test_label_and_scalar_conditioning_and_null(d):
    net, x, t = _net(d, num_classes=3, num_scalars=2), _x(d), torch.zeros(2)
    g = torch.Generator().manual_seed(5)
    s1, s2 = torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)
    lab1, lab2 = torch.tensor([0, 1]), torch.tensor([2, 2])
    with torch.no_grad():
        null = net(x, t, None)
        y11 = net(x, t, Cond(label=lab1, scalars=s1))
        assert not torch.allclose(y11, net(x, t, Cond(label=lab2, scalars=s1)), atol=1e-5)   # label used
        assert not torch.allclose(y11, net(x, t, Cond(label=lab1, scalars=s2)), atol=1e-5)   # scalars used
        assert not torch.allclose(y11, null, atol=1e-5)
        drop = torch.tensor([True, True])
        torch.testing.assert_close(net(x, t, Cond(label=lab1, scalars=s1, dropped=drop)), null)
        torch.testing.assert_close(net(x, t, Cond(label=lab2, scalars=s2, dropped=drop)), null)
        # per-sample dropping: row 0 null, row 1 conditional
        mixed = net(x, t, Cond(label=lab1, scalars=s1, dropped=torch.tensor([True, False])))
        torch.testing.assert_close(mixed[0], null[0])
        torch.testing.assert_close(mixed[1], y11[1])


def test_condition_errors():
    net, x, t = _net(1, num_classes=3), _x(1), torch.zeros(2)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        net(x, t, Cond(label=torch.tensor([0, 3])))
    with pytest.raises(ValueError, match="num_scalars=0"):
        net(x, t, Cond(scalars=torch.zeros(2, 1)))
    with pytest.raises(ValueError, match="num_classes=None"):
        _net(1)(x, t, Cond(label=torch.tensor([0, 1])))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_cond_channels(d):
    net, x, t = _net(d, cond_channels=1), _x(d), torch.zeros(2)
    c1, c2 = Cond(channels=_x(d, c=1, seed=7)), Cond(channels=_x(d, c=1, seed=8))
    with torch.no_grad():
        assert not torch.allclose(net(x, t, c1), net(x, t, c2), atol=1e-5)
    with pytest.raises(ValueError, match="cond.channels is missing"):
        net(x, t, None)
    with pytest.raises(ValueError, match="expected"):
        net(x, t, Cond(channels=_x(d, c=2)))
    with pytest.raises(ValueError, match="cond_channels=0"):
        _net(d)(x, t, c1)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_bad_size_and_rank(d):
    net = _net(d, channels=(8, 8, 16), attention_levels=(False, False, False))
    bad = list(SPATIAL[d])
    bad[-1] += 2                                                 # a multiple of 2 but not of 4
    with pytest.raises(ValueError, match=r"multiple of 4") as e:
        net(torch.zeros(1, 2, *bad), torch.zeros(1))
    assert str(tuple([1, 2, *bad])) in str(e.value)
    with pytest.raises(ValueError, match="rank"):
        net(torch.zeros(1, 2, *SPATIAL[d], 4), torch.zeros(1))
    with pytest.raises(ValueError, match="channels"):
        net(torch.zeros(1, 3, *SPATIAL[d]), torch.zeros(1))


@pytest.mark.parametrize("d", [1, 3])
def test_gradient_checkpointing_same_gradients(d):
    a = _net(d, num_classes=2).train()
    b = _net(d, num_classes=2, gradient_checkpointing=True).train()
    b.load_state_dict(a.state_dict())
    x, t, c = _x(d), torch.tensor([0.1, -0.4]), Cond(label=torch.tensor([1, 0]))
    for net in (a, b):
        net(x, t, c).pow(2).sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_overfits_one_batch():
    """EDM loss on one fixed batch (fixed sigmas and noise) falls below 30% within 25 Adam steps."""
    torch.manual_seed(0)
    net = UNet(2, 1, channels=(8, 16), attention_levels=(False, False))
    den, loss_fn = EDMDenoiser(net, sigma_data=0.5), EDMLoss()
    y = 0.5 * torch.sign(_x(2, b=4, c=1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = loss_fn(den, y, generator=torch.Generator().manual_seed(0)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("d", [1, 2])
def test_jacobian_products_agree_across_autodiff_modes(d):
    """J^T w by autograd (fused GroupNorm node, SDPA kernel) equals torch.func.vjp (plain ops), and
    torch.func.jvp (forward mode) satisfies <w, J v> = <J^T w, v>: what the exact likelihood needs."""
    net = _net(d).double()
    x, t = _x(d, dtype=torch.float64), torch.tensor([0.2, -0.5], dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    w = torch.randn(x.shape, generator=g, dtype=torch.float64)
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    xr = x.clone().requires_grad_()
    (jtw,) = torch.autograd.grad((net(xr, t) * w).sum(), xr)
    _, pullback = torch.func.vjp(lambda z: net(z, t), x)
    torch.testing.assert_close(pullback(w)[0], jtw, rtol=1e-9, atol=1e-11)
    _, jv = torch.func.jvp(lambda z: net(z, t), (x,), (v,))
    torch.testing.assert_close((w * jv).sum(), (jtw * v).sum(), rtol=1e-9, atol=1e-11)
