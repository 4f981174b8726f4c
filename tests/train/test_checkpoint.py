"""Checkpoints: atomic writes, exact optimiser round trip, clear errors on missing/corrupt files, export."""

import json
import shutil

import pytest
import torch

from diffsci.config import ConfigError
from diffsci.train import load_denoiser, read_checkpoint, save_denoiser, train
from diffsci.train import checkpoint as ckmod


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 8-step run with checkpoints at steps 4 and 8 (copy it before damaging it)."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("tiny_ck", Path(__file__).with_name("_tiny.py"))
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    out = tmp_path_factory.mktemp("ckrun") / "run"
    train(tiny.tiny_config(steps=8, ckpt_every=4), dataset=tiny.tiny_dataset(10), progress=False, out_dir=out,
          net=tiny.TinyNet(num_classes=2), device="cpu")
    return out


@pytest.fixture
def copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def test_layout_and_keep(run):
    assert (run / "latest").read_text().strip() == "checkpoints/step_00000008"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000004", "step_00000008"]
    ck = run / "checkpoints" / "step_00000008"
    assert sorted(p.name for p in ck.iterdir()) == ["config.yaml", "model.safetensors", "optimizer.safetensors",
                                                   "state.json"]
    assert (run / "config.yaml").exists() and (run / "metrics.jsonl").exists()
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 8 and state["sample_shape"] == [1, 16] and len(state["rng"]) == 1


def test_keep_last_k(tinymod, tmp_path):
    train(tinymod.tiny_config(steps=5, ckpt_every=1, keep_checkpoints=3), dataset=tinymod.tiny_dataset(10),
          progress=False, out_dir=tmp_path, net=tinymod.TinyNet(num_classes=2), device="cpu")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == \
        ["step_00000003", "step_00000004", "step_00000005"]


def test_optimizer_flatten_round_trip():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(4))]
    opt = torch.optim.AdamW(params, lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    tensors, meta = ckmod.flatten_optimizer_state(opt.state_dict())
    meta = json.loads(json.dumps(meta))                                  # it really is JSON
    tensors = {k: v.clone() for k, v in tensors.items()}                 # as if read back from disk
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = torch.optim.AdamW(clone, lr=1.0)
    opt2.load_state_dict(ckmod.unflatten_optimizer_state(tensors, meta))
    assert opt2.param_groups[0]["betas"] == (0.8, 0.95)
    g = [torch.randn_like(p) for p in params]
    for o, ps in ((opt, params), (opt2, clone)):
        for p, gi in zip(ps, g):
            p.grad = gi.clone()
        o.step()
    for p, q in zip(params, clone):
        assert torch.equal(p, q)


def test_crash_mid_write_keeps_previous_checkpoint(tinymod, tmp_path, monkeypatch):
    """An exception inside the write of checkpoint 8 leaves checkpoint 4 and `latest` intact; resume works."""
    real = ckmod._write_bytes

    def exploding(path, data):
        if "step_00000008" in str(path) and path.name == "state.json":
            raise OSError("simulated crash: disk full")
        real(path, data)

    monkeypatch.setattr(ckmod, "_write_bytes", exploding)
    cfg = tinymod.tiny_config(steps=8, ckpt_every=4)
    with pytest.raises(OSError, match="simulated crash"):
        train(cfg, dataset=tinymod.tiny_dataset(10), progress=False, out_dir=tmp_path,
              net=tinymod.TinyNet(num_classes=2), device="cpu")
    assert (tmp_path / "latest").read_text().strip() == "checkpoints/step_00000004"
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_00000004"]   # no partial folder
    den, _ = load_denoiser(tmp_path, net=tinymod.TinyNet(num_classes=2))
    assert den.sample_shape == (1, 16)
    monkeypatch.setattr(ckmod, "_write_bytes", real)
    res = train(cfg, dataset=tinymod.tiny_dataset(10), progress=False, out_dir=tmp_path, resume=True,
                net=tinymod.TinyNet(num_classes=2), device="cpu")
    assert res.step == 8 and read_checkpoint(tmp_path).state["step"] == 8


def test_crash_while_moving_latest(tinymod, copy, monkeypatch):
    """A crash before `latest` is replaced: the old pointer still names a complete checkpoint."""
    def boom(*a, **k):
        raise OSError("simulated crash in os.replace")
    ck = read_checkpoint(copy, files=("model.safetensors", "optimizer.safetensors"))
    monkeypatch.setattr(ckmod.os, "replace", boom)
    with pytest.raises(OSError):
        ckmod.write_checkpoint(copy, 12, {"model.safetensors": ck.tensors["model.safetensors"]}, ck.state,
                               ck.config, keep=2)
    monkeypatch.undo()
    assert read_checkpoint(copy).state["step"] == 8


def test_load_denoiser_outputs_match_ema_weights(tinymod, run):
    den, cfg = load_denoiser(run, net=tinymod.TinyNet(num_classes=2))
    ck = read_checkpoint(run)
    net = tinymod.TinyNet(num_classes=2)
    net.load_state_dict(ck.prefixed("model.safetensors", "ema."))
    assert all(torch.equal(a, b) for a, b in zip(den.net.state_dict().values(), net.state_dict().values()))
    assert not den.training and cfg.name == "tiny"
    # a checkpoint folder (not the run folder) and a file inside it work too
    for p in (run / "checkpoints" / "step_00000004", run / "checkpoints" / "step_00000004" / "state.json"):
        assert load_denoiser(p, net=tinymod.TinyNet(num_classes=2))[0] is not None


def test_export_round_trip(tinymod, run, tmp_path):
    den, cfg = load_denoiser(run, net=tinymod.TinyNet(num_classes=2))
    out = save_denoiser(den, cfg, tmp_path / "export")
    den2, cfg2 = load_denoiser(out, net=tinymod.TinyNet(num_classes=2))
    x = torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(0))
    from diffsci import Cond
    c = Cond(label=torch.tensor([0, 1]))
    with torch.no_grad():
        assert torch.equal(den(x, 0.7, c), den2(x, 0.7, c))
    assert cfg2 == cfg and den2.sample_shape == (1, 16)


def test_missing_and_damaged(tinymod, copy, tmp_path):
    net = lambda: tinymod.TinyNet(num_classes=2)  # noqa: E731
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_denoiser(tmp_path / "nope", net=net())
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a diffsci checkpoint"):
        load_denoiser(tmp_path / "empty", net=net())
    last = copy / "checkpoints" / "step_00000008"
    # flipped byte in the weights: sha256 mismatch names the file
    data = bytearray((last / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (last / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors: corrupt checkpoint file"):
        load_denoiser(copy, net=net())
    # truncated state.json
    (last / "state.json").write_text((last / "state.json").read_text()[:50])
    with pytest.raises(ValueError, match=r"state\.json: corrupt checkpoint state"):
        load_denoiser(copy, net=net())
    # the previous checkpoint is fine; a missing optimiser file is named when resuming from it
    prev = copy / "checkpoints" / "step_00000004"
    (prev / "optimizer.safetensors").unlink()
    assert load_denoiser(prev, net=net())[0] is not None
    with pytest.raises(FileNotFoundError, match=r"optimizer\.safetensors: missing"):
        read_checkpoint(prev, files=("model.safetensors", "optimizer.safetensors"))
    # a config that no longer validates
    (prev / "config.yaml").write_text((prev / "config.yaml").read_text().replace("lr:", "lerning_rate:", 1))
    with pytest.raises(ConfigError, match=r"train\.lerning_rate"):
        load_denoiser(prev, net=net())
    # `latest` pointing nowhere
    shutil.rmtree(last)
    with pytest.raises(FileNotFoundError, match="latest: points to"):
        load_denoiser(copy, net=net())


def test_garbage_safetensors_without_digest(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    with pytest.raises(ValueError, match=r"x\.safetensors: not a readable safetensors file"):
        ckmod._read_tensors(p, None)


def test_wrong_network_is_named(tinymod, run):
    with pytest.raises(ValueError, match=r"model\.safetensors \(ema\.\*\): the weights do not fit.*shape mismatch"):
        load_denoiser(run, net=tinymod.TinyNet(num_classes=2, width=4))
    with pytest.raises(ValueError, match="unexpected: label.weight"):
        load_denoiser(run, net=tinymod.TinyNet(num_classes=None))


def test_resume_with_another_model_config_is_refused(tinymod, copy):
    cfg = tinymod.tiny_config(steps=10)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"channels": (16,)})})
    with pytest.raises(ValueError, match="model config differs"):
        train(cfg, dataset=tinymod.tiny_dataset(10), progress=False, out_dir=copy, resume=True,
              net=tinymod.TinyNet(num_classes=2), device="cpu")
