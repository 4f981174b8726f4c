"""The DeepFilter / DeScoD-ECG data protocol on the real QTDB + NSTDB (skipped without the data)."""

import math

import numpy as np
import pytest
from scipy.signal import resample_poly

from diffsci_biosignal.io import read_annotations, read_wfdb
from diffsci_biosignal.qtdb import TEST_RECORDS, deepfilter_benchmark, pad_beats, qtdb_beats, qtdb_records

pytestmark = pytest.mark.data


def test_test_records_exist(qtdb_root):
    recs = qtdb_records(qtdb_root)
    assert len(recs) == 105 and set(TEST_RECORDS) <= set(recs)


def test_beats_of_one_record_follow_the_protocol(qtdb_root):
    beats = qtdb_beats(qtdb_root, "sel123")
    sig = read_wfdb(qtdb_root / "sel123.hea", annotation=None).array[0].astype(np.float64)
    ann = read_annotations(qtdb_root / "sel123", "pu1")
    sym, samp = np.asarray(ann["symbol"]), ann["sample"]
    onsets, r_peaks = samp[sym == "("], samp[sym == "N"]
    starts = [onsets[onsets < p][-1] - 10 for p in samp[sym == "p"]]     # 40 ms at 250 Hz before the P onset
    assert len(beats) > 500
    # the first kept beat, rebuilt by hand: the first segment with fewer than two QRS annotations,
    # mirror-extended, resampled 250 -> 360 Hz, middle kept
    a, b_end = next((a, b) for a, b in zip(starts[:-1], starts[1:]) if np.sum((r_peaks > a) & (r_peaks < b)) < 2)
    b = sig[a:b_end]
    n = math.ceil(len(b) * 360 / 250)
    ref = resample_poly(np.concatenate([b[::-1], b, b[::-1]]), 36, 25)[n - 1:2 * n - 1]
    np.testing.assert_allclose(beats[0], ref, atol=1e-12)
    padded, kept = pad_beats(beats)
    assert padded.shape[1] == 512 and np.all(padded[:, :16] == 0)
    lengths = np.array([len(beats[i]) for i in kept])
    assert lengths.max() <= 496
    i = 3
    assert padded[i, 16 + lengths[i]:].sum() == 0
    assert padded[i, 16] == pytest.approx(-padded[i, 15 + lengths[i]])    # end points centred on 0


@pytest.mark.slow
def test_benchmark_amplitudes_and_noise_split(qtdb_root, nstdb_root):
    d = deepfilter_benchmark(qtdb_root, nstdb_root, "bw", 1)
    assert 13000 < d.info["n_test"] < 13500 and 70000 < d.info["n_train"] < 74000   # published: 13 306 / 71 893
    assert set(np.unique(d.test_records)) == set(TEST_RECORDS)
    ratio = np.ptp(d.test_noisy - d.test_clean, -1) / np.ptp(d.test_clean, -1)
    np.testing.assert_allclose(ratio, d.test_ratio, rtol=1e-9)
    assert d.test_ratio.min() >= 0.2 and d.test_ratio.max() <= 1.99
    # with seed 1234 the test ratios come after the training ones
    rs = np.random.RandomState(1234)
    rs.randint(20, 200, size=d.info["n_train"])
    np.testing.assert_array_equal(d.test_ratio, rs.randint(20, 200, size=d.info["n_test"]) / 100)
