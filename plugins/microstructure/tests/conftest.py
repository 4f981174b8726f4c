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


@pytest.fixture(scope="session")
def blobs_prior(tmp_path_factory):
    """A 2-step 3D prior on 8^3 patches of a porespy blobs volume, saved as a run folder (for the CLI tests)."""
    from diffsci.train import train
    from diffsci_microstructure.data import MicrostructureData, make_dataset
    from diffsci_microstructure.harness import quick_prior_config
    data = MicrostructureData(source="blobs", blobs_size=48, blobs_porosity=0.3, test_fraction=0.25,
                              val_fraction=0.25)
    cfg = quick_prior_config(data, steps=2, out_dir=str(tmp_path_factory.mktemp("prior") / "run"))
    params = MicrostructureData.model_validate(cfg.data.params)
    return train(cfg, dataset=make_dataset(params, "train"), device="cpu", progress=False).run_dir
