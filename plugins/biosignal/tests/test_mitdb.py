"""MIT-BIH beats: windows at the annotated R peaks, AAMI labels, record split (skipped without the data)."""

import numpy as np
import pytest

from diffsci_biosignal.mitdb import (BBB_RECORDS, DS1_RECORDS, DS2_RECORDS, EXTERNAL_QTDB_RECORDS, VALIDATION_RECORDS,
                                    BeatSet, harness_split, load_record_beats, mitdb_records, record_beats,
                                    record_split, stratified_subset, windowed_median)


def test_split_is_by_record_and_alternating():
    train, test = record_split(["209", "101", "106", "108"])
    assert train == ["101", "108"] and test == ["106", "209"]
    assert not set(train) & set(test)


def test_bundle_branch_block_records_alternate_among_themselves():
    # plain alternation would send 109, 124 and 207 all to test (odd positions); each half must hold one
    recs = ["101", "106", "108", "109", "112", "114", "115", "116", "122", "124", "201", "203", "205", "207", "208"]
    train, test = record_split(recs)
    assert sorted(train + test) == sorted(recs) and not set(train) & set(test)
    assert {"109", "207"} <= set(train) and "124" in test
    # every other record keeps its side of the plain alternation
    assert [r for r in train if r not in BBB_RECORDS] == [r for r in sorted(recs)[0::2] if r not in BBB_RECORDS]


def test_harness_splits(tmp_path):
    recs = ["101", "106", "108", "109", "112", "114", "115", "116", "122", "124", "201", "203", "205", "207", "208"]
    for r in recs:
        (tmp_path / f"{r}.hea").touch()
        (tmp_path / f"{r}.atr").touch()
    train, test = harness_split(tmp_path)
    assert (train, test) == record_split(recs)
    assert harness_split(tmp_path, "reverse") == (test, train)
    vtrain, vtest = harness_split(tmp_path, "validation")
    assert vtest == list(VALIDATION_RECORDS) and vtrain == [r for r in train if r not in VALIDATION_RECORDS]
    assert not set(vtrain) & set(test)                     # validation never touches the test records
    (tmp_path / "201.atr").unlink()                        # a validation record missing from the folder
    with pytest.raises(ValueError, match="201"):
        harness_split(tmp_path, "validation")
    with pytest.raises(ValueError, match="split must be one of"):
        harness_split(tmp_path, "holdout")


@pytest.mark.data
def test_bbb_records_are_mostly_bundle_branch_block_beats(mitdb_root):
    import wfdb

    for r in mitdb_records(mitdb_root):
        sym = np.array(wfdb.rdann(str(mitdb_root / r), "atr").symbol)
        normal = np.isin(sym, ["N", "L", "R", "e", "j"])
        bbb = np.isin(sym, ["L", "R"]).sum() / max(1, normal.sum())
        assert (bbb > 0.5) == (r in BBB_RECORDS), (r, bbb)


def test_external_qtdb_records_are_other_patients():
    # MIT-BIH excerpts: DS2 patients only (never DS1, which holds the training and test records), no paced record;
    # the rest come from the Supraventricular Arrhythmia Database (800 series)
    mit = [r[3:] for r in EXTERNAL_QTDB_RECORDS if not r.startswith("sel8")]
    assert mit and set(mit) <= set(DS2_RECORDS) and not set(mit) & (set(DS1_RECORDS) | {"102", "104"})
    assert all(800 <= int(r[3:]) < 900 for r in EXTERNAL_QTDB_RECORDS if r.startswith("sel8"))


def test_windowed_median_equals_brute_force():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 100, 300))
    v = rng.normal(size=300)
    v[rng.choice(300, 30, replace=False)] = np.nan
    got = windowed_median(t, v, 7.5)
    want = [np.nanmedian(v[np.abs(t - ti) <= 7.5]) for ti in t]
    np.testing.assert_array_equal(got, want)
    assert np.isnan(windowed_median(np.array([0.0, 50.0]), np.array([np.nan, 1.0]), 1.0)[0])


def test_stratified_subset_keeps_every_class():
    labels = np.array([0] * 1000 + [1] * 30 + [2] * 3)
    idx = stratified_subset(labels, 0.05, np.random.default_rng(0))
    assert np.bincount(labels[idx]).tolist() == [50, 2, 1]


@pytest.mark.data
def test_record_106_beats(mitdb_root):
    assert "106" in mitdb_records(mitdb_root)
    b = load_record_beats(mitdb_root, "106", fs=120.0)
    assert isinstance(b, BeatSet) and b.x.shape[1:] == (1, 384)
    counts = b.counts()
    assert counts["V"] > 500 and counts["N"] > 1400                       # 106: 1507 N, 520 V
    np.testing.assert_allclose(np.median(b.x, -1), 0, atol=1e-6)
    # the R peak sits at the window centre: the centre sample is near the window's extreme
    centre = b.x[b.label == 0, 0, 192]
    peak = np.abs(b.x[b.label == 0, 0, 180:205]).max(-1)
    assert np.median(np.abs(centre) / peak) > 0.9
    assert np.nanmedian(b.rr_prev) == pytest.approx(0.8, abs=0.25)
    # the +-5 min average RR: within the record's RR range, and slower-moving than the 21-beat local median
    assert np.nanmin(b.rr_prev) <= b.rr_average.min() and b.rr_average.max() <= np.nanmax(b.rr_prev)
    assert np.abs(np.diff(b.rr_average)).mean() < np.abs(np.diff(b.rr_local)).mean()
    sub = b.subset(np.arange(10, 20))
    np.testing.assert_array_equal(BeatSet.cat([sub, sub]).rr_average, np.tile(b.rr_average[10:20], 2))
    np.testing.assert_array_equal(BeatSet.cat([sub, sub]).sample_record, np.tile(b.sample_record[10:20], 2))
    # every beat keeps its annotated R peak in the record's samples (360 Hz) beside the 120 Hz one
    import wfdb
    ann = wfdb.rdann(str(mitdb_root / "106"), "atr")
    assert set(b.sample_record.tolist()) <= set(ann.sample.tolist())
    assert (b.sample_record[0], b.sample[0]) == (724, 241)                # the first beat whose window fits
    np.testing.assert_array_equal(b.sample, np.round(b.sample_record * 120 / 360))


def test_record_beats_of_an_array_match_the_windows_by_hand():
    fs_in, t = 250.0, np.arange(5000)
    sig = np.sin(2 * np.pi * 1.1 * t / fs_in) + 0.01 * t / fs_in
    r = np.array([50, 400, 1000, 2500, 4900])
    b = record_beats(sig, fs_in, r, np.array([0, 0, 2, 0, 0]), "x", fs=100.0, before_s=1.0, after_s=1.0,
                     highpass_hz=None)
    # the windows at 100 Hz: [c - 100, c + 100) with c = round(r * 100 / 250); beats 50 and 4900 do not fit
    np.testing.assert_array_equal(b.sample_record, [400, 1000, 2500])
    np.testing.assert_array_equal(b.sample, [160, 400, 1000])
    assert b.label.tolist() == [0, 2, 0] and b.record.tolist() == ["x"] * 3 and b.x.shape == (3, 1, 200)
    from diffsci_biosignal.resample import resample
    s100 = resample(sig, fs_in, 100.0)
    for w, c in zip(b.x[:, 0], b.sample):
        ref = s100[c - 100:c + 100]
        np.testing.assert_allclose(w, ref - np.median(ref), atol=1e-6)
    # RR from the record's samples, in s: 400 -> 1000 is 2.4 s
    assert b.rr_prev[1] == pytest.approx(600 / fs_in)
    with pytest.raises(ValueError, match="strictly increasing"):
        record_beats(sig, fs_in, r[::-1], record="x")
    with pytest.raises(ValueError, match="3 labels for 5 R peaks"):
        record_beats(sig, fs_in, r, np.zeros(3), record="x")


def test_rhythm_normalised_beats_of_record_106(mitdb_root):
    """Rhythm-normalised windows: the same beats, and the normal beats' previous R peak at -1 s for this
    patient (plain windows: at -rr_prev)."""
    plain = load_record_beats(mitdb_root, "106", fs=120.0)
    b = load_record_beats(mitdb_root, "106", fs=120.0, rhythm_ref_s=1.0)
    assert b.x.shape[1:] == (1, 384) and abs(len(b) - len(plain)) <= 2
    np.testing.assert_allclose(np.median(b.x, -1), 0, atol=1e-6)
    regular = (b.label == 0) & (np.abs(b.rr_prev / np.fmax(b.rr_local, b.rr_average) - 1) < 0.05)
    where = np.argmax(np.abs(b.x[regular, 0, 12:162]), -1) + 12                 # 0.25-1.5 s before the R peak
    assert np.median(where) == pytest.approx(192 - 120, abs=2)
    where_plain = np.argmax(np.abs(plain.x[np.isin(plain.sample, b.sample[regular]), 0, 12:162]), -1) + 12
    assert np.median(where_plain) == pytest.approx(192 - 120 * np.median(b.rr_prev[regular]), abs=2)
    # V beats of 106 come early: their previous R peak sits later than -1 s
    vv = b.label == 2
    where_v = np.argmax(np.abs(b.x[vv, 0, 12:162]), -1) + 12
    assert np.median(where_v) > 192 - 90                                         # within 0.75 s
