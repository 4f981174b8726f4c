"""The training loop: exact resume, warm-up, validation loss, condition dropout, non-finite losses."""

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from diffsci.train import NonFiniteLossError, load_denoiser, read_checkpoint, train, warmup_lr
from diffsci.train.distributed import ShardedBatches
from diffsci.train.loop import _validation_loss


def _run(tinymod, out, steps, resume=False, **kw):
    return train(tinymod.tiny_config(steps=steps, **kw), dataset=tinymod.tiny_dataset(10),
                 val_dataset=tinymod.tiny_dataset(4, seed=1), progress=False, out_dir=out, resume=resume,
                 net=tinymod.TinyNet(num_classes=2), device="cpu")


def _tensors(path):
    ck = read_checkpoint(path, files=("model.safetensors", "optimizer.safetensors"))
    return {**ck.tensors["model.safetensors"], **ck.tensors["optimizer.safetensors"]}, ck.state


def test_resume_is_bit_identical(tinymod, tmp_path):
    """8 steps straight == 4 steps, stop, resume, 4 more: weights, EMA, optimiser, RNG, log (CPU)."""
    a = _run(tinymod, tmp_path / "a", 8)
    _run(tinymod, tmp_path / "b", 4)
    b = _run(tinymod, tmp_path / "b", 8, resume=True)
    assert a.step == b.step == 8
    ta, sa = _tensors(a.run_dir)
    tb, sb = _tensors(b.run_dir)
    assert ta.keys() == tb.keys() and any(k.startswith("ema.") for k in ta)
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert sa["rng"] == sb["rng"] and (sa["epoch"], sa["batch"]) == (sb["epoch"], sb["batch"])
    assert sa["metrics"]["val_history"] == sb["metrics"]["val_history"]
    # the runs did move (the comparison is not between two untouched initialisations)
    t4, _ = _tensors(a.run_dir / "checkpoints" / "step_00000004")
    assert not torch.equal(t4["model.inp.weight"], ta["model.inp.weight"])
    # the metric logs agree line by line (apart from the timing)
    logs = [[{k: v for k, v in json.loads(ln).items() if k != "it_per_s"}
             for ln in (r.run_dir / "metrics.jsonl").read_text().splitlines()] for r in (a, b)]
    assert logs[0] == logs[1]
    # a different seed gives different weights: the equality above is not vacuous
    c = train(tinymod.tiny_config(steps=8, seed=1), dataset=tinymod.tiny_dataset(10), progress=False,
              out_dir=tmp_path / "c", net=tinymod.TinyNet(num_classes=2), device="cpu")
    assert not torch.equal(_tensors(c.run_dir)[0]["model.inp.weight"], ta["model.inp.weight"])


def test_refuses_to_overwrite_and_resume_without_checkpoint(tinymod, tmp_path):
    _run(tinymod, tmp_path / "r", 2)
    with pytest.raises(ValueError, match="already holds a training run"):
        _run(tinymod, tmp_path / "r", 2)
    res = _run(tinymod, tmp_path / "fresh", 2, resume=True)            # nothing to resume: starts at 0
    assert res.step == 2


def test_warmup_lr_values_in_log(tinymod, tmp_path):
    assert [warmup_lr(s, 2.0, 4) for s in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert warmup_lr(0, 2.0, 0) == 2.0
    res = _run(tinymod, tmp_path, 5, log_every=1, lr=1e-3, warmup_steps=4)
    lrs = [json.loads(ln)["lr"] for ln in (res.run_dir / "metrics.jsonl").read_text().splitlines()
           if "lr" in json.loads(ln)]
    assert lrs == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3], rel=1e-12)


def test_validation_loss_is_the_ema_models_at_fixed_noise(tinymod, tmp_path):
    res = _run(tinymod, tmp_path, 8)
    den, cfg = load_denoiser(res.run_dir, net=tinymod.TinyNet(num_classes=2), ema=True)
    loss_fn = cfg.diffusion.build_loss()
    val = tinymod.tiny_dataset(4, seed=1)
    fp32 = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
    v1 = _validation_loss(den, val, loss_fn, cfg.train, torch.device("cpu"), fp32)
    v2 = _validation_loss(den, val, loss_fn, cfg.train, torch.device("cpu"), fp32)
    assert v1 == v2 == pytest.approx(res.val_loss, rel=1e-6)
    raw, _ = load_denoiser(res.run_dir, net=tinymod.TinyNet(num_classes=2), ema=False)
    v_raw = _validation_loss(raw, val, loss_fn, cfg.train, torch.device("cpu"), fp32)
    assert v_raw != pytest.approx(res.val_loss, rel=1e-6)
    other_seed = cfg.train.model_copy(update={"seed": cfg.train.seed + 7})
    assert _validation_loss(den, val, loss_fn, other_seed, torch.device("cpu"), fp32) == v1   # seeds compare


class _Recorder(torch.nn.Module):
    """Wraps TinyNet and records the condition-dropout masks it sees."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x, noise_level, cond=None):
        if self.training:
            self.seen.append(None if cond is None or cond.dropped is None else cond.dropped.clone())
        return self.inner(x, noise_level, cond)


def test_condition_dropout_rate(tinymod, tmp_path):
    net = _Recorder(tinymod.TinyNet(num_classes=2))
    train(tinymod.tiny_config(steps=30, cond_dropout=0.5, ckpt_every=1000), dataset=tinymod.tiny_dataset(10),
          progress=False, out_dir=tmp_path / "c", net=net, device="cpu")
    dropped = torch.cat(net.seen).float()
    assert len(dropped) == 120 and abs(dropped.mean().item() - 0.5) < 0.2    # 4 binomial std errors
    # unconditional data: no mask at all
    net = _Recorder(tinymod.TinyNet(num_classes=None))
    train(tinymod.tiny_config(steps=2, cond_dropout=0.5), dataset=tinymod.tiny_dataset(10, labels=False),
          progress=False, out_dir=tmp_path / "u", net=net, device="cpu")
    assert all(s is None for s in net.seen)


class _Poisoned(Dataset):
    """A dataset that does not check its values, with one NaN in sample ``bad``."""

    source = "poisoned.npy"

    def __init__(self, base, bad):
        self.base, self.bad = base, bad

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        item = dict(self.base[i])
        if i == self.bad:
            item["x"] = item["x"].clone()
            item["x"][0, 3] = float("nan")
        return item


def test_nan_in_data_names_step_and_index_and_writes_no_checkpoint(tinymod, tmp_path):
    order = ShardedBatches(10, 4, seed=0)
    bad = order.batch(1, 1)[2]                               # a sample first met at step 4 (epoch 1, batch 1)
    first = next(s for s in range(1, 20) if bad in order.batch(*divmod(s - 1, order.batches_per_epoch)))
    with pytest.raises(NonFiniteLossError, match=rf"step {first}\b.*sample\(s\) of poisoned\.npy {bad}\b"):
        train(tinymod.tiny_config(steps=20, ckpt_every=1), dataset=_Poisoned(tinymod.tiny_dataset(10), bad),
              progress=False, out_dir=tmp_path, net=tinymod.TinyNet(num_classes=2), device="cpu")
    assert read_checkpoint(tmp_path).state["step"] == first - 1   # the last good step, still loadable


def test_nan_in_array_names_the_file():
    from diffsci.data import ArrayDataset
    x = np.zeros((5, 1, 8), np.float32)
    x[3, 0, 2] = np.inf
    with pytest.raises(ValueError, match=r"beats\.npy.*Inf in sample 3"):
        ArrayDataset(x, source="beats.npy")


class _Diverging(torch.nn.Module):
    def __init__(self, inner, at):
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def forward(self, x, noise_level, cond=None):
        self.calls += self.training
        out = self.inner(x, noise_level, cond)
        return out * float("inf") if self.training and self.calls == self.at else out


def test_diverging_loss_stops_with_message(tinymod, tmp_path):
    net = _Diverging(tinymod.TinyNet(num_classes=2), at=3)
    with pytest.raises(NonFiniteLossError, match=r"step 3 .*data is finite"):
        train(tinymod.tiny_config(steps=10, ckpt_every=2), dataset=tinymod.tiny_dataset(10), progress=False,
              out_dir=tmp_path, net=net, device="cpu")
    assert read_checkpoint(tmp_path).state["step"] == 2
