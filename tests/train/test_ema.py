"""EMA of weights against its closed form."""

import math

import pytest
import torch
from torch import nn

from diffsci.train import EMA


def _net(value: float) -> nn.Module:
    net = nn.Linear(3, 2).double()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


@pytest.mark.parametrize("warmup", [False, True])
def test_constant_sequence_closed_form(warmup):
    """theta_n = c for all n: theta_ema(N) = c + prod_n beta_n (theta_ema(0) - c)."""
    e0, c, decay, N = 2.0, -1.0, 0.9, 25
    ema = EMA(_net(e0), decay, warmup=warmup)
    target = _net(c)
    for _ in range(N):
        ema.update(target)
    betas = [min(decay, (1 + n) / (10 + n)) if warmup else decay for n in range(N)]
    expected = c + math.prod(betas) * (e0 - c)
    for p in ema.module.parameters():
        torch.testing.assert_close(p, torch.full_like(p, expected), rtol=0, atol=1e-12)
    assert ema.num_updates == N
    if not warmup:
        assert expected == pytest.approx(c + decay ** N * (e0 - c))


def test_ema_of_a_ramp_and_independence():
    """theta_n = n (no warm-up): theta_ema(N) = sum_n (1-b) b^(N-1-n) n + b^N theta_ema(0); the copy
    does not alias the model, and receives no gradients."""
    b = 0.8
    net = _net(0.0)
    ema = EMA(net, b, warmup=False)
    for n in range(1, 11):
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float(n))
        ema.update(net)
    expected = sum((1 - b) * b ** (10 - n) * n for n in range(1, 11))
    torch.testing.assert_close(ema.module.weight, torch.full_like(ema.module.weight, expected), rtol=0, atol=1e-12)
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert ema.module.weight.data_ptr() != net.weight.data_ptr()


def test_decay_zero_tracks_the_model_in_the_loop(tinymod, tmp_path):
    """With ema_decay = 0 the EMA weights equal the trained weights after every step."""
    from diffsci.train import read_checkpoint, train
    train(tinymod.tiny_config(steps=3, ema_decay=0.0), dataset=tinymod.tiny_dataset(10), progress=False,
          out_dir=tmp_path, net=tinymod.TinyNet(num_classes=2), device="cpu")
    ck = read_checkpoint(tmp_path)
    model, ema = ck.prefixed("model.safetensors", "model."), ck.prefixed("model.safetensors", "ema.")
    assert model.keys() == ema.keys()
    for k in model:
        assert torch.equal(model[k], ema[k]), k


def test_bad_decay():
    with pytest.raises(ValueError, match="decay"):
        EMA(_net(0.0), 1.0)
