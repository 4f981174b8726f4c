"""Shared fixtures: a tiny folder of synthetic brain-like NIfTI volumes, and the real-data skip."""

import nibabel as nib
import numpy as np
import pytest

from diffsci.utils import data_root


def brain_volume(shape=(40, 44, 36), seed=0) -> np.ndarray:
    """An ellipsoidal 'brain' with a brighter shell, two dark 'ventricles' and texture, zero outside."""
    rng = np.random.default_rng(seed)
    g = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r = np.sqrt((g[0] / 0.8) ** 2 + (g[1] / 0.9) ** 2 + (g[2] / 0.85) ** 2)
    vol = np.where(r < 1, 300.0, 0.0)
    vol[(r > 0.8) & (r < 1)] = 450.0
    for sx in (-0.2, 0.2):
        vol[((g[0] - sx) / 0.12) ** 2 + (g[1] / 0.35) ** 2 + (g[2] / 0.3) ** 2 < 1] = 120.0
    vol += (r < 1) * rng.normal(0, 10, shape)
    return np.clip(vol, 0, None).astype(np.int16)


@pytest.fixture(scope="session")
def volume_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mri_volumes")
    for i in range(2):
        affine = np.diag([2.0, 2.0, 2.5, 1.0])
        affine[:3, 3] = [-40.0, -44.0, -45.0]
        nib.save(nib.Nifti1Image(brain_volume(seed=i), affine), folder / f"sub{i}_T{i + 1}.nii.gz")
    return folder


@pytest.fixture(scope="session")
def real_mri():
    root = data_root("mri")
    if not (root / "hd_bet_IXI002-Guys-0828-T2.nii.gz").exists():
        pytest.skip(f"real MRI data not found under {root} (set DIFFSCI_DATA)")
    return root
