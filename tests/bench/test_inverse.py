"""``diffsci bench inverse --quick``: the JSON it prints, and the exact oracle at the Monte-Carlo floor."""

from __future__ import annotations

import json

from diffsci.cli import main


def test_quick_bench_json(tmp_path, capsys):
    out = tmp_path / "inverse.json"
    assert main(["bench", "inverse", "--quick", "--steps", "10", "--out", str(out), "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    data = json.loads(out.read_text())
    assert printed == data and data["bench"] == "inverse" and data["quick"] is True
    floor = data["setup"]["mc_floor_mean_err"]
    rows = {(r["problem"], r["method"]): r for r in data["rows"]}
    methods = {"oracle", "dc", "dc_heun", "pigdm", "pigdm_heun", "dps", "diffpir", "diffpir_zeta0.3"}
    for problem in ("mask", "fourier"):
        assert {m for p, m in rows if p == problem} == methods | {"prior_mean"}
        oracle = rows[(problem, "oracle")]
        assert oracle["nfe"] == 19 and oracle["mean_err"] < 3 * floor     # exact posterior denoiser
        for m in methods:
            r = rows[(problem, m)]
            assert r["ms_per_sample"] > 0 and r["nfe"] in (10, 19)
            assert {"mean_err", "mean_rel_err", "cov_err", "std_err"} <= set(r)
        assert rows[(problem, "prior_mean")]["mean_err"] > 10 * oracle["mean_err"]
