import numpy as np
import pytest

from diffsci.utils import data_root


@pytest.fixture(scope="session")
def berea_path():
    path = data_root("microstructure") / "berea.zip"
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set DIFFSCI_DATA)")
    return path


def _ball(n: int, r: float) -> np.ndarray:
    """Digitised ball of radius r centred in an n^3 box (voxel centres inside)."""
    g = np.indices((n, n, n)).astype(float) - (n - 1) / 2
    return (g ** 2).sum(0) <= r * r


@pytest.fixture
def ball():
    return _ball
