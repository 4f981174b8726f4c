"""diffsci-mri: MRI volumes (NIfTI, fastMRI HDF5, BART k-space), k-space reconstruction and anomaly harnesses.

The domain object ``domain`` is registered under the ``diffsci.domains`` entry point (``mri``).
Public API:

- I/O (:mod:`diffsci_mri.io`): ``read_nifti``/``write_nifti`` (affine and header kept),
  ``read_fastmri``/``write_fastmri``, ``read_cfl``/``write_cfl``, ``load_npy``/``save_npy``;
- preprocessing with MONAI (:mod:`diffsci_mri.preprocess`), slice/patch datasets (:mod:`diffsci_mri.datasets`);
- k-space (:mod:`diffsci_mri.kspace`): centred FFTs, fastMRI masks, Poisson-disc masks, ESPIRiT maps;
- forward models on the engine's operators (:mod:`diffsci_mri.forward`);
- baselines (:mod:`diffsci_mri.baselines`): zero-filled, CS with TV / wavelets (PDHG);
- metrics as fastMRI's evaluate.py (:mod:`diffsci_mri.metrics`);
- harnesses ``reconstruction`` and ``anomaly`` and the embedded demo (:mod:`diffsci_mri.harness`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from diffsci.domains import Domain, Loaded
from diffsci.utils import config_dir

from .datasets import MRIDataConfig, make_dataset
from .forward import kspace_operator
from .io import READERS, WRITERS
from .metrics import METRICS
from .preprocess import NORMALISATION

__version__ = "0.1.0"

_CONFIGS = config_dir()


def _reconstruction(args: argparse.Namespace) -> dict:
    """Undersampled k-space (4x, 8x; single- and multi-coil): zero-filled, CS and diffusion posterior sampling."""
    from .harness.reconstruction import run_reconstruction
    return run_reconstruction(args)


def _anomaly(args: argparse.Namespace) -> dict:
    """Anomaly maps of a prior trained on healthy slices: synthetic (MOOD-style) anomalies and BraTS tumours."""
    from .harness.anomaly import run_anomaly
    return run_anomaly(args)


def _add_harness_args(task: str, parser: argparse.ArgumentParser) -> None:
    if task == "reconstruction":
        from .harness.reconstruction import add_args
    elif task == "anomaly":
        from .harness.anomaly import add_args
    else:
        return
    add_args(parser)


def _demo(out_dir: Path, device: str, quick: bool) -> dict:
    from .harness.demo import run_demo
    return run_demo(out_dir, device, quick)


def _example() -> dict[str, Loaded]:
    """Tiny in-memory samples per writable format (the contract test's writer -> reader round trip)."""
    rng = np.random.default_rng(0)
    vol = rng.random((1, 6, 5, 4)).astype(np.float32)
    affine = np.diag([1.5, 1.5, 2.0, 1.0])
    affine[:3, 3] = [-4.0, 3.0, 10.0]
    kspace = (rng.normal(size=(3, 2, 6, 5)) + 1j * rng.normal(size=(3, 2, 6, 5))).astype(np.complex64)
    return {
        ".nii.gz": Loaded(vol, {"affine": affine}),
        ".nii": Loaded(vol, {"affine": affine}),
        ".h5": Loaded(rng.random((3, 1, 6, 5)).astype(np.float32),
                      {"kspace": kspace, "key": "reconstruction_rss", "attrs": {"acquisition": "AXT2"}}),
        ".cfl": Loaded(kspace[0], {}),
        ".npy": Loaded(vol, {}),
    }


domain = Domain(
    name="mri",
    spatial_dims=(2, 3),
    description="MRI volumes: NIfTI, fastMRI HDF5 and BART k-space; reconstruction and anomaly harnesses",
    data_config=MRIDataConfig,
    make_dataset=make_dataset,
    normalisation=NORMALISATION,
    readers=dict(READERS),
    writers=dict(WRITERS),
    operators={"kspace": kspace_operator},
    metrics=dict(METRICS),
    harnesses={"reconstruction": _reconstruction, "anomaly": _anomaly},
    demo=_demo,
    configs={name: _CONFIGS / f"mri_{name}.yaml" for name in ("reconstruction", "anomaly", "demo")},
    add_harness_args=_add_harness_args,
    example=_example,
    metadata={"version": __version__,
              "changelog": {"0.1.0": "NIfTI/fastMRI/BART I/O, fastMRI masks, CS (PDHG), ESPIRiT, harnesses"},
              "input_formats": [".nii", ".nii.gz", ".h5 (fastMRI)", ".cfl/.hdr (BART)", ".npy"],
              "output_formats": [".nii", ".nii.gz", ".h5", ".cfl", ".npy", "report.json/md", "PNG"]},
)

__all__ = ["domain", "MRIDataConfig", "make_dataset", "__version__"]
