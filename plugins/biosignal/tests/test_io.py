"""Readers and writers: round trips in every format, and clear errors on bad files."""

import json

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
    np.testing.assert_allclose(back.array, signal, rtol=1e-6, atol=1e-6)        # 32-bit samples
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
