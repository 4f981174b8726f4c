"""CLI smoke tests: ``diffsci train`` a tiny config for 3 steps, resume it, then ``diffsci sample``."""

import numpy as np
import pytest
import torch

from diffsci.cli import main
from diffsci.io import load_array

TINY = """
name: tiny-cli
model:
  spatial_dims: 1
  channels: [8, 16]
  num_res_blocks: 1
  attention_levels: [false, false]
  num_head_channels: 8
  padding_mode: circular
  {extra_model}
data:
  domain: synthetic
  params: {{kind: {kind}, spatial_dims: 1, size: 16, n_samples: 16, n_val: 4, {extra_data}}}
train:
  steps: 3
  batch_size: 4
  warmup_steps: 1
  log_every: 1
  val_every: 3
  ckpt_every: 3
sampling:
  sampler: euler
  steps: 3
"""


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _config(tmp_path, conditional=False):
    text = TINY.format(kind="mixture" if conditional else "field",
                       extra_model="num_classes: 2" if conditional else "",
                       extra_data="num_components: 2, conditional: true" if conditional else "")
    p = tmp_path / ("cond.yaml" if conditional else "tiny.yaml")
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    torch.set_num_threads(1)
    run = tmp / "run"
    assert main(["train", "--config", str(_config(tmp)), "--out", str(run), "--device", "cpu", "--no-progress"]) == 0
    return run


def test_train_writes_a_run(trained, capsys):
    assert (trained / "latest").read_text().strip() == "checkpoints/step_00000003"
    assert (trained / "config.yaml").exists()


def test_resume_from_the_cli(trained, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    cfg = trained.parent / "tiny.yaml"
    # without --resume an existing run is refused, with a one-line message
    assert main(["train", "--config", str(cfg), "--out", str(run), "--device", "cpu", "--no-progress"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg), "--out", str(run), "--steps", "5", "--resume",
                 "--device", "cpu", "--no-progress"]) == 0
    assert '"step": 5' in capsys.readouterr().out
    assert (run / "latest").read_text().strip() == "checkpoints/step_00000005"


@pytest.mark.parametrize("suffix", [".npy", ".h5"])
def test_sample_writes_array_and_figure(trained, tmp_path, suffix, capsys):
    out = tmp_path / f"s{suffix}"
    assert main(["sample", "--checkpoint", str(trained), "--num", "3", "--steps", "2", "--sampler", "heun",
                 "--out", str(out), "--seed", "1", "--device", "cpu", "--batch-size", "2"]) == 0
    x, meta = load_array(out)
    assert x.shape == (3, 1, 16) and x.dtype == np.float32 and np.isfinite(x).all()
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if suffix == ".h5":
        assert meta["sampler"] == "heun" and meta["steps"] == 2 and meta["seed"] == 1
    # the seed fixes the samples, batching or not
    again = tmp_path / f"again{suffix}"
    main(["sample", "--checkpoint", str(trained), "--num", "3", "--steps", "2", "--sampler", "heun",
          "--out", str(again), "--seed", "1", "--device", "cpu", "--no-figure", "--batch-size", "2"])
    np.testing.assert_array_equal(load_array(again)[0], x)


def test_sample_errors_are_one_line(trained, tmp_path, capsys):
    cases = [
        (["--sampler", "nope"], "valid samplers: dpmpp_2m, euler, euler_maruyama, heun, stochastic"),
        (["--out", str(tmp_path / "x.txt")], "unsupported format"),
        (["--label", "1"], "not class-conditional"),
        (["--guidance", "2"], "--guidance needs a condition"),
        (["--checkpoint", str(tmp_path / "missing")], "no such checkpoint"),
    ]
    for extra, msg in cases:
        args = {"--checkpoint": str(trained), "--num": "2", "--out": str(tmp_path / "x.npy"), "--device": "cpu"}
        for k, v in zip(extra[::2], extra[1::2]):
            args[k] = v
        assert main(["sample", *[a for kv in args.items() for a in kv]]) == 2, extra
        err = capsys.readouterr().err
        assert msg in err and err.startswith("diffsci sample: error:") and "Traceback" not in err, err


def test_train_config_typo_is_one_line(tmp_path, capsys):
    p = tmp_path / "typo.yaml"
    p.write_text(_config(tmp_path).read_text().replace("warmup_steps", "warmup_stepz"))
    assert main(["train", "--config", str(p), "--out", str(tmp_path / "r")]) == 2
    assert "train.warmup_stepz: Extra inputs are not permitted" in capsys.readouterr().err


def test_conditional_train_and_guided_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--config", str(_config(tmp_path, conditional=True)), "--out", str(run), "--steps", "2",
                 "--device", "cpu", "--no-progress"]) == 0
    out = tmp_path / "g.npy"
    assert main(["sample", "--checkpoint", str(run), "--num", "2", "--steps", "2", "--label", "1",
                 "--guidance", "2.0", "--out", str(out), "--device", "cpu"]) == 0
    assert np.load(out).shape == (2, 1, 16)
    assert main(["sample", "--checkpoint", str(run), "--num", "2", "--label", "7", "--out", str(out)]) == 2
    assert "out of range: the model has 2 classes" in capsys.readouterr().err
