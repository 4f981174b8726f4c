r"""Denoising volumes larger than the training patches: a blend of per-tile denoiser outputs at every step.

.. math::
    D_\mathrm{large}(x, \sigma)_v = \frac{\sum_k w_k(v)\, D(x|_{T_k}, \sigma)_v}{\sum_k w_k(v)}

over overlapping tiles T_k with smooth weights w_k (a Hann window by default) that taper towards the
tile edges, where a network that sees no context beyond the tile is least reliable. Because the blend
acts on the denoiser, any sampler (or posterior sampler) integrates the large volume as one state: the
tiles agree at every step, which is what removes seams (MultiDiffusion, Bar-Tal et al. 2023, Eq. 5 is
the same least-squares blend). With ``periodic=True`` the tiles live on a torus (indices modulo the
size): every voxel is covered by the same number of tiles and the output is periodic. A tile smaller than
the volume is not itself periodic, though: a network with circular padding wraps its opposite faces onto
each other, an artificial border that the window only down-weights. The alternative, denoising the whole
volume in one call (``tile=None`` in generation.py), is the exact periodic operator but shows the network
inputs larger than it was trained on; on Berea (32^3 patches, 64^3 volumes) the tiles gave the better
samples (docs/benchmarks.md, Microstructure, session 10). ``shift="random"`` moves the tile grid by a random
offset at every call, so no voxel sits at a tile edge at every step. It also matters with a single tile (or the
whole volume, ``tile=None``): a UNet that down-samples by 2^L is translation equivariant only for shifts by
multiples of 2^L, and its small bias towards one phase of that grid accumulates over the sampler's steps (on Berea,
interfaces piled up on every fourth plane of the tile frame, +40 % there); on a periodic volume a random circular
roll before the call and its inverse after it is exact for an equivariant denoiser and spreads that bias evenly.

Scalar conditions may be given per voxel, ``cond.scalars`` of shape (B, S, *spatial): each tile is then
conditioned on the value at its centre voxel. A porosity-conditioned prior told the volume's porosity in every
tile makes every tile that porous, a volume far more uniform than the rock; a map of local porosity (field.py)
gives the tiles the spread real patches have.

Written here rather than with MONAI's ``sliding_window_inference`` because that function batches windows
of different samples into one predictor call (our sigma and condition are per sample) and cannot wrap
windows around a periodic volume; MONAI's ``compute_importance_map`` still supplies the Gaussian window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from diffsci import Cond
from diffsci.utils import batch_sigma

__all__ = ["TiledDenoiser", "box_mean", "tile_starts", "window_1d", "seam_s2", "blend_attenuation"]


def window_1d(size: int, kind: str = "hann", margin: int = 0) -> Tensor:
    """A 1-D blending weight of length ``size``, float64.

    hann: sin^2(pi (t + 1/2) / n) over the n = size - 2 margin central voxels (0 in the margins); the
        sum of Hann windows shifted by n/2 is constant, so half-overlapping tiles blend to a partition
        of unity. constant: ones (margins 0).

    >>> [round(v, 4) for v in window_1d(4).tolist()]
    [0.1464, 0.8536, 0.8536, 0.1464]
    """
    if not 0 <= 2 * margin < size:
        raise ValueError(f"margin {margin} leaves nothing of a tile of size {size}")
    n = size - 2 * margin
    w = torch.zeros(size, dtype=torch.float64)
    if kind == "hann":
        w[margin:size - margin] = torch.sin(math.pi * (torch.arange(n, dtype=torch.float64) + 0.5) / n) ** 2
    elif kind == "constant":
        w[margin:size - margin] = 1.0
    else:
        raise ValueError(f"unknown window '{kind}'; valid: hann, gaussian, constant")
    return w


def tile_starts(size: int, tile: int, stride: int, periodic: bool, offset: int = 0) -> list[int]:
    """Start indices of the tiles along one axis.

    periodic: ceil(size / stride) starts evenly spread over the torus (plus ``offset``, modulo size).
    otherwise: evenly spread from 0 to size - tile (the first and last tiles touch the borders).

    >>> tile_starts(64, 32, 16, True), tile_starts(64, 32, 24, False)
    ([0, 16, 32, 48], [0, 16, 32])
    """
    if periodic:
        n = max(1, math.ceil(size / stride))
        return sorted({(int(round(i * size / n)) + offset) % size for i in range(n)})
    if size < tile:
        raise ValueError(f"a non-periodic volume of size {size} is smaller than the tile {tile}")
    n = 1 + math.ceil((size - tile) / stride)
    return sorted({int(round(i * (size - tile) / max(n - 1, 1))) for i in range(n)})


class TiledDenoiser(nn.Module):
    """A denoiser for volumes of any size built from a denoiser of ``tile``-sized patches.

    Args:
        denoiser: D(x, sigma, cond) on tiles (B, C, *tile); e.g. an EDMDenoiser, or a
            ClassifierFreeGuidance around one.
        tile: tile side (int) or sizes per axis; must suit the network (multiple of its down-sampling factor);
            None: the whole volume is one tile (only useful with ``shift="random"``).
        overlap: fraction of the tile shared by neighbouring tiles (0 <= overlap < 1); stride =
            tile * (1 - overlap).
        periodic: tile the torus (the volume is periodic) or the box.
        window: "hann" (default), "gaussian" (MONAI's importance map, sigma = tile/8) or "constant".
        margin: voxels at each tile edge given weight 0 (e.g. the receptive-field border).
        shift: "none" or "random" (periodic only): random grid offset at every call, from ``generator``; a
            volume of exactly one tile is rolled by a random offset and back.
        max_batch: tiles per denoiser call (memory).
        whole_above: at noise levels sigma > whole_above, denoise the whole volume in one call instead (rolled by
            the random shift), with per-voxel scalars replaced by their volume mean; tiles at and below it. None:
            tiles at every level. A 32^3 tile conditioned on its own porosity has a pinned mean, which bends the
            covariance negative near half a tile, and the volume's layout is decided at high noise (docs/benchmarks.md,
            Microstructure, sessions 25 and 29). Measured on Berea it shortens the correlations instead (session 35).
        from_estimate: with ``whole_above``, the tiles below the switch are conditioned on the volume's own
            denoised estimate instead of the given scalars: ``from_estimate(m, scalars)`` maps m, the mean of the
            last whole-volume output D over each tile's region (B, C, *spatial; the box mean centred on every voxel,
            as a tile reads its centre), and the given scalars, (B, S) or (B, S, *spatial), to per-voxel scalars
            (B, S, *spatial). The large-scale layout built by the whole-volume calls is then what the tiles' pinned
            means follow, not an independent map. Measured on Berea it keeps the long correlations and the whole
            volume's coarse pores with them (session 36).

    Volumes no larger than one tile (non-periodic), or exactly one tile, go to ``denoiser`` unchanged (rolled
    and rolled back with ``shift="random"``).
    ``cond.channels`` (B, C', *spatial) are tiled with x; labels and scalars are repeated per tile, except
    scalars given per voxel, (B, S, *spatial), which each tile reads at its centre voxel (a single tile: the centre
    of the volume, after the random roll).
    """

    def __init__(self, denoiser, tile: int | Sequence[int], *, overlap: float = 0.5, periodic: bool = True,
                 window: str = "hann", margin: int = 0, shift: str = "none", max_batch: int = 16,
                 generator: torch.Generator | None = None, whole_above: float | None = None,
                 from_estimate: Callable[[Tensor, Tensor], Tensor] | None = None):
        super().__init__()
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if shift not in ("none", "random"):
            raise ValueError(f"shift must be 'none' or 'random', got '{shift}'")
        if shift == "random" and not periodic:
            raise ValueError("shift='random' needs periodic tiling (a box has fixed borders)")
        self.denoiser = denoiser
        self.tile = tile
        self.overlap, self.periodic, self.window, self.margin = overlap, periodic, window, int(margin)
        self.shift, self.max_batch, self.generator = shift, int(max_batch), generator
        if whole_above is not None and not whole_above > 0:
            raise ValueError(f"whole_above must be a positive noise level (sigma), got {whole_above}")
        self.whole_above = whole_above
        if from_estimate is not None and (whole_above is None or not periodic):
            raise ValueError("from_estimate conditions the tiles on the whole-volume estimate: it needs whole_above "
                             "and a periodic volume")
        self.from_estimate = from_estimate
        self._own: Tensor | None = None             # per-voxel scalars from the last whole-volume output
        self.calls = 0                              # denoiser calls made (tiles / max_batch per step)
        self._cache: dict = {}

    @property
    def sigma_data(self):
        return getattr(self.denoiser, "sigma_data", None)

    def _tiles(self, spatial: Sequence[int]) -> tuple[int, ...]:
        ndim = len(spatial)
        if self.tile is None:
            return tuple(spatial)
        t = (self.tile,) * ndim if isinstance(self.tile, int) else tuple(self.tile)
        if len(t) != ndim:
            raise ValueError(f"tile {self.tile} has {len(t)} sizes for {ndim} spatial axes")
        return t

    def _window(self, size: int, at_lo: bool = False, at_hi: bool = False) -> Tensor:
        """1-D weights of one tile axis; in a box, an edge on the volume border is not tapered (no other
        tile covers those voxels), i.e. the window is held at its peak value from its centre outwards."""
        if self.window == "gaussian":
            from monai.data.utils import compute_importance_map
            w = compute_importance_map((size,), mode="gaussian", sigma_scale=0.125, device="cpu",
                                       dtype=torch.float64) * window_1d(size, "constant", self.margin)
        else:
            w = window_1d(size, self.window, self.margin)
        mid = size // 2
        if at_lo:
            w[:mid] = w[mid]
        if at_hi:
            w[mid:] = w[mid]
        return w

    def _weight(self, pos, starts, spatial, tile, device, dtype) -> Tensor:
        """Product of the 1-D windows of a tile (every window here is separable)."""
        w = torch.ones((), dtype=torch.float64)
        for d, p in enumerate(pos):
            lo = not self.periodic and starts[d][p] == 0
            hi = not self.periodic and starts[d][p] + tile[d] == spatial[d]
            w = w.unsqueeze(-1) * self._window(tile[d], lo, hi)
        return w.to(device=device, dtype=dtype)

    def plan(self, spatial: Sequence[int], offsets: Sequence[int] | None = None) -> list[list[int]]:
        """Tile start indices per axis for a volume of these spatial sizes."""
        tile = self._tiles(spatial)
        offsets = offsets or [0] * len(spatial)
        return [tile_starts(s, t, max(1, int(round(t * (1 - self.overlap)))), self.periodic, o)
                for s, t, o in zip(spatial, tile, offsets)]

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        B, C, *spatial = x.shape
        tile = self._tiles(spatial)
        scalars = cond is not None and cond.scalars is not None
        if self.whole_above is not None and float(torch.as_tensor(sigma).max()) > self.whole_above:
            out = self._denoise(x, sigma, _mean_scalars(cond), tuple(spatial), spatial)   # the whole volume
            if self.from_estimate is not None and scalars:
                self._own = self._estimated_scalars(out.detach(), tile, cond.scalars)
            return out
        if self._own is not None and scalars:
            if self._own.shape[0] != cond.scalars.shape[0]:
                raise ValueError(f"the whole-volume estimate holds {self._own.shape[0]} volumes, the condition "
                                 f"{cond.scalars.shape[0]}")
            cond = Cond(label=cond.label, scalars=self._own.to(cond.scalars.dtype), channels=cond.channels,
                        dropped=cond.dropped)
        return self._denoise(x, sigma, cond, tile, spatial)

    def _estimated_scalars(self, estimate: Tensor, tile: Sequence[int], given: Tensor) -> Tensor:
        """``from_estimate`` of a whole-volume estimate box-averaged over a tile centred on every voxel."""
        own = self.from_estimate(box_mean(estimate, tile), given)
        if own.shape[1] != given.shape[1]:
            raise ValueError(f"from_estimate gave {own.shape[1]} scalars per voxel, the condition has {given.shape[1]}")
        return own

    def _denoise(self, x: Tensor, sigma, cond: Cond | None, tile: Sequence[int], spatial: Sequence[int]) -> Tensor:
        B, C = x.shape[:2]
        offsets = None
        if self.shift == "random":
            offsets = [int(torch.randint(0, s, (1,), generator=self.generator).item()) for s in spatial]
        if tuple(spatial) == tile or (not self.periodic and all(s <= t for s, t in zip(spatial, tile))):
            self.calls += 1
            if offsets is None:
                return self.denoiser(x, sigma, _centre_scalars(cond))
            dims = tuple(range(2, x.ndim))
            if cond is not None and cond.channels is not None:
                cond = Cond(label=cond.label, scalars=cond.scalars, dropped=cond.dropped,
                            channels=torch.roll(cond.channels, offsets, dims))
            cond = _centre_scalars(cond, offsets)
            return torch.roll(self.denoiser(torch.roll(x, offsets, dims), sigma, cond), [-o for o in offsets], dims)
        starts = self.plan(spatial, offsets)
        lins, weights, wsum = self._layout(tuple(spatial), tile, starts, x.device, x.dtype)
        sigma = batch_sigma(sigma, x)
        n_vox = int(np.prod(spatial))
        out = torch.zeros(B, C, n_vox, device=x.device, dtype=x.dtype)
        xf = x.reshape(B, C, n_vox)
        chan = cond.channels if cond is not None and cond.channels is not None else None
        chf = chan.reshape(B, chan.shape[1], n_vox) if chan is not None else None
        smap = cond is not None and cond.scalars is not None and cond.scalars.ndim > 2
        if smap:                                                          # per-voxel scalars: read at tile centres
            sf = cond.scalars.reshape(B, cond.scalars.shape[1], n_vox)
            centre = int(np.ravel_multi_index(tuple(t // 2 for t in tile), tile))
            cond = Cond(label=cond.label, channels=cond.channels, dropped=cond.dropped)
        per_call = max(1, self.max_batch // B)
        for c0 in range(0, len(lins), per_call):
            idx = lins[c0:c0 + per_call]                                  # (k, tile voxels)
            k = len(idx)
            xt = xf[:, :, idx].permute(0, 2, 1, 3).reshape(B * k, C, *tile)
            ct = None
            if cond is not None:
                ct = cond.repeat_interleave(k)
                if chf is not None:
                    ch = chf[:, :, idx].permute(0, 2, 1, 3).reshape(B * k, chf.shape[1], *tile)
                    ct = Cond(label=ct.label, scalars=ct.scalars, channels=ch, dropped=ct.dropped)
                if smap:
                    sc = sf[:, :, idx[:, centre]].permute(0, 2, 1).reshape(B * k, sf.shape[1])
                    ct = Cond(label=ct.label, scalars=sc, channels=ct.channels, dropped=ct.dropped)
            d = self.denoiser(xt, sigma.repeat_interleave(k), ct).reshape(B, k, C, -1)
            self.calls += 1
            contrib = (d * weights[c0:c0 + k, None, :]).permute(0, 2, 1, 3).reshape(B, C, -1)
            out.index_add_(2, idx.reshape(-1), contrib)
        return (out / wsum).reshape(x.shape)

    def _layout(self, spatial, tile, starts, device, dtype):
        """Linear voxel indices (n_tiles, prod(tile)) and weights of every tile, and the weight sum per
        voxel; cached per (shape, grid), since the grid is the same at every step without random shifts."""
        key = (spatial, tile, tuple(map(tuple, starts)), str(device), dtype)
        if key in self._cache:
            return self._cache[key]
        strides = np.cumprod([1] + list(spatial[::-1]))[::-1][1:]          # C-order strides of the spatial axes
        lins, weights = [], []
        for pos in np.ndindex(*[len(st) for st in starts]):
            lin = torch.zeros((), dtype=torch.long)
            for d, p in enumerate(pos):
                i = starts[d][p] + torch.arange(tile[d])
                if self.periodic:
                    i = i % spatial[d]
                lin = lin.unsqueeze(-1) + i * int(strides[d])              # C-order linear index of the tile
            lins.append(lin.reshape(-1))
            weights.append(self._weight(pos, starts, spatial, tile, "cpu", torch.float64).reshape(-1))
        lins, weights = torch.stack(lins), torch.stack(weights)
        wsum = torch.zeros(int(np.prod(spatial)), dtype=torch.float64).index_add_(0, lins.reshape(-1),
                                                                                 weights.reshape(-1))
        if bool((wsum <= 0).any()):
            raise ValueError("some voxels got no tile weight: lower the margin or raise the overlap")
        out = (lins.to(device), weights.to(device=device, dtype=dtype), wsum.to(device=device, dtype=dtype))
        if self.shift == "none":
            self._cache = {key: out}
        return out


def box_mean(v: Tensor, box: Sequence[int]) -> Tensor:
    """The mean of a periodic volume (B, C, *spatial) over the ``box`` centred on every voxel: voxel c averages
    c - box//2 .. c + box - 1 - box//2 along each axis (the region of a tile whose centre voxel, tile//2, is c).
    Separable running sums (cumsum), O(voxels) per axis whatever the box. scipy.ndimage.uniform_filter(mode="wrap")
    computes the same on NumPy arrays (field.py uses it); this stays a tensor on the sampler's device (a GPU)."""
    out = v.double()
    for d, b in enumerate(box):
        ax = 2 + d
        n = out.shape[ax]
        if not 1 <= b <= n:
            raise ValueError(f"a box of {b} voxels along an axis of {n}")
        lo = b // 2
        idx = (torch.arange(-lo, n + b - lo, device=v.device)) % n          # circular: c - lo .. c + b - 1 - lo
        c = torch.cumsum(out.index_select(ax, idx), ax)
        c = torch.cat([torch.zeros_like(c.narrow(ax, 0, 1)), c], ax)
        out = (c.narrow(ax, b, n) - c.narrow(ax, 0, n)) / b
    return out.to(v.dtype)


def _mean_scalars(cond: Cond | None) -> Cond | None:
    """A condition whose per-voxel scalars (B, S, *spatial) are replaced by their mean over the volume."""
    if cond is None or cond.scalars is None or cond.scalars.ndim <= 2:
        return cond
    return Cond(label=cond.label, scalars=cond.scalars.flatten(2).mean(-1), channels=cond.channels,
                dropped=cond.dropped)


def _centre_scalars(cond: Cond | None, offsets: Sequence[int] | None = None) -> Cond | None:
    """A condition whose per-voxel scalars (B, S, *spatial) are replaced by their value at the centre voxel of
    the volume rolled by ``offsets`` (torch.roll's convention)."""
    if cond is None or cond.scalars is None or cond.scalars.ndim <= 2:
        return cond
    spatial = cond.scalars.shape[2:]
    offsets = offsets or [0] * len(spatial)
    at = tuple((s // 2 - o) % s for s, o in zip(spatial, offsets))   # rolled[c] = original[c - o]
    return Cond(label=cond.label, scalars=cond.scalars[(slice(None), slice(None)) + at], channels=cond.channels,
                dropped=cond.dropped)


def seam_s2(pore: np.ndarray, planes: Sequence[int], axis: int = 0, r_max: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """S2 along ``axis`` for point pairs that straddle one of the ``planes`` versus for all pairs.

    A pair (x, x + r e_axis) straddles plane p when x_axis < p <= x_axis + r (indices modulo the size:
    the volume is treated as periodic, as tiled generation makes it). A seam shows as a difference between
    the two curves; a seamless volume has them equal up to sampling noise.

    Returns:
        (S2 across the planes, S2 over all pairs), each (r_max,) for r = 1..r_max.
    """
    a = np.asarray(pore, bool)
    n = a.shape[axis]
    planes = np.unique(np.asarray(planes) % n)
    across, overall = np.zeros(r_max), np.zeros(r_max)
    for r in range(1, r_max + 1):
        prod = np.logical_and(a, np.roll(a, -r, axis=axis))                # I(x) I(x + r)
        per_slice = prod.mean(axis=tuple(d for d in range(a.ndim) if d != axis))
        xs = np.arange(n)
        straddle = np.zeros(n, bool)
        for p in planes:
            straddle |= ((p - xs - 1) % n) < r                              # x < p <= x + r on the torus
        across[r - 1] = per_slice[straddle].mean() if straddle.any() else np.nan
        overall[r - 1] = per_slice.mean()
    return across, overall


class _ConditionEcho(nn.Module):
    """A stub denoiser that returns its tile's scalar condition in every voxel: the blend of its outputs is the
    local condition a volume receives from per-voxel scalars."""

    def forward(self, x: Tensor, sigma, cond: Cond | None = None) -> Tensor:
        c = cond.scalars[:, :1]
        return c.reshape(c.shape[0], 1, *[1] * (x.ndim - 2)).expand_as(x).to(x.dtype)


def blend_attenuation(maps: np.ndarray, tile: int | Sequence[int], *, overlap: float, shift: str = "none",
                      window: str = "hann", calls: int = 16, seed: int = 0) -> float:
    r"""The share of a per-voxel scalar map's variance that reaches the volume through the tile blend.

    Each tile is conditioned on the map at its centre and the blend (module docstring) mixes the tiles, so the
    condition a voxel effectively receives is the blend of its tiles' conditions, a smoothed map. With a stub
    denoiser that answers every tile with its condition,

    .. math::
        a = \operatorname{Var}\big[\tfrac{1}{K}\textstyle\sum_{k=1}^{K} B_k(m)\big] / \operatorname{Var}[m]

    over the voxels of every map m (n, *spatial), B_k the blend of the k-th call (its own random offset when
    ``shift="random"``; a sampler's steps see many calls, hence the mean over ``calls``). On Berea (64^3, 32^3
    tiles, overlap 0.25, random shift) a = 0.575: the volume gets little more than half the porosity spread the
    map asks for (docs/benchmarks.md, Microstructure, session 23). Written here because it is a property of this
    blend.
    """
    m = torch.tensor(np.asarray(maps, np.float64))
    if m.ndim < 2:
        raise ValueError(f"maps of shape {tuple(m.shape)}: expected (n, *spatial)")
    var = float(m.var(dim=tuple(range(1, m.ndim)), unbiased=False).mean())
    if var <= 0:
        raise ValueError("the maps do not vary: no variance to attenuate")
    td = TiledDenoiser(_ConditionEcho(), tile, overlap=overlap, shift=shift, window=window,
                       generator=torch.Generator().manual_seed(seed))
    x = torch.zeros(m.shape[0], 1, *m.shape[1:], dtype=torch.float64)
    cond = Cond(scalars=m[:, None])
    mean = sum(td(x, 1.0, cond)[:, 0] for _ in range(calls)) / calls
    return float(mean.var(dim=tuple(range(1, m.ndim)), unbiased=False).mean()) / var
