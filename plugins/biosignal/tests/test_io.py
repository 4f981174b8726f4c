"""Readers and writers: round trips in every format, and clear errors on bad files."""

import json
import warnings

import numpy as np
import pytest

from diffsci_biosignal import domain
from diffsci_biosignal.io import (as_channels_first, read_annotations, read_csv, read_edf, read_hdf5, read_npy,
                                  read_wfdb, write_csv, write_hdf5, write_npy, write_wfdb)


@pytest.fixture
def signal():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 500)) * 0.5).astype(np.float32)


META = {"fs": 250.0, "sig_name": ["MLII", "V5"], "units": ["mV", "mV"]}


def test_wfdb_round_trip_with_annotations(tmp_path, signal):
    ann = {"extension": "atr", "sample": np.array([10, 200, 410]), "symbol": ["N", "V", "A"]}
    write_wfdb(tmp_path / "rec.hea", signal, {**META, "annotations": ann})
    back = read_wfdb(tmp_path / "rec.hea")
    assert back.array.shape == (2, 500) and back.array.dtype == np.float32
    # no gain in meta: each channel's range fills +-30000 of 16 bits, a step of ptp / 60000
    np.testing.assert_allclose(back.array, signal, rtol=0, atol=np.ptp(signal, 1).max() / 60000)
    assert back.meta["fs"] == 250.0 and back.meta["sig_name"] == ["MLII", "V5"]
    assert back.meta["annotations"]["symbol"] == ["N", "V", "A"]
    assert back.meta["annotations"]["sample"].tolist() == [10, 200, 410]


def test_wfdb_keeps_digital_values_with_given_gain(tmp_path):
    x = (np.arange(-50, 50, dtype=np.float64) / 200).astype(np.float32)[None]   # multiples of 1/200 mV
    write_wfdb(tmp_path / "r.hea", x, {"fs": 360.0, "adc_gain": [200.0], "baseline": [0]})
    back = read_wfdb(tmp_path / "r.hea")
    np.testing.assert_array_equal(back.array, x)
    assert back.meta["adc_gain"] == [200.0]


def test_wfdb_errors(tmp_path, signal):
    with pytest.raises(FileNotFoundError, match="no such WFDB header"):
        read_wfdb(tmp_path / "missing.hea")
    write_wfdb(tmp_path / "rec.hea", signal, META)
    (tmp_path / "rec.dat").unlink()
    with pytest.raises(FileNotFoundError, match="rec.hea"):
        read_wfdb(tmp_path / "rec.hea")
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    with pytest.raises(ValueError, match="bad.hea"):
        read_wfdb(tmp_path / "bad.hea")
    with pytest.raises(ValueError, match="sampling rate"):
        write_wfdb(tmp_path / "nofs.hea", signal, {})
    with pytest.raises(ValueError, match="NaN"):
        write_wfdb(tmp_path / "nan.hea", np.full((1, 10), np.nan), META)
    with pytest.raises(FileNotFoundError, match="annotation"):
        read_annotations(tmp_path / "rec", "qrs")


def test_csv_round_trip_and_sampling_rate(tmp_path, signal):
    write_csv(tmp_path / "s.csv", signal, META)
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "time,MLII,V5"
    back = read_csv(tmp_path / "s.csv")
    np.testing.assert_array_equal(back.array, signal)                          # 9 digits: exact for float32
    assert back.meta["fs"] == 250.0 and back.meta["sig_name"] == ["MLII", "V5"]


def test_csv_errors_name_line_and_column(tmp_path):
    (tmp_path / "a.csv").write_text("time,lead\n0.0,1.0\n0.004,oops\n")
    with pytest.raises(ValueError, match=r"a.csv: line 3, column 'lead': not a number"):
        read_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("0.0,1.0\n0.1,2.0\n")
    with pytest.raises(ValueError, match="first row must name the columns"):
        read_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("time,lead\n0.0,1.0\n0.1\n")
    with pytest.raises(ValueError, match="line 3 has 1 columns"):
        read_csv(tmp_path / "c.csv")
    (tmp_path / "d.csv").write_text("time,lead\n0.1,1.0\n0.0,2.0\n")
    with pytest.raises(ValueError, match="not strictly increasing"):
        read_csv(tmp_path / "d.csv")


def test_hdf5_round_trip_single_and_batched(tmp_path, signal):
    write_hdf5(tmp_path / "s.h5", signal, META)
    back = read_hdf5(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.array, signal)
    assert back.meta["fs"] == 250.0 and back.meta["sig_name"] == ["MLII", "V5"]
    batch = np.stack([signal, -signal])
    write_hdf5(tmp_path / "b.h5", batch, META)
    assert read_hdf5(tmp_path / "b.h5").array.shape == (2, 2, 500)


def test_hdf5_errors(tmp_path):
    import h5py
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = np.zeros(3)
        f["b"] = np.zeros(3)
    with pytest.raises(ValueError, match="no dataset 'signal'; datasets: a, b"):
        read_hdf5(tmp_path / "two.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="junk.h5: not a readable HDF5 file"):
        read_hdf5(tmp_path / "junk.h5")


def test_npy_round_trip_with_sidecar(tmp_path, signal):
    write_npy(tmp_path / "s.npy", signal, META)
    assert json.loads((tmp_path / "s.npy.json").read_text())["fs"] == 250.0
    back = read_npy(tmp_path / "s.npy")
    np.testing.assert_array_equal(back.array, signal)
    assert back.meta["fs"] == 250.0
    np.save(tmp_path / "obj.npy", np.array(["a", "b"]))
    with pytest.raises(ValueError, match="not numeric"):
        read_npy(tmp_path / "obj.npy")


def test_hdf5_and_npy_convert_volts_and_microvolts_to_mv(tmp_path, signal):
    """The units attribute / sidecar is honoured on batches too: lead 0 in uV, lead 1 in V, read back in mV."""
    batch = np.stack([signal, 2 * signal]) * np.array([1e3, 1e-3], dtype=np.float32)[None, :, None]
    meta = {**META, "units": ["uV", "V"]}
    for name, write, read in (("u.h5", write_hdf5, read_hdf5), ("u.npy", write_npy, read_npy)):
        write(tmp_path / name, batch, meta)
        back = read(tmp_path / name)
        np.testing.assert_allclose(back.array, np.stack([signal, 2 * signal]), rtol=1e-5, atol=1e-6)
        assert back.meta["units"] == ["mV", "mV"]
        assert back.meta["converted_units"] == {"MLII": {"from": "uV", "scale": 1e-3}, "V5": {"from": "V", "scale": 1e3}}
    (tmp_path / "u.npy.json").write_text(json.dumps({"fs": 250.0, "units": "uV"}))          # one unit for all leads
    np.testing.assert_allclose(read_npy(tmp_path / "u.npy").array[0, 1], 1e-6 * signal[1], rtol=1e-5)  # stored 1e-3 x
    (tmp_path / "u.npy.json").write_text(json.dumps({"fs": 250.0, "units": ["uV"]}))
    with pytest.raises(ValueError, match=r"u.npy.json: 2 channel\(s\) but 2 sig_name and 1 units"):
        read_npy(tmp_path / "u.npy")


def test_edf_read(tmp_path, signal):
    import pyedflib
    path = tmp_path / "s.edf"
    with pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        heads = [{"label": n, "dimension": "mV", "sample_frequency": 250, "physical_max": 3.0,
                  "physical_min": -3.0, "digital_max": 32767, "digital_min": -32768} for n in META["sig_name"]]
        w.setSignalHeaders(heads)
        w.writeSamples([signal[0].astype(np.float64), signal[1].astype(np.float64)])
    back = read_edf(path)
    assert back.meta["fs"] == 250.0 and back.meta["sig_name"] == ["MLII", "V5"]
    np.testing.assert_allclose(back.array, signal, atol=6.0 / 65535)           # 16-bit quantisation
    (tmp_path / "bad.edf").write_bytes(b"0" * 300)
    with pytest.raises(ValueError, match="bad.edf: not a readable EDF file"):
        read_edf(tmp_path / "bad.edf")


def test_domain_dispatches_by_suffix(tmp_path, signal):
    domain.write(tmp_path / "x.csv", signal, META)
    assert domain.read(tmp_path / "x.csv").array.shape == (2, 500)
    with pytest.raises(ValueError, match="cannot read this format"):
        domain.reader_for(tmp_path / "x.xyz")


def test_channels_first_checks():
    assert as_channels_first(np.zeros(5), "s").shape == (1, 5)
    with pytest.raises(ValueError, match="transpose"):
        as_channels_first(np.zeros((100, 2)), "s")


# ------------------------------------------------------------------------------------------------ units
def test_wfdb_in_microvolts_is_read_in_millivolts_and_written_back_unchanged(tmp_path):
    x = (np.arange(-100, 100, dtype=np.float64) * 5)[None].astype(np.float32)      # uV, multiples of 5
    write_wfdb(tmp_path / "u.hea", x, {"fs": 250.0, "units": ["uV"], "adc_gain": [1.0], "baseline": [0]})
    back = read_wfdb(tmp_path / "u.hea")
    np.testing.assert_allclose(back.array, x / 1000, rtol=1e-6)
    assert back.meta["units"] == ["mV"] and back.meta["converted_units"] == {"ch0": {"from": "uV", "scale": 1e-3}}
    assert back.meta["adc_gain"] == [1000.0]                                      # digital units per mV now
    write_wfdb(tmp_path / "again.hea", back.array, back.meta)                      # the same digital values
    assert (tmp_path / "again.dat").read_bytes() == (tmp_path / "u.dat").read_bytes()


def _write_edf(path, signals, rates, dims, labels):
    import pyedflib
    with pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders([{"label": n, "dimension": d, "sample_frequency": r, "physical_max": 3000.0,
                             "physical_min": -3000.0, "digital_max": 32767, "digital_min": -32768}
                            for n, r, d in zip(labels, rates, dims)])
        w.writeSamples([np.asarray(v, dtype=np.float64) for v in signals])


def test_edf_units_channels_and_mixed_rates(tmp_path):
    t250, t50 = np.arange(2500) / 250, np.arange(500) / 50
    ecg, resp = 800 * np.sin(2 * np.pi * 1.0 * t250), 500 * np.sin(2 * np.pi * 0.25 * t50)
    _write_edf(tmp_path / "m.edf", [ecg, resp], [250, 50], ["uV", "mV"], ["ECG", "Resp"])
    back = read_edf(tmp_path / "m.edf")                                   # both, resp resampled to 250 Hz
    assert back.array.shape == (2, 2500) and back.meta["fs"] == 250.0
    assert back.meta["units"] == ["mV", "mV"] and back.meta["converted_units"]["ECG"]["from"] == "uV"
    assert back.meta["resampled_from"] == {"Resp": 50.0}
    np.testing.assert_allclose(back.array[0], ecg / 1000, atol=1e-3)                 # uV -> mV
    inner = slice(250, -250)                                                         # away from the FIR edges
    np.testing.assert_allclose(back.array[1, inner], 500 * np.sin(2 * np.pi * 0.25 * t250)[inner], atol=0.5)
    one = read_edf(tmp_path / "m.edf", channels=["resp"])                             # by label, any case
    assert one.array.shape == (1, 500) and one.meta["fs"] == 50.0 and one.meta["sig_name"] == ["Resp"]
    assert read_edf(tmp_path / "m.edf", channels=[0], fs=125.0).array.shape == (1, 1250)
    with pytest.raises(ValueError, match="no channel 'SpO2'; channels: ECG, Resp"):
        read_edf(tmp_path / "m.edf", channels=["SpO2"])
    with pytest.raises(ValueError, match="different sampling rates.*channels="):
        read_edf(tmp_path / "m.edf", fs=250.0001)


# ----------------------------------------------------------------------------------- WFDB gain, names
def test_wfdb_gain_follows_the_array_not_the_record_it_came_from(tmp_path):
    std = (np.random.default_rng(0).random((1, 1000)) * 0.01).astype(np.float32)   # a std map, 0..0.01 mV
    meta = {"fs": 360.0, "adc_gain": [200.0], "baseline": [0]}                       # the input record's gain
    write_wfdb(tmp_path / "s.hea", std, meta)
    assert np.abs(read_wfdb(tmp_path / "s.hea").array - std).max() <= 0.01 / 60000   # not 1/400 mV
    write_wfdb(tmp_path / "g.hea", std, {"fs": 360.0})
    back = read_wfdb(tmp_path / "g.hea")
    assert back.meta["fmt"] == ["16"]
    assert 0.8 * 32767 < np.abs(std * back.meta["adc_gain"][0] + back.meta["baseline"][0]).max() <= 32767


def test_wfdb_annotations_follow_the_record_rate_and_are_checked(tmp_path):
    x = np.zeros((1, 1200), np.float32)                                         # 10 s at 120 Hz
    ann = {"extension": "atr", "sample": np.array([100, 3000, 3500]), "symbol": ["N", "V", "N"], "fs": 360.0}
    write_wfdb(tmp_path / "r.hea", x, {"fs": 120.0, "annotations": ann})
    assert read_annotations(tmp_path / "r").get("sample").tolist() == [33, 1000, 1167]
    with pytest.raises(ValueError, match="1 annotation samples lie outside the record's 1200 samples"):
        write_wfdb(tmp_path / "o.hea", x, {"fs": 120.0, "annotations": {**ann, "fs": 120.0, "sample": [5, 6, 1200]}})
    with pytest.raises(ValueError, match=r"symbols \['XYZ'\] are not WFDB codes; valid: .*N"):
        write_wfdb(tmp_path / "y.hea", x, {"fs": 120.0, "annotations": {**ann, "symbol": ["N", "XYZ", "N"]}})
    assert not (tmp_path / "y.hea").exists()                                    # checked before writing


def test_wfdb_names_truncation_and_batches_are_clear_errors(tmp_path, signal):
    for bad in ("a.b.hea", "a b.hea"):
        with pytest.raises(ValueError, match=r"record names may hold only .*got 'a.b'|got 'a b'"):
            write_wfdb(tmp_path / bad, signal, META)
    write_wfdb(tmp_path / "t.hea", np.tile(signal, (2, 1)), {"fs": 250.0})          # 4 signals, format 16
    dat = tmp_path / "t.dat"
    dat.write_bytes(dat.read_bytes()[:1001])
    with pytest.raises(ValueError, match=r"t.dat: the signal file is shorter than the header's length.*125 of the 500"):
        read_wfdb(tmp_path / "t.hea")
    batch = np.stack([signal, signal])
    for name, write in (("k.hea", write_wfdb), ("k.csv", write_csv)):
        with pytest.raises(ValueError, match=r"got a batch of shape \(2, 2, 500\).*\.h5/\.npy"):
            write(tmp_path / name, batch, META)


# ---------------------------------------------------------------------------------------- real CSVs
def test_csv_rounded_time_column_gives_a_resamplable_rate(tmp_path):
    from diffsci_biosignal.resample import resample
    t = np.arange(3600) / 360.0
    rows = "\n".join(f"{v:.3f},{np.sin(v):.4f}" for v in t)                        # time rounded to ms
    (tmp_path / "r.csv").write_text("time,MLII\n" + rows + "\n")
    back = read_csv(tmp_path / "r.csv")
    assert back.meta["fs"] == 360.0
    assert resample(back.array, back.meta["fs"], 120.0).shape == (1, 1200)


@pytest.mark.parametrize("header,scale", [("\ufefftime", 1.0), ("Time (s)", 1.0), ("time_ms", 1e3),
                                          ("time [ms]", 1e3), ("'t'", 1.0)])
def test_csv_time_column_spellings(tmp_path, header, scale):
    body = "".join(f"{i * 0.004 * scale:g},{i}\n" for i in range(5))
    (tmp_path / "t.csv").write_text(f"{header},MLII\n" + body, encoding="utf-8")
    back = read_csv(tmp_path / "t.csv")
    assert back.meta["fs"] == 250.0 and back.meta["sig_name"] == ["MLII"] and back.array.shape == (1, 5)


def test_csv_physionet_export_with_units_row(tmp_path):
    (tmp_path / "p.csv").write_text("'Elapsed time','MLII','V5'\n'hh:mm:ss.mmm','uV','mV'\n" + "".join(
        f"'0:{i * 0.002:06.3f}',{100 * i},-0.065\n" for i in range(6)) + "\n")
    back = read_csv(tmp_path / "p.csv")
    assert back.meta["fs"] == 500.0 and back.meta["sig_name"] == ["MLII", "V5"]
    assert back.meta["units"] == ["mV", "mV"] and back.meta["converted_units"] == {"MLII": {"from": "uV", "scale": 1e-3}}
    np.testing.assert_allclose(back.array[0], np.arange(6) * 0.1, rtol=1e-6)
    (tmp_path / "s.csv").write_text("'sample #','MLII'\n'samples','mV'\n'0',1.0\n'1',2.0\n")
    back = read_csv(tmp_path / "s.csv")
    assert back.meta["fs"] is None and back.meta["sig_name"] == ["MLII"] and back.array.tolist() == [[1.0, 2.0]]
    assert read_csv(tmp_path / "s.csv", fs=360.0).meta["fs"] == 360.0


# ------------------------------------------------------------------------------------ (T, C) arrays
def test_time_by_channel_arrays_are_transposed_with_a_warning(tmp_path, signal):
    import h5py
    np.save(tmp_path / "tc.npy", signal.T)
    with h5py.File(tmp_path / "tc.h5", "w") as f:
        f["signal"] = signal.T
    for path, read in ((tmp_path / "tc.npy", read_npy), (tmp_path / "tc.h5", read_hdf5)):
        with pytest.warns(UserWarning, match="transposing"):
            back = read(path)
        np.testing.assert_array_equal(back.array, signal)
        assert len(back.meta["sig_name"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.save(tmp_path / "ct.npy", signal)
        assert read_npy(tmp_path / "ct.npy").array.shape == (2, 500)             # (C, T): no warning
