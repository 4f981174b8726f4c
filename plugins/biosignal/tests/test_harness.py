"""Harness helpers (exact values) and smoke tests of the three harnesses and the demo on tiny runs."""

import csv
import json

import numpy as np
import pytest
import torch
import wfdb

from diffsci.report import Report
from diffsci_biosignal import domain
from diffsci_biosignal.mitdb import (EXTERNAL_QTDB_RECORDS, VALIDATION_RECORDS, load_record_beats, local_median_rr,
                                     windowed_median)
from diffsci.metrics import auroc, average_precision
from diffsci_biosignal.harness.anomaly import (detection_rows, fast_auroc, fast_average_precision, prematurity,
                                               record_fisher, record_normalise, subsample_beats)


def test_fast_bootstrap_metrics_equal_the_engine_metrics_with_ties():
    rng = np.random.default_rng(0)
    for n in (7, 50, 400):
        s = rng.integers(0, 12, n).astype(float)            # many ties
        y = (rng.random(n) < 0.3).astype(int)
        y[:2] = [0, 1]
        assert fast_auroc(s, y) == pytest.approx(auroc(s, y), abs=1e-12)
        assert fast_average_precision(s, y) == pytest.approx(average_precision(s, y), abs=1e-12)


def test_detection_rows_match_hand_computed_auroc():
    # N scores 0, 1, 2, 3; V scores 2.5, 4 -> pairs (V > N): 2.5 beats 0, 1, 2 (3 of 4), 4 beats all 4 -> 7/8
    labels = np.array([0, 0, 0, 0, 2, 2])
    scores = np.array([0.0, 1.0, 2.0, 3.0, 2.5, 4.0])
    r = Report("biosignal", "anomaly", data="-", device="cpu", quick=True)
    out = detection_rows(r, "m", scores, labels, np.random.default_rng(0), n_boot=20)
    assert out["N_vs_V"]["auroc"] == pytest.approx(7 / 8)
    assert out["N_vs_all"]["auroc"] == pytest.approx(7 / 8)
    assert "N_vs_S" not in out                                   # no S beats: no row
    # AP: ranked 4 (V), 3 (N), 2.5 (V) -> precision at the V hits: 1/1, 2/3 -> AP = (1 + 2/3) / 2
    assert r.get("m", "N_vs_V", "ap")["mean"] == pytest.approx((1 + 2 / 3) / 2)


def test_record_fisher_is_invariant_to_record_scale_and_adds_evidence():
    rng = np.random.default_rng(1)
    rec = np.repeat(np.array(["a", "b"]), 300)
    shape, rhythm = rng.standard_normal(600), rng.standard_normal(600)
    shape[[5, 305]] += 6.0                                       # one shape outlier per record
    rhythm[[7, 307]] += 6.0                                      # one rhythm outlier per record
    s = record_fisher([shape, rhythm], rec)
    # a monotone map per record (offset 100 and scale 50 in record b; exp in a) changes nothing: ranks only
    shape2 = np.where(rec == "a", np.exp(shape), 100 + 50 * shape)
    np.testing.assert_allclose(record_fisher([shape2, rhythm], rec), s)
    # either kind of outlier alone (p = 2/301: the beat is in its own reference) lifts the statistic above the
    # chi^2_4 95 % point (9.49), whatever the other score says: -2 ln(2/301) = 10.03
    assert (s[[5, 7, 305, 307]] > 9.49).all() and (s > 9.49).mean() < 0.08
    # the null distribution: for independent uniform ranks the statistic is chi^2 with 4 dof (mean 4)
    assert abs(s.mean() - 4.0) < 0.3
    # the smallest p-value is 2 / (n + 1) (the top beat is counted in its own reference)
    assert record_fisher([shape], rec).max() == pytest.approx(-2 * np.log(2 / 301))


def test_record_normalisation_removes_per_record_offsets():
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.standard_normal(200), 100 + 5 * rng.standard_normal(200)])
    rec = np.array(["a"] * 200 + ["b"] * 200)
    z = record_normalise(s, rec)
    for r in "ab":
        assert abs(np.median(z[rec == r])) < 1e-12
        assert np.median(np.abs(z[rec == r])) == pytest.approx(1 / 1.4826)


def test_prematurity_sees_a_tachycardia_run_through_the_average_rr():
    # sinus rhythm at 0.8 s, then a run of 40 beats at 0.4 s (a supraventricular tachycardia), then sinus again
    rr = np.r_[np.full(300, 0.8), np.full(40, 0.4), np.full(300, 0.8)]
    t = np.cumsum(rr)
    rr_prev = np.r_[np.nan, np.diff(t)]
    rr_local = local_median_rr(rr_prev)
    run = slice(315, 335)                                   # the middle of the run: its 21-beat median is 0.4 s
    np.testing.assert_allclose(prematurity(rr_local, rr_prev)[run], 1.0)
    p = prematurity(rr_local, rr_prev, windowed_median(t, rr_prev, 300.0))
    np.testing.assert_allclose(p[run], 2.0)                 # the patient's usual 0.8 s against 0.4 s
    np.testing.assert_allclose(p[20:280], 1.0)              # sinus beats stay at 1
    assert p[0] == 1.0                                       # no preceding beat: unknown, neutral


@pytest.mark.data
def test_average_rr_finds_the_tachycardia_beats_of_record_207(mitdb_root):
    # record 207 (a training record): its S beats come in runs, where the local median hides them
    b = load_record_beats(mitdb_root, "207")
    m = b.label <= 1
    local_only = fast_auroc(prematurity(b.rr_local, b.rr_prev)[m], b.label[m] == 1)
    with_average = fast_auroc(prematurity(b.rr_local, b.rr_prev, b.rr_average)[m], b.label[m] == 1)
    assert local_only < 0.7 and with_average > 0.95


def test_subsample_keeps_small_classes():
    labels = np.array([0] * 1000 + [1] * 50 + [2] * 500 + [3] * 5)
    idx = subsample_beats(labels, 100, 60)
    c = np.bincount(labels[idx])
    assert c[0] == 100 and c[3] == 5 and c[1] >= 10 and c[2] > c[1]


def _args(tmp_path, task, extra=()):
    from diffsci.cli.evaluate import harness_parser
    return harness_parser(domain, task).parse_args(["--out", str(tmp_path / task), "--quick", "--device", "cpu",
                                                    "--no-progress", *extra])


@pytest.mark.slow
@pytest.mark.data
def test_pseudo_label_keeps_confident_beats_with_their_class():
    from diffsci_biosignal.harness.augmentation import pseudo_label
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, 64)
    shapes = np.stack([np.exp(-(t / 0.1) ** 2), -np.exp(-(t / 0.3) ** 2)])      # a narrow spike, a wide dip
    def beats(y):
        return (shapes[y] + 0.05 * rng.standard_normal((len(y), 64)))[:, None].astype(np.float32)
    lab_y = np.repeat([0, 1], 20)
    rest_y = np.repeat([0, 1], [60, 30])
    rest_x = beats(rest_y)
    rest_x[-5:] = 0.5 * (shapes[0] + shapes[1])                                # ambiguous: half of each
    keep, plab = pseudo_label(beats(lab_y), lab_y, rest_x, 2, threshold=0.9, seed=0, epochs=100)
    clear = np.arange(len(rest_x) - 5)
    assert set(clear) <= set(keep.tolist()) and np.array_equal(plab[:len(clear)], rest_y[clear])
    assert plab.dtype == lab_y.dtype and len(keep) == len(plab)
    with pytest.raises(ValueError, match="pseudo-threshold must be in"):
        pseudo_label(beats(lab_y), lab_y, rest_x, 2, threshold=1.0)


def test_denoising_harness_smoke(tmp_path, qtdb_root, nstdb_root):
    args = _args(tmp_path, "denoising", ["--data", str(qtdb_root.parent), "--noise", "bw", "--max-test-beats", "4",
                                         "--train-steps", "2", "--shots", "2", "--steps", "2"])
    rep = domain.harnesses["denoising"](args)
    methods = {r["method"] for r in rep["rows"]}
    assert {"fir", "iir", "wavelet", "diffusion", "diffusion_onestep", "published_deepfilter",
            "published_descod"} <= methods
    assert {r["metric"] for r in rep["rows"]} >= {"ssd", "mad", "prd", "cos", "snr_improvement"}
    ssd_fir = next(r for r in rep["rows"] if (r["method"], r["setting"], r["metric"]) == ("fir", "bw", "ssd"))
    assert ssd_fir["n"] == 8 and np.isfinite(ssd_fir["mean"])
    assert (tmp_path / "denoising" / "denoising_examples.png").exists()
    assert json.loads((tmp_path / "denoising" / "report.json").read_text())["task"] == "denoising"


@pytest.mark.slow
@pytest.mark.data
def test_anomaly_harness_smoke(tmp_path, mitdb_root):
    args = _args(tmp_path, "anomaly", ["--data", str(mitdb_root.parent), "--max-normal", "20", "--max-abnormal",
                                       "20", "--nll-max", "6", "--train-steps", "2", "--elbo-steps", "2"])
    rep = domain.harnesses["anomaly"](args)
    rows = {(r["method"], r["setting"], r["metric"]) for r in rep["rows"]}
    assert ("diffusion_recon", "N_vs_V", "auroc") in rows and ("pca", "N_vs_all", "ap") in rows
    assert ("diffusion_nll_rn", "N_vs_all", "auroc") in rows
    assert ("diffusion_recon_rr_fisher", "N_vs_all", "auroc") in rows and ("template_rr_fisher", "N_vs_V", "ap") in rows
    assert rep["split"] == "test" and "201" in rep["train_records"]
    # scores.csv names each beat by its R peak in the record's own samples (the .atr sample) and at 120 Hz
    with open(tmp_path / "anomaly" / "scores.csv") as f:
        beats = list(csv.DictReader(f))
    assert {"sample_record", "sample_120hz", "time_s"} <= set(beats[0]) and "sample" not in beats[0]
    s_rec = np.array([int(r["sample_record"]) for r in beats])
    s_120 = np.array([int(r["sample_120hz"]) for r in beats])
    np.testing.assert_array_equal(s_120, np.round(s_rec / 3))                     # MIT-BIH: 360 Hz
    for rec in {r["record"] for r in beats}:
        atr = wfdb.rdann(str(mitdb_root / rec), "atr").sample
        assert set(s_rec[[r["record"] == rec for r in beats]]) <= set(atr.tolist())
    # the time-point maps of the same beats, in the same order, as arrays
    maps = np.load(tmp_path / "anomaly" / "maps.npz")
    assert maps["map"].shape == maps["reconstruction"].shape == maps["window"].shape == (len(beats), 384)
    np.testing.assert_array_equal(maps["sample_record"], s_rec)
    assert maps["record"].tolist() == [r["record"] for r in beats] and float(maps["fs"]) == 120.0
    np.testing.assert_allclose(maps["map"][:, 192 - 36:192 + 36].mean(1), [float(r["diffusion_recon"]) for r in beats],
                               rtol=1e-4)
    # the cross-database check: the same scores on QTDB excerpts of other patients, subsampled as the test beats
    assert ("diffusion_recon_rr", "qtdb_N_vs_all", "auroc") in rows and ("rr_prematurity", "qtdb_N_vs_S", "auroc") in rows
    assert ("diffusion_recon_rr_rn", "qtdb_N_vs_all", "auroc") in rows and \
        ("diffusion_recon_rr_fisher_rn", "qtdb_N_vs_all", "auroc") not in rows
    ext = rep["external"]["counts"]
    assert ext["N"] == 20 and min(ext["S"], ext["V"], ext["F"]) == 10         # every class kept (subsample_beats)
    assert len((tmp_path / "anomaly" / "scores_qtdb.csv").read_text().splitlines()) == sum(ext.values()) + 1
    assert np.load(tmp_path / "anomaly" / "maps_qtdb.npz")["map"].shape == (sum(ext.values()), 384)
    # the validation split scores two training records with a prior that never saw them
    args = _args(tmp_path / "val", "anomaly", ["--data", str(mitdb_root.parent), "--max-normal", "10",
                                               "--max-abnormal", "10", "--train-steps", "2", "--scores", "recon",
                                               "--split", "validation", "--no-external", "--rhythm-windows", "1"])
    val = domain.harnesses["anomaly"](args)
    assert val["test_records"] == ["201", "208"] and not {"201", "208"} & set(val["train_records"])
    assert rep["rhythm_ref_s"] is None and val["rhythm_ref_s"] == 1.0                # rhythm-normalised windows
    assert any("prior_normal_rhythm1" in str(q) for q in (tmp_path / "val").rglob("config.yaml"))
    assert not set(val["train_records"]) & set(rep["test_records"])
    # the reverse fold swaps the halves: the prior on the test records, scored on the training records
    args = _args(tmp_path / "rev", "anomaly", ["--data", str(mitdb_root.parent), "--max-normal", "10",
                                               "--max-abnormal", "10", "--train-steps", "2", "--scores", "recon",
                                               "--split", "reverse", "--no-external"])
    rev = domain.harnesses["anomaly"](args)
    assert (rev["train_records"], rev["test_records"]) == (rep["test_records"], rep["train_records"])
    assert rev["external"] is None and not (tmp_path / "rev" / "anomaly" / "scores_qtdb.csv").exists()


def test_class_pairs_pair_within_a_class_and_skip_singletons():
    from diffsci_biosignal.harness.augmentation import class_pairs
    y = np.array([0, 0, 0, 1, 2, 2, 0, 2])
    i, j = class_pairs(y, 3, np.random.default_rng(1))
    assert len(i) == 3 * 7 and not np.any(y[i] == 1)                       # class 1 has one beat: no pair
    assert np.all(i != j) and np.array_equal(y[i], y[j])
    assert np.array_equal(np.bincount(i, minlength=8), [3, 3, 3, 0, 3, 3, 3, 3])
    i, j = class_pairs(np.array([0, 0]), 50, np.random.default_rng(2))
    assert set(zip(i.tolist(), j.tolist())) == {(0, 1), (1, 0)}
    assert len(class_pairs(np.array([0, 1, 2]), 2, np.random.default_rng(0))[0]) == 0


def test_pf_ode_interpolations_reach_both_ends_and_leave_the_straight_line():
    """With the exact denoiser of N(0, I) in the generator's fold, t = 0 / 1 give the two beats back (up to the
    solver); t = 0.5 is their slerp through noise, not their average."""
    from diffsci.diffusion import GaussianDenoiser
    from diffsci.samplers.interpolate import slerp
    from diffsci_biosignal.harness.augmentation import pf_ode_interpolations
    from diffsci_biosignal.windows import fold, unfold
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 16)).astype(np.float32)
    y = np.array([0, 0, 1, 1])
    den = GaussianDenoiser(torch.zeros(4, 4), var=1.0)
    i, j = np.array([0, 1, 2, 0]), np.array([1, 0, 3, 1])
    out = pf_ode_interpolations(den, x, y, i, j, np.array([0.0, 1.0, 0.0, 0.5], np.float32), k=4, steps=32)
    assert out.shape == (4, 1, 16) and out.dtype == np.float32
    assert np.abs(out[0] - x[0]).max() < 1e-2 and np.abs(out[1] - x[0]).max() < 1e-2
    assert np.abs(out[2] - x[2]).max() < 1e-2
    a, b = (torch.as_tensor(fold(x[[idx]], 4)) for idx in (0, 1))
    mid = unfold(slerp(a, b, 0.5), 4).numpy()[0]                            # N(0, I): the PF-ODE only scales
    assert np.abs(out[3] - mid).max() < 1e-2 and np.abs(out[3] - 0.5 * (x[0] + x[1])).max() > 0.1
    with pytest.raises(ValueError, match="one class only"):
        pf_ode_interpolations(den, x, y, np.array([0]), np.array([2]), np.array([0.5]), k=4)


@pytest.mark.slow
@pytest.mark.data
def test_augmentation_harness_smoke(tmp_path, mitdb_root):
    args = _args(tmp_path, "augmentation", ["--data", str(mitdb_root.parent), "--max-test", "200", "--train-steps",
                                            "2", "--synthetic-per-class", "4", "--steps", "2", "--epochs", "1",
                                            "--no-reference", "--interpolations", "1"])
    rep = domain.harnesses["augmentation"](args)
    got = {(r["method"], r["metric"]) for r in rep["rows"]}
    for m in ("real_5pct", "real_5pct_plus_diffusion", "diffusion_only", "real_5pct_plus_sdedit",
              "real_5pct_jitter_plus_sdedit", "real_5pct_plus_interp", "real_5pct_plus_mixup"):
        assert (m, "macro_f1") in got and (m, "recall_S") in got
    assert rep["interpolations"]["n"] == rep["n_labelled"] and rep["interpolations"]["rms_from_mixup_mv"] > 0
    assert rep["sdedit_sigma"] == 0.3 and rep["sdedit_copies"] == 2
    # the defaults: rhythm-normalised windows; synthetic beats only of the classes with >= 30 labels (16 S, 20 F)
    assert rep["rhythm_ref_s"] == 1.0 and "_rhythm1_seed0" in str(next(tmp_path.rglob("config.yaml")))
    assert rep["labelled_counts"]["S"] < 30 <= rep["labelled_counts"]["V"]
    assert rep["synthetic_classes"] == ["N", "V"] and rep["min_labelled"] == 30
    # semi-supervised generator: the unlabelled beats as a fifth class, the labelled ones repeated to half
    args = _args(tmp_path / "semi", "augmentation", ["--data", str(mitdb_root.parent), "--max-test", "100",
                                                     "--train-steps", "2", "--synthetic-per-class", "2", "--steps",
                                                     "2", "--epochs", "1", "--seeds", "1", "--no-reference",
                                                     "--generator-data", "all", "--plain-windows",
                                                     "--min-labelled", "0", "--sdedit-sigma", "0"])
    semi = domain.harnesses["augmentation"](args)
    assert semi["generator_data"] == "all" and semi["labelled_share"] == 0.5
    assert semi["rhythm_ref_s"] is None and semi["synthetic_classes"] == ["N", "S", "V", "F"]
    assert "_rhythm" not in str(next((tmp_path / "semi").rglob("config.yaml")))
    assert not any(r["method"].endswith("_sdedit") for r in semi["rows"]) and semi["sdedit_copies"] == 0
    assert semi["generator"]["params"] > 0 and "share0.5" in str(next((tmp_path / "semi").rglob("config.yaml")))
    # --split validation: labels from the training records but 201 and 208, judged on those two, own generator
    args = _args(tmp_path / "val", "augmentation", ["--data", str(mitdb_root.parent), "--max-test", "100",
                                                    "--train-steps", "2", "--synthetic-per-class", "2", "--steps",
                                                    "2", "--epochs", "1", "--seeds", "1", "--no-reference",
                                                    "--split", "validation"])
    val = domain.harnesses["augmentation"](args)
    assert val["split"] == "validation" and val["test_records"] == list(VALIDATION_RECORDS)
    assert not set(VALIDATION_RECORDS) & set(val["train_records"]) and set(val["train_records"]) < set(rep["train_records"])
    assert "_validation_" in str(next((tmp_path / "val").rglob("config.yaml")))
    # --generator-data pseudo: the generator learns from the labelled + confidently pseudo-labelled beats, and the
    # self-training baseline is reported beside it
    args = _args(tmp_path / "pseudo", "augmentation", ["--data", str(mitdb_root.parent), "--max-test", "100",
                                                       "--train-steps", "2", "--synthetic-per-class", "2", "--steps",
                                                       "2", "--epochs", "1", "--seeds", "1", "--no-reference",
                                                       "--generator-data", "pseudo", "--pseudo-threshold", "0.3",
                                                       "--sdedit-sigma", "0"])
    ps = domain.harnesses["augmentation"](args)
    info = ps["pseudo_labels"]
    assert info["threshold"] == 0.3 and 0 < info["n"] <= info["of"] and sum(info["counts"].values()) == info["n"]
    assert ps["generator_counts"] == {c: ps["labelled_counts"][c] + info["counts"][c] for c in info["counts"]}
    assert ps["synthetic_classes"] == [c for c, n in ps["generator_counts"].items() if n >= 30]
    assert ("real_5pct_plus_pseudo", "macro_f1") in {(r["method"], r["metric"]) for r in ps["rows"]}
    assert "pseudo_th0.3_rhythm1_seed0" in str(next((tmp_path / "pseudo").rglob("config.yaml")))
    # --generator-data external: the labelled beats plus the public QTDB beats of other patients, and the classifier
    # trained on those public beats themselves beside it
    args = _args(tmp_path / "ext", "augmentation", ["--data", str(mitdb_root.parent), "--max-test", "100",
                                                    "--train-steps", "2", "--synthetic-per-class", "2", "--steps",
                                                    "2", "--epochs", "1", "--seeds", "1", "--no-reference",
                                                    "--generator-data", "external", "--sdedit-sigma", "0"])
    ex = domain.harnesses["augmentation"](args)
    ext = ex["external"]
    assert ext["n"] == sum(ext["counts"].values()) and ext["counts"]["S"] > 1000
    assert ex["generator_counts"] == {c: ex["labelled_counts"][c] + ext["counts"][c] for c in ext["counts"]}
    assert ex["synthetic_classes"] == ["N", "S", "V", "F"]
    assert ("real_5pct_plus_external", "macro_f1") in {(r["method"], r["metric"]) for r in ex["rows"]}
    assert "external_rhythm1_seed0" in str(next((tmp_path / "ext").rglob("config.yaml")))


def test_external_beats_refuse_a_judged_patient_and_name_missing_records(tmp_path, monkeypatch):
    from diffsci_biosignal.harness import augmentation
    with pytest.raises(ValueError, match="sel221 come from patients"):
        augmentation.external_beats(tmp_path, ["101", "221"])
    monkeypatch.setattr("diffsci_biosignal.mitdb.EXTERNAL_QTDB_RECORDS", ("sel202", "sel820"))
    with pytest.raises(ValueError, match="sel202 come from patients"):             # 201 and 202: one subject
        augmentation.external_beats(tmp_path, ["201"])
    with pytest.raises(FileNotFoundError, match="sel202, sel820"):
        augmentation.external_beats(tmp_path, ["101"])


@pytest.mark.data
def test_external_beats_of_qtdb(qtdb_root):
    from diffsci_biosignal.harness.augmentation import external_beats
    ext = external_beats(qtdb_root, ["101", "201"], fs=120.0, before_s=1.6, after_s=1.6, rhythm_ref_s=1.0)
    # QTDB's .atr beats of the 22 excerpts, Q dropped (3 beats); S mostly from 232 and the SVDB records
    assert {c: int((ext.label == i).sum()) for i, c in enumerate("NSVF")} == {"N": 20456, "S": 1293, "V": 1032,
                                                                              "F": 231}
    assert ext.x.shape == (23012, 1, 384) and ext.fs == 120.0 and set(ext.record) == set(EXTERNAL_QTDB_RECORDS)


@pytest.mark.slow
def test_demo_quick_runs_end_to_end_without_data(tmp_path):
    summary = domain.demo(tmp_path / "demo", "cpu", True)
    rep = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert {r["method"] for r in rep["rows"]} == {"fir", "iir", "wavelet", "diffusion"}
    for f in ("denoised.hea", "denoised.csv", "denoised.h5", "demo_examples.png"):
        assert (tmp_path / "demo" / f).exists()
    back = domain.read(tmp_path / "demo" / "denoised.csv")
    assert back.meta["fs"] == 180.0 and summary["metrics"]["iir"]["ssd"] > 0
    # the filters must beat doing nothing on this noise: snr improvement > 0
    assert summary["metrics"]["iir"]["snr_improvement"] > 0
