"""2-D slice and 3-D patch datasets from a folder of volumes, and the domain's ``data.params`` schema.

Items are ``{"x": (1, H, W)}`` (slices) or ``{"x": (1, X, Y, Z)}`` (patches), float32 in the
normalisation of :mod:`diffsci_mri.preprocess`, as :class:`diffsci.data.ArrayDataset` yields them.

Splits. ``split_by="slab"`` (one subject, as with the single IXI subject shipped beside the repository):
along the slicing axis, the brain's extent (slices with at least ``min_foreground`` of their pixels
in the brain) is mapped to [0, 1]; ``test_range`` and ``val_range`` are held out, with ``gap`` slices
of margin on both sides dropped from training so that no training slice neighbours a test slice.
``split_by="file"``: whole volumes whose name contains one of ``test_files`` / ``val_files`` are held
out (several subjects).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from diffsci.data import ArrayDataset
from diffsci.utils import data_root

from .io import read_nifti
from .preprocess import preprocess_volume

__all__ = ["MRIDataConfig", "make_dataset", "slice_dataset", "patch_dataset", "list_volumes",
           "load_volume", "split_slices", "IXI_FILES"]

IXI_FILES = ("hd_bet_IXI002-Guys-0828-T1.nii.gz", "hd_bet_IXI002-Guys-0828-T2.nii.gz")
SPLITS = ("train", "val", "test")


class MRIDataConfig(BaseModel):
    """``data.params`` of an MRI experiment (every field is also a keyword of :func:`make_dataset`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str | None = Field(None, description="folder of volumes (default: $DIFFSCI_DATA/mri)")
    files: tuple[str, ...] | None = Field(IXI_FILES, description="file names in root (None: every match "
                                                                "of pattern)")
    pattern: str = "*.nii*"
    kind: Literal["slices", "patches"] = "slices"
    axis: Literal[0, 1, 2] = 2
    spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)
    size: tuple[int, ...] = (128, 128)
    percentiles: tuple[float, float] = (0.0, 99.5)
    min_foreground: float = Field(0.1, ge=0, le=1)
    split_by: Literal["slab", "file"] = "slab"
    test_range: tuple[float, float] = (0.5, 0.65)
    val_range: tuple[float, float] = (0.3, 0.36)
    gap: int = Field(3, ge=0)
    test_files: tuple[str, ...] = ()
    val_files: tuple[str, ...] = ()
    flip: bool = Field(True, description="add left-right mirrored copies of the training slices")
    crop: tuple[int, int] | None = Field(None, description="train on random crops of this size (patch prior)")
    crops_per_slice: int = Field(16, ge=1)
    patches_per_volume: int = Field(32, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "MRIDataConfig":
        want = 2 if self.kind == "slices" else 3
        if len(self.size) != want:
            raise ValueError(f"size has {len(self.size)} entries; kind='{self.kind}' needs {want}")
        for name in ("test_range", "val_range"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi <= 1:
                raise ValueError(f"{name}={getattr(self, name)} must satisfy 0 <= lo < hi <= 1")
        return self

    def resolved_root(self) -> Path:
        return Path(self.root) if self.root else data_root("mri")


def list_volumes(cfg: MRIDataConfig) -> list[Path]:
    """The volume files of ``cfg`` (FileNotFoundError naming the folder when none is there)."""
    root = cfg.resolved_root()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data folder (set data.params.root or $DIFFSCI_DATA)")
    paths = [root / f for f in cfg.files] if cfg.files else sorted(root.glob(cfg.pattern))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"missing volume(s): {', '.join(missing)}")
    if not paths:
        raise FileNotFoundError(f"{root}: no file matches '{cfg.pattern}'")
    return paths


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, spacing: tuple, in_plane: tuple | None, axis: int, percentiles: tuple):
    return preprocess_volume(read_nifti(path), pixdim=spacing, in_plane=in_plane, axis=axis,
                             percentiles=percentiles)


def load_volume(path: str | Path, cfg: MRIDataConfig):
    """Read and preprocess one volume (cached): a ``(1, X, Y, Z)`` MetaTensor with its affine."""
    in_plane = tuple(cfg.size) if cfg.kind == "slices" else None
    return _load_cached(str(path), tuple(cfg.spacing), in_plane, cfg.axis, tuple(cfg.percentiles))


def split_slices(vol: torch.Tensor, axis: int, min_foreground: float, test_range, val_range,
                 gap: int) -> dict[str, np.ndarray]:
    """Slice indices of each split along ``axis`` (see the module docstring: the slab split).

    >>> v = torch.zeros(1, 4, 4, 20); v[..., 2:18] = 1
    >>> s = split_slices(v, 2, 0.5, (0.5, 0.7), (0.2, 0.3), 1)
    >>> s["test"].tolist(), s["val"].tolist(), s["train"].tolist()
    ([10, 11, 12], [5, 6], [2, 3, 8, 14, 15, 16, 17])
    """
    x = vol[0].movedim(axis, -1)
    frac = (x > 0.02).float().mean(dim=(0, 1)).cpu().numpy()
    brain = np.flatnonzero(frac >= min_foreground)
    if brain.size < 3:
        raise ValueError(f"only {brain.size} slices have at least {min_foreground:.0%} foreground; "
                         "lower min_foreground or check the volume")
    lo, hi = brain.min(), brain.max()
    t = (brain - lo) / max(hi - lo, 1)
    out = {"test": brain[(t >= test_range[0]) & (t <= test_range[1])],
           "val": brain[(t >= val_range[0]) & (t <= val_range[1])]}
    held = np.concatenate([out["test"], out["val"]])
    near = np.zeros(x.shape[-1], dtype=bool)
    for i in held:
        near[max(0, i - gap): i + gap + 1] = True
    out["train"] = brain[~near[brain]]
    return out


def _file_split(path: Path, cfg: MRIDataConfig) -> str:
    if any(s in path.name for s in cfg.test_files):
        return "test"
    if any(s in path.name for s in cfg.val_files):
        return "val"
    return "train"


def slice_dataset(cfg: MRIDataConfig, split: str, *, return_index: bool = False):
    """2-D slices of every volume for ``split``; with ``return_index`` also ``[(path, slice), ...]``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    xs, index = [], []
    for path in list_volumes(cfg):
        vol = load_volume(path, cfg)
        idx = split_slices(vol, cfg.axis, cfg.min_foreground, cfg.test_range, cfg.val_range, cfg.gap)
        if cfg.split_by == "file":
            if _file_split(path, cfg) != split:
                continue
            chosen = np.sort(np.concatenate([idx["train"], idx["val"], idx["test"]]))
        else:
            chosen = idx[split]
        v = vol[0].movedim(cfg.axis, 0).numpy()
        xs.append(v[chosen][:, None])
        index += [(str(path), int(i)) for i in chosen]
    if not xs:
        raise ValueError(f"no slices in split '{split}' (check test_files / val_files / the ranges)")
    x = np.concatenate(xs)
    if split == "train" and cfg.flip:
        x = np.concatenate([x, x[..., ::-1, :]])     # mirror left-right (axis x of RAS slices)
        index = index + [(p, i) for p, i in index]
    if split == "train" and cfg.crop is not None:
        x, index = random_crops(x, cfg.crop, cfg.crops_per_slice, cfg.seed, index)
    ds = ArrayDataset(np.ascontiguousarray(x), source=str(cfg.resolved_root()))
    return (ds, index) if return_index else ds


def random_crops(x: np.ndarray, size: tuple[int, int], per_image: int, seed: int = 0,
                 index: list | None = None) -> tuple[np.ndarray, list]:
    """``per_image`` random ``size`` crops of every image of ``x`` (N, C, H, W), drawn with ``seed``.

    A convolutional prior trained on crops applies to whole slices (the UNet is translation
    equivariant); crops multiply the distinct training samples of a small dataset and cut the cost of a
    training step by (H W) / (h w).

    >>> c, _ = random_crops(np.arange(32.0).reshape(1, 1, 4, 8), (2, 2), 3)
    >>> c.shape, bool(all(np.diff(p[0], axis=1).ravel().tolist() == [1.0, 1.0] for p in c))
    ((3, 1, 2, 2), True)
    """
    n, _, h, w = x.shape
    ch, cw = size
    if ch > h or cw > w:
        raise ValueError(f"crop {size} is larger than the images {(h, w)}")
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, h - ch + 1, (n, per_image))
    xs = rng.integers(0, w - cw + 1, (n, per_image))
    out = np.stack([x[i, :, ys[i, j]:ys[i, j] + ch, xs[i, j]:xs[i, j] + cw]
                    for i in range(n) for j in range(per_image)])
    idx = [index[i] for i in range(n) for _ in range(per_image)] if index is not None else []
    return out, idx


def patch_dataset(cfg: MRIDataConfig, split: str):
    """3-D patches of size ``cfg.size``, centred on random foreground voxels of the split's slab."""
    from monai.transforms import SpatialCrop, SpatialPad
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    rng = np.random.default_rng(cfg.seed + SPLITS.index(split))
    patches = []
    for path in list_volumes(cfg):
        vol = load_volume(path, cfg)
        if cfg.split_by == "file":
            if _file_split(path, cfg) != split:
                continue
            keep = np.arange(vol.shape[1 + cfg.axis])
        else:
            idx = split_slices(vol, cfg.axis, cfg.min_foreground, cfg.test_range, cfg.val_range, cfg.gap)
            keep = idx[split]
        if keep.size == 0:
            continue
        # restrict to the split's slices: zero the others so no patch sees held-out anatomy
        mask = torch.zeros(vol.shape[1 + cfg.axis], dtype=torch.bool)
        mask[torch.as_tensor(keep)] = True
        shape = [1, 1, 1]
        shape[cfg.axis] = -1
        v = vol * mask.reshape(1, *shape)
        fg = np.argwhere(v[0].numpy() > 0.02)
        if len(fg) == 0:
            continue
        for c in fg[rng.integers(0, len(fg), cfg.patches_per_volume)]:
            p = SpatialCrop(roi_center=c.tolist(), roi_size=list(cfg.size))(v)
            patches.append(np.asarray(SpatialPad(spatial_size=list(cfg.size))(p)))
    if not patches:
        raise ValueError(f"no patches in split '{split}'")
    return ArrayDataset(np.stack(patches), source=str(cfg.resolved_root()))


def make_dataset(params: MRIDataConfig | dict, split: str = "train"):
    """The Domain's dataset factory: slices or patches of ``params`` for ``split``."""
    cfg = params if isinstance(params, MRIDataConfig) else MRIDataConfig.model_validate(params)
    return slice_dataset(cfg, split) if cfg.kind == "slices" else patch_dataset(cfg, split)
