"""Shared fixtures of the biosignal tests: the real-data folder (tests marked ``data`` skip without it)."""

from pathlib import Path

import pytest

from diffsci.utils import data_root


def _ecg(sub: str) -> Path:
    p = data_root("ecg") / sub
    if not p.is_dir():
        pytest.skip(f"real ECG data not found at {p} (set DIFFSCI_DATA)")
    return p


@pytest.fixture
def mitdb_root() -> Path:
    return _ecg("mitdb")


@pytest.fixture
def qtdb_root() -> Path:
    return _ecg("qtdb")


@pytest.fixture
def nstdb_root() -> Path:
    return _ecg("nstdb")
