"""Porous-media microstructures: 3D (and 2D) binary micro-CT volumes.

Readers/writers (multi-page TIFF, TIFF in .zip, raw, HDF5, NumPy, NIfTI), Otsu segmentation, random
sub-volumes with the 48 cube symmetries and porosity conditioning, morphology and transport metrics
(porosity, S2, specific surface, chord lengths, local thickness, Euler characteristic, pore-network
permeability), tiled denoising for volumes larger than the training patches, reconstruction from 2D
slices, and the ``generation`` / ``reconstruction`` harnesses. See docs/microstructure.md.
"""

import numpy as np

from diffsci.domains import Domain, Loaded
from diffsci.utils import config_dir

from . import io as _io
from .data import MicrostructureData, make_dataset
from .metrics import (chord_length_distribution, euler_density, permeability, pore_size_distribution, porosity,
                      specific_surface, two_point_correlation)

__all__ = ["domain", "MicrostructureData", "make_dataset"]

_CONFIGS = config_dir()


def _example() -> dict[str, Loaded]:
    """Tiny volumes for the contract test: a binary uint8 8^3 cube (0 = pore, 255 = grain), a 2D float slice."""
    rng = np.random.default_rng(0)
    vol = np.where(rng.random((1, 8, 8, 8)) < 0.3, 0, 255).astype(np.uint8)
    img = rng.random((1, 6, 5)).astype(np.float32)
    meta = {"voxel_size": 5.345e-6}
    return {".tif": Loaded(vol, meta), ".tiff": Loaded(img), ".zip": Loaded(vol, meta), ".raw": Loaded(vol),
            ".h5": Loaded(vol, meta), ".hdf5": Loaded(img), ".npy": Loaded(vol), ".nii.gz": Loaded(vol, meta),
            ".nii": Loaded(img)}


def _to_model(loaded: Loaded) -> np.ndarray:
    """A read volume or slice in model units (+1 pore, -1 grain), segmented as training volumes are; its coding
    joins ``loaded.meta`` so that samples are written back in it (``diffsci reconstruct``)."""
    from .data import to_model
    from .segmentation import binarize
    pore, coding = binarize(loaded.array, pore_value=loaded.meta.get("pore_value"), source="measurement")
    loaded.meta.update(coding)
    return to_model(pore)


def _from_model(x: np.ndarray, meta: dict) -> np.ndarray:
    """Samples in model units -> pore masks in the coding of the file they were measured from."""
    return _io.encode_binary(np.asarray(x) > 0, meta)


def _s2_radial(estimate, reference=None):
    return two_point_correlation(np.asarray(estimate, bool)).radial


# The harnesses, the demo and their option parser are imported when used, not with the package: `import
# diffsci_microstructure` and `diffsci domains` stay free of the harness, matplotlib, porespy and openpnm.
# (Private names: `generation` and `demo` are also submodules.)
def _generation(args):
    """``diffsci evaluate microstructure generation`` (see :func:`diffsci_microstructure.harness.generation`)."""
    from .harness import generation as run
    return run(args)


def _reconstruction(args):
    """``diffsci evaluate microstructure reconstruction`` (see :mod:`diffsci_microstructure.harness`)."""
    from .harness import reconstruction as run
    return run(args)


def _demo(out_dir, device: str = "auto", quick: bool = False) -> dict:
    """``diffsci demo microstructure`` (see :func:`diffsci_microstructure.demo.demo`)."""
    from .demo import demo as run
    return run(out_dir, device=device, quick=quick)


def _sample(args):
    """``diffsci evaluate microstructure sample``: generated volumes to files at a target porosity and any size
    (see :mod:`diffsci_microstructure.sample`)."""
    from .sample import run_sample
    return run_sample(args)


_sample.without_options = ("data", "quick")        # the checkpoint gives the data's coding and voxel size


def _add_harness_args(task, parser) -> None:
    if task == "sample":
        from .sample import add_sample_args
        return add_sample_args(parser)
    from .options import add_harness_args as add
    add(task, parser)


domain = Domain(
    name="microstructure",
    spatial_dims=(2, 3),
    description="Porous-media microstructures: TIFF/raw/HDF5 volumes; porosity-conditioned generation and "
                "morphology harness",
    data_config=MicrostructureData,
    make_dataset=make_dataset,
    normalisation="x = +1 in the pore, -1 in the grain (one channel); condition: logit(porosity) of the patch",
    readers=dict(_io.READERS),
    writers=dict(_io.WRITERS),
    to_model=_to_model,
    from_model=_from_model,
    metrics={"porosity": lambda est, ref=None: porosity(est),
             "specific_surface": lambda est, ref=None: specific_surface(est),
             "euler": lambda est, ref=None: euler_density(est),
             "s2": _s2_radial,
             "chord_mean": lambda est, ref=None: chord_length_distribution(est).mean,
             "pore_size_mean": lambda est, ref=None: pore_size_distribution(est).mean,
             "permeability_md": lambda est, ref=None, voxel_size=5.345e-6: permeability(est, voxel_size)["mean"]},
    harnesses={"generation": _generation, "reconstruction": _reconstruction, "sample": _sample},
    demo=_demo,
    configs={p.stem: p for p in sorted(_CONFIGS.glob("microstructure_*.yaml"))} if _CONFIGS.is_dir() else {},
    add_harness_args=_add_harness_args,
    example=_example,
    metadata={"version": "0.1.0",
              "input": "binary or grayscale volumes: .tif/.tiff (multi-page), .zip of TIFF, .raw (+ sidecar JSON "
                       "or NxNxN_dtype name), .h5/.hdf5, .npy, .nii/.nii.gz",
              "output": "pore masks in the input's format and coding; report.json/md + PNG",
              "changelog": ["0.1.0: first version"]},
)
