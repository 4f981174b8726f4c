"""``diffsci bench backbone --quick``: well-formed JSON whose numbers are consistent with each other."""

import argparse
import json

import pytest

from diffsci.bench import backbone
from diffsci.cli import main
from diffsci.nn import UNet


def test_quick_bench_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "backbone", "--quick", "--dims", "1,2", "--device", "cpu", "--threads", "1",
                 "--no-memory", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    res = json.loads(out.read_text())
    assert printed == res and res["bench"] == "backbone" and res["device"] == "cpu" and res["quick"]
    rows = {(r["dims"], r["model"]): r for r in res["results"]}
    ours = ("diffsci", "diffsci_nearest_first")
    assert set(rows) == {(d, m) for d in (1, 2) for m in ours} | {(2, "monai")}      # MONAI has no 1D
    cfg = res["config"]
    for (d, model), r in rows.items():
        assert r["shape"] == [1, *backbone.QUICK_SHAPES[d]]
        assert r["samples_per_s"] == pytest.approx(cfg["batch_size"] / r["step_s_median"])
        assert r["step_s_min"] <= r["step_s_median"] and r["peak_memory_mib"] is None
        assert r["samples_per_cpu_s"] == pytest.approx(cfg["batch_size"] / r["step_cpu_s_median"])
    # the parameter count is the real one of the network that was benchmarked
    net = UNet(2, 1, channels=cfg["channels"], num_res_blocks=cfg["num_res_blocks"],
                attention_levels=cfg["attention_levels"], num_head_channels=cfg["num_head_channels"],
                norm_num_groups=cfg["norm_num_groups"])
    assert rows[2, "diffsci"]["params"] == sum(p.numel() for p in net.parameters())
    cmp = res["comparison"]["2d"]
    assert cmp["throughput_ratio"] == pytest.approx(
        rows[2, "diffsci"]["samples_per_s"] / rows[2, "monai"]["samples_per_s"])
    assert cmp["params_ratio"] == pytest.approx(rows[2, "diffsci"]["params"] / rows[2, "monai"]["params"])
    assert set(res["comparison"]) == {"2d", "2d_nearest_first"}
    # the two up-sampling orders have the same parameters
    assert rows[2, "diffsci"]["params"] == rows[2, "diffsci_nearest_first"]["params"]


def test_bad_options():
    p = argparse.ArgumentParser()
    backbone.add_args(p)
    with pytest.raises(ValueError, match="--dims"):
        backbone.run(p.parse_args(["--dims", "4", "--no-memory"]))
    with pytest.raises(ValueError, match="attention-levels"):
        backbone.run(p.parse_args(["--channels", "8,16", "--attention-levels", "0,0,1", "--no-memory"]))


@pytest.mark.slow          # a fork server that imports torch: ~5 s alone, 10-15 s on a loaded machine
def test_cpu_peak_memory_bounds_training_state():
    """Peak RSS growth of a fresh process training a model is at least weights + grads + 2 AdamW
    moments (16 bytes per float32 parameter), and grows with the batch (activations)."""
    cfg = dict(channels=(32, 64), attention_levels=(False, False), num_res_blocks=1, norm_num_groups=8,
               num_head_channels=8, warmup=0, steps=1, memory_steps=1, seed=0, threads=1,
               shapes={1: (256,)})
    params = sum(p.numel() for p in backbone.build_model("diffsci", 1, cfg).parameters())
    mem = backbone._cpu_peak_memory([("diffsci", 1)], {**cfg, "batch_size": 1})[("diffsci", 1)]
    assert mem * 2 ** 20 >= 16 * params, (mem, params)
    big = backbone._cpu_peak_memory([("diffsci", 1)], {**cfg, "batch_size": 64})[("diffsci", 1)]
    assert big > mem + 5, (mem, big)
