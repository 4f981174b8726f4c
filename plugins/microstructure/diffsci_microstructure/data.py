"""Training data: random sub-volumes of one large segmented volume, cube symmetries, porosity as a condition.

Normalisation (model units): x = +1 in the pore, -1 in the grain, one channel. A generated volume is
decoded by x > 0 -> pore. The condition is the vector of scalar descriptors of each sub-volume, by
default only its porosity phi, entered as logit(phi) = ln(phi / (1 - phi)) (an unbounded scale on which
0.12-0.28 spans about one unit).

With ``porosity_field`` set (a box side b, voxels), every item also carries the local porosity of the b^d
neighbourhood of each voxel, logit-scaled, as an extra input channel: the porosity a tile centred there would
have, measured on the whole split region (scipy.ndimage.uniform_filter, reflected at the region's faces), so the
field of a patch's border voxels knows about the rock outside the patch. A prior trained on it is told how the
porosity varies inside a tile, which a scalar condition cannot say; at generation time every tile reads the same
voxel-wise map (field.py), so neighbouring tiles are never conditioned on different values for one voxel.

With ``condition_box`` set (a box side B, voxels, larger than the patch), the porosity condition of a patch is the
porosity of the B^d box centred on it (measured on the split region, reflected at its faces) instead of the patch's
own. A patch conditioned on its own porosity has a pinned mean, so the covariance inside it sums to about zero and
turns negative near half a patch; conditioned on a larger box, the patch's own porosity is free to vary as the
rock's does at that scale, and a volume of side B generated at a flat target has the condition's meaning.

Splits are disjoint slabs of the volume along ``split_axis`` (train | val | test, in that order), so that
held-out sub-volumes never overlap training ones. The Berea defaults keep a 136-voxel test slab, room for
128^3 sub-volumes (the size on which Mosser et al. 2017 report permeability).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch.utils.data import Dataset

from diffsci.utils import data_root

from .io import read_volume
from .metrics import porosity as _porosity
from .metrics import specific_surface
from .segmentation import binarize
from .symmetry import apply_symmetry, symmetries

__all__ = ["MicrostructureData", "SubvolumeDataset", "make_dataset", "load_pore_volume", "split_region",
           "random_subvolumes", "porosity_to_scalar", "scalar_to_porosity", "condition_vector",
           "to_model", "from_model", "BEREA_VOXEL_SIZE", "default_data_path", "local_porosity"]

#: Voxel edge of the Imperial College Berea sandstone image, metres (as listed with the image).
BEREA_VOXEL_SIZE = 5.345e-6
CONDITIONS = ("porosity", "specific_surface")


def default_data_path() -> Path:
    """``$DIFFSCI_DATA/microstructure/berea.zip`` (default ../shared/data beside the repository)."""
    return data_root("microstructure") / "berea.zip"


class MicrostructureData(BaseModel):
    """``data.params`` of a microstructure experiment.

    Either a volume file (``path``; default the Berea image under the data root) or porespy's
    ``blobs`` generator (``source: blobs``, no download) for demos and tests.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["file", "blobs"] = "file"
    path: str | None = None
    raw_shape: tuple[int, ...] | None = None
    raw_dtype: str | None = None
    pore_value: float | None = None
    threshold: float | None = None
    voxel_size: float | None = Field(None, gt=0, description="metres; default: from the file, else Berea's")
    blobs_size: int = Field(96, ge=16)
    blobs_porosity: float = Field(0.3, gt=0, lt=1)
    blobs_blobiness: float = Field(1.0, gt=0)
    spatial_dims: Literal[2, 3] = 3
    patch_size: int = Field(32, ge=4)
    val_patch_size: int | None = Field(None, ge=4, description="side of the val/test patches; default: "
                                       "patch_size (set it when the held-out slab is thinner than the patches)")
    samples_per_epoch: int = Field(4096, ge=1)
    val_samples: int = Field(64, ge=1)
    augment: bool = True
    conditions: tuple[Literal["porosity", "specific_surface"], ...] = ("porosity",)
    porosity_field: int | None = Field(None, ge=2, description="box side (voxels) of the local-porosity channel; "
                                       "None: no channel (model.cond_channels must then be 0, else 1)")
    condition_box: int | None = Field(None, ge=2, description="box side (voxels) over which the porosity "
                                      "condition is measured, centred on the patch; None: the patch itself")
    balance_porosity: int | None = Field(None, ge=2, description="training patches drawn evenly over this many "
                                         "porosity bins (at most balance_max_ratio x reweighting) instead of as the "
                                         "rock gives them; None: as the rock gives them")
    balance_max_ratio: float = Field(10.0, ge=1, description="with balance_porosity: the most a porosity bin is "
                                     "reweighted (1: no reweighting); lower values move the patches part way to even")
    split_axis: int = Field(0, ge=0, le=2)
    val_fraction: float = Field(0.08, ge=0, lt=1)
    test_fraction: float = Field(0.34, ge=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _fractions(self) -> "MicrostructureData":
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction} leaves "
                             "nothing to train on")
        default_ratio = type(self).model_fields["balance_max_ratio"].default     # a full dump repeats it: fine
        if self.balance_porosity is None and self.balance_max_ratio != default_ratio:
            raise ValueError(f"balance_max_ratio = {self.balance_max_ratio} does nothing without balance_porosity "
                             "(the number of porosity bins); set both or neither")
        return self


def porosity_to_scalar(phi) -> np.ndarray:
    """logit(phi), the porosity condition in model units (phi clipped to [1e-3, 1 - 1e-3]).

    >>> float(porosity_to_scalar(0.5))
    0.0
    """
    p = np.clip(np.asarray(phi, dtype=np.float64), 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def scalar_to_porosity(s) -> np.ndarray:
    """Inverse of :func:`porosity_to_scalar`."""
    return 1 / (1 + np.exp(-np.asarray(s, dtype=np.float64)))


def condition_vector(pore: np.ndarray, names=("porosity",)) -> np.ndarray:
    """The scalar descriptors of a pore mask in model units (porosity: logit; specific surface: 10 S_V)."""
    out = []
    for n in names:
        if n == "porosity":
            out.append(porosity_to_scalar(_porosity(pore)))
        elif n == "specific_surface":
            out.append(10 * specific_surface(pore))
        else:
            raise ValueError(f"unknown condition '{n}'; valid: {', '.join(CONDITIONS)}")
    return np.asarray(out, dtype=np.float32)


def to_model(pore: np.ndarray) -> np.ndarray:
    """Pore mask -> model units (+1 pore, -1 grain), float32."""
    return np.where(np.asarray(pore, bool), 1.0, -1.0).astype(np.float32)


def from_model(x) -> np.ndarray:
    """Model units -> pore mask (x > 0)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x) > 0


@lru_cache(maxsize=4)
def _load_cached(path: str, raw_shape, raw_dtype, pore_value, threshold) -> tuple[np.ndarray, dict]:
    kw = {}
    if path.lower().endswith(".raw") and raw_shape is not None:
        kw = {"shape": raw_shape, "dtype": raw_dtype}
    loaded = read_volume(path, **kw)
    pore, coding = binarize(loaded.array[0], pore_value=pore_value, threshold=threshold, source=path)
    pore.setflags(write=False)
    return pore, {**loaded.meta, **coding}


@lru_cache(maxsize=4)
def _blobs(size: int, phi: float, blobiness: float, seed: int, ndim: int = 3) -> np.ndarray:
    """A porespy blobs medium, cached (read-only) like a file: a harness loads it for the data, the
    training and the validation sets."""
    import porespy as ps
    ps.settings.tqdm["disable"] = True
    np.random.seed(seed)        # porespy's generators draw from NumPy's global RNG; seed it for reproducibility
    pore = np.asarray(ps.generators.blobs(shape=[size] * ndim, porosity=phi, blobiness=blobiness), dtype=bool)
    pore.setflags(write=False)
    return pore


def load_pore_volume(params: MicrostructureData) -> tuple[np.ndarray, dict]:
    """The whole pore mask (True = pore) named by ``params`` and its meta (coding, voxel_size, source)."""
    if params.source == "blobs":
        pore = _blobs(params.blobs_size, params.blobs_porosity, params.blobs_blobiness, params.seed)
        meta = {"source": f"porespy.generators.blobs(shape={params.blobs_size}^3, porosity={params.blobs_porosity}, "
                          f"blobiness={params.blobs_blobiness}, seed={params.seed})",
                "dtype": "uint8", "pore_value": 0, "solid_value": 255, "voxel_size": params.voxel_size or 1e-6}
        return pore, meta
    path = Path(params.path) if params.path else default_data_path()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such volume; pass data.params.path (or --data), or set DIFFSCI_DATA "
                                "(see datasets/microstructure.md)")
    pore, meta = _load_cached(str(path), params.raw_shape, params.raw_dtype, params.pore_value, params.threshold)
    meta = dict(meta)
    meta["voxel_size"] = params.voxel_size or meta.get("voxel_size") or (
        BEREA_VOXEL_SIZE if "berea" in path.name.lower() else None)
    return pore, meta


def split_region(shape, split: str, *, axis: int = 0, val_fraction: float = 0.08,
                 test_fraction: float = 0.34) -> tuple[slice, ...]:
    """The slab of a volume of ``shape`` that belongs to ``split`` ("train", "val", "test", or "all").

    >>> split_region((400, 400, 400), "test")[0]
    slice(264, 400, None)
    """
    n = shape[axis]
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    bounds = {"train": (0, n - n_test - n_val), "val": (n - n_test - n_val, n - n_test), "test": (n - n_test, n),
              "all": (0, n)}
    if split not in bounds:
        raise ValueError(f"unknown split '{split}'; valid: train, val, test, all")
    lo, hi = bounds[split]
    return tuple(slice(lo, hi) if d == axis else slice(None) for d in range(len(shape)))


def random_subvolumes(pore: np.ndarray, size: int, n: int, *, seed: int = 0, spatial_dims: int = 3) -> np.ndarray:
    """``n`` random cubes (squares when spatial_dims=2: a random slice along a random axis) of side ``size``.

    Returns (n, *[size] * spatial_dims) bool.
    """
    if any(s < size for s in pore.shape):
        raise ValueError(f"sub-volumes of side {size} do not fit in a region of shape {pore.shape}")
    rng = np.random.default_rng(seed)
    return np.stack([_crop(pore, size, rng, spatial_dims) for _ in range(n)])


def _crop(pore: np.ndarray, size: int, rng: np.random.Generator, spatial_dims: int) -> np.ndarray:
    return pore[_crop_index(pore.shape, size, rng, spatial_dims)]


def _crop_index(shape, size: int, rng: np.random.Generator, spatial_dims: int) -> tuple:
    """The index of a random cube (or, for 2D patches of a 3D volume, a square in a random plane)."""
    if spatial_dims == 3 or len(shape) == 2:
        return tuple(slice(a, a + size) for a in (int(rng.integers(0, s - size + 1)) for s in shape))
    axis = int(rng.integers(0, 3))
    idx = int(rng.integers(0, shape[axis]))
    plane = [s for d, s in enumerate(shape) if d != axis]
    start = iter([int(rng.integers(0, s - size + 1)) for s in plane])
    return tuple(idx if d == axis else slice(a := next(start), a + size) for d in range(3))


def local_porosity(pore: np.ndarray, box: int) -> np.ndarray:
    """The porosity of the ``box``^d neighbourhood of every voxel (float32, shape of ``pore``), reflected at the
    faces; a tile of side ``box`` centred on a voxel has this porosity.

    >>> float(local_porosity(np.eye(4, dtype=bool), 4)[1, 1])   # rows and columns -1..2, -1 reflected to 0
    0.375
    """
    from scipy.ndimage import uniform_filter
    return uniform_filter(np.asarray(pore, np.float32), size=int(box), mode="reflect")


class SubvolumeDataset(Dataset):
    """Random patches of a pore mask with random cube symmetries and their scalar descriptors.

    Item i is a deterministic function of (seed, i): its position and its symmetry (one of the 48, or 8 in
    2D) come from ``numpy.random.default_rng([seed, i])``, so training resumes exactly and draws nothing
    from the global RNGs.

    Items: {"x": (1, *[patch] * spatial_dims) float32 in {-1, +1}, "scalars": (S,) float32} (no scalars
    when ``conditions`` is empty), and with ``field`` (the region's :func:`local_porosity`) "channels":
    (1, *[patch] * spatial_dims) float32, logit of the field over the same crop and symmetry.
    """

    def __init__(self, pore: np.ndarray, patch_size: int, length: int, *, spatial_dims: int = 3,
                 augment: bool = True, conditions=("porosity",), seed: int = 0, field: np.ndarray | None = None,
                 box_porosity: np.ndarray | None = None, balance: int | None = None, balance_max_ratio: float = 10.0):
        if pore.ndim not in (2, 3) or spatial_dims > pore.ndim:
            raise ValueError(f"cannot take {spatial_dims}D patches from a volume of shape {pore.shape}")
        if any(s < patch_size for s in pore.shape):
            raise ValueError(f"patches of side {patch_size} do not fit in a region of shape {pore.shape}")
        self.pore, self.patch_size, self.length = pore, int(patch_size), int(length)
        self.spatial_dims, self.augment, self.seed = spatial_dims, augment, seed
        self.conditions = tuple(conditions)
        self.sample_shape = (1,) + (self.patch_size,) * spatial_dims
        if field is not None and np.shape(field) != pore.shape:
            raise ValueError(f"a porosity field of shape {np.shape(field)} for a region of shape {pore.shape}")
        self.field = field
        if box_porosity is not None and np.shape(box_porosity) != pore.shape:
            raise ValueError(f"a box porosity of shape {np.shape(box_porosity)} for a region of shape {pore.shape}")
        self.box_porosity = box_porosity
        self.acceptance = None if balance is None else _balance_acceptance(pore, self.patch_size, spatial_dims,
                                                                           int(balance), max_ratio=balance_max_ratio)

    def __len__(self) -> int:
        return self.length

    def patch(self, i: int) -> np.ndarray:
        """The i-th pore patch (bool), after its symmetry."""
        return self._patch(i)[0]

    def _patch(self, i: int) -> tuple[np.ndarray, np.ndarray | None, float | None]:
        """The i-th pore patch, its porosity field (None without one), cropped and turned alike, and the porosity
        of the box centred on it (None without ``box_porosity``)."""
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for a dataset of {self.length}")
        rng = np.random.default_rng([self.seed, i])
        where = _crop_index(self.pore.shape, self.patch_size, rng, self.spatial_dims)
        if self.acceptance is not None:          # rejection sampling: patch porosity evened out over the bins
            edges, accept = self.acceptance
            while rng.random() >= accept[_porosity_bin(edges, self.pore[where].mean())]:
                where = _crop_index(self.pore.shape, self.patch_size, rng, self.spatial_dims)
        out = [self.pore[where], None if self.field is None else self.field[where]]
        if self.augment:
            group = symmetries(self.spatial_dims)
            sym = group[int(rng.integers(0, len(group)))]
            out = [None if a is None else apply_symmetry(a, sym) for a in out]
        box = None
        if self.box_porosity is not None:       # the voxel at the patch's centre (uniform_filter's box is centred)
            box = float(self.box_porosity[tuple(w if isinstance(w, (int, np.integer))
                                                else w.start + self.patch_size // 2 for w in where)])
        return tuple(None if a is None else np.ascontiguousarray(a) for a in out) + (box,)

    def __getitem__(self, i: int) -> dict:
        p, f, box = self._patch(int(i))
        item = {"x": torch.from_numpy(to_model(p)[None])}
        if self.conditions:
            c = condition_vector(p, self.conditions)
            if box is not None and "porosity" in self.conditions:
                c[self.conditions.index("porosity")] = porosity_to_scalar(box)
            item["scalars"] = torch.from_numpy(c)
        if f is not None:
            item["channels"] = torch.from_numpy(porosity_to_scalar(f).astype(np.float32)[None])
        return item


def _porosity_bin(edges: np.ndarray, phi):
    """The bin of ``edges`` (K + 1 increasing values) holding each porosity, 0..K-1, the tails in the outer bins."""
    return np.digitize(phi, edges[1:-1], right=True)


def _balance_acceptance(pore: np.ndarray, patch: int, spatial_dims: int, bins: int, *, pilot: int = 2000,
                        max_ratio: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and per-bin acceptance probabilities that turn the rock's distribution of patch porosity into an
    even one over ``bins`` equal bins between its 1st and 99th percentiles (a pilot of random patches; the outer
    bins take the tails): accept = min(1, c / density), c = max(least density, greatest / ``max_ratio``), so no
    bin is reweighted more than ``max_ratio`` times and the mean acceptance stays above 1 / ``max_ratio``."""
    rng = np.random.default_rng(12345)
    phi = np.array([pore[_crop_index(pore.shape, patch, rng, spatial_dims)].mean() for _ in range(pilot)])
    lo, hi = np.percentile(phi, [1, 99])
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.bincount(_porosity_bin(edges, phi), minlength=bins).astype(float)
    counts = np.maximum(counts, 1.0)
    c = max(counts.min(), counts.max() / max_ratio)
    return edges, np.minimum(1.0, c / counts)


def make_dataset(params: MicrostructureData, split: str) -> SubvolumeDataset:
    """The ``split`` ("train", "val", "test") of the experiment's volume as a :class:`SubvolumeDataset`."""
    if isinstance(params, dict):
        params = MicrostructureData.model_validate(params)
    region = _split_of(params, split)
    length = params.samples_per_epoch if split == "train" else params.val_samples
    seed = params.seed + {"train": 0, "val": 1_000_003, "test": 2_000_003}.get(split, 0)
    size = params.patch_size if split == "train" or params.val_patch_size is None else params.val_patch_size
    field = None if params.porosity_field is None else _local_cached(params, split, params.porosity_field)
    box = None if params.condition_box is None else _local_cached(params, split, params.condition_box)
    return SubvolumeDataset(region, size, length, spatial_dims=params.spatial_dims,
                            augment=params.augment and split == "train", conditions=params.conditions, seed=seed,
                            field=field, box_porosity=box,
                            balance=params.balance_porosity if split == "train" else None,
                            balance_max_ratio=params.balance_max_ratio)


@lru_cache(maxsize=4)
def _local_cached(params: MicrostructureData, split: str, box: int) -> np.ndarray:
    """:func:`local_porosity` of a split's region (read-only, cached: every dataset made of one split shares it)."""
    field = local_porosity(_split_of(params, split), box)
    field.setflags(write=False)
    return field


def _split_of(params: MicrostructureData, split: str) -> np.ndarray:
    """The pore mask of ``split``'s slab of the experiment's volume."""
    pore, _ = load_pore_volume(params)
    return pore[split_region(pore.shape, split, axis=params.split_axis, val_fraction=params.val_fraction,
                             test_fraction=params.test_fraction)]
