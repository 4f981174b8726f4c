"""``diffsci bench likelihood --quick``: the report's structure and the math it must show."""

import json

from diffsci.cli import main


def test_bench_likelihood_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "likelihood", "--quick", "--no-unet", "--no-study", "--runs", "3",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["benchmark"] == "likelihood" and res["quick"] is True
    assert {r["case"] for r in res["rows"]} == {"1d-64", "3d-8x8x8"}
    for case in ("1d-64", "3d-8x8x8"):
        exact = [r for r in res["rows"] if r["case"] == case and r["method"] == "exact"]
        assert [r["nfe"] for r in exact] == [12, 16]                      # 4 N + 4 for N = 2, 3
        assert exact[1]["abs_error_bits_per_dim"] < exact[0]["abs_error_bits_per_dim"]
        hut = {r["probes"]: r for r in res["rows"] if r["case"] == case and r["method"] == "hutchinson"}
        assert set(hut) == {1, 4, 16}
        assert hut[1]["reported_stderr_bits_per_dim"] is None              # one probe: no spread
        assert hut[16]["observed_std_bits_per_dim"] < hut[1]["observed_std_bits_per_dim"]
        # same integrator, so Hutchinson's mean error is the exact one up to its Monte-Carlo spread
        spread = 4 * hut[16]["observed_std_bits_per_dim"] + 1e-9
        assert abs(hut[16]["mean_error_bits_per_dim"] - exact[1]["mean_error_bits_per_dim"]) < spread
    assert "met" in res["target"]
    assert json.loads(capsys.readouterr().out)["rows"] == res["rows"]
