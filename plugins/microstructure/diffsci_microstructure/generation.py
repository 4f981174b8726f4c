"""Porosity-conditioned generation of volumes of any size, and reconstruction of a volume from 2D slices.

Both are thin compositions of engine pieces:

    denoiser (EDM, trained on patches)
      -> ClassifierFreeGuidance(scale)        porosity condition (Ho & Salimans 2022)
      -> TiledDenoiser(tile, periodic)        volumes larger than the patches (this plugin)
      -> diffsci.samplers / diffsci.guidance.data_consistency (slices as a Mask measurement)

Volumes come back as boolean pore masks (model output > 0), optionally after the median filter with which
Mosser et al. (2017) post-processed their GAN samples (:func:`median_clean`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import torch
from tqdm.auto import tqdm

from diffsci import Cond
from diffsci.diffusion.schedules import get_schedule
from diffsci.guidance import ClassifierFreeGuidance

from .data import from_model, porosity_to_scalar, to_model
from .tiling import TiledDenoiser

__all__ = ["porosity_cond", "field_conditioned", "wrap_denoiser", "estimate_porosity", "generate_volumes",
           "median_clean", "slice_operator", "reconstruct_from_slices"]


def porosity_cond(porosity, n: int, device="cpu", *, field_shape=None, specific_surface=None) -> Cond | None:
    """Cond with scalars = logit(porosity) for n samples (one value or n values); None -> unconditional.
    Maps (n, *spatial) of local porosity give per-voxel scalars (n, 1, *spatial), read per tile (tiling.py).

    ``specific_surface`` (per voxel, one value or n; a prior trained with ``conditions: [porosity,
    specific_surface]``) appends the second scalar in the units data.condition_vector trains on (10 S_V).

    ``field_shape`` (the volumes' spatial shape) is for a prior conditioned on a local-porosity field
    (data.py, ``porosity_field``): the condition is then the channel logit(porosity), (n, 1, *field_shape),
    constant over a volume asked for one value; such a prior has no unconditional mode.
    """
    if porosity is None:
        if field_shape is not None:
            raise ValueError("this prior is conditioned on a local porosity field (model.cond_channels = 1) and has "
                             "no unconditional mode: give a porosity (one value, one per volume, or maps)")
        return None
    phi = np.asarray(porosity, dtype=np.float64)
    phi = phi if phi.ndim > 1 else np.broadcast_to(phi, (n,))
    if len(phi) != n:
        raise ValueError(f"{len(phi)} porosity maps for {n} samples")
    if np.any((phi <= 0) | (phi >= 1)):
        raise ValueError(f"target porosities must lie in (0, 1), got {phi.min()}..{phi.max()}")
    s = torch.as_tensor(porosity_to_scalar(phi), dtype=torch.float32, device=device)
    if specific_surface is not None:
        if field_shape is not None or phi.ndim > 1:
            raise ValueError("a specific-surface target goes with one porosity per volume (a scalar-conditioned "
                             "prior), not with porosity maps or a porosity-field prior")
        sv = np.broadcast_to(np.asarray(specific_surface, dtype=np.float64), (n,))
        if np.any(sv <= 0):
            raise ValueError(f"specific surface targets must be positive (per voxel), got {sv.min()}")
        return Cond(scalars=torch.stack([s, torch.as_tensor(10 * sv, dtype=torch.float32, device=device)], 1))
    if field_shape is None:
        return Cond(scalars=s[:, None])
    field_shape = tuple(field_shape)
    if s.ndim > 1 and tuple(s.shape[1:]) != field_shape:
        raise ValueError(f"porosity maps of shape {tuple(s.shape[1:])} for volumes of shape {field_shape}")
    s = s.reshape(n, *[1] * len(field_shape)) if s.ndim == 1 else s
    return Cond(channels=s[:, None].expand(n, 1, *field_shape).contiguous())


def field_conditioned(denoiser) -> bool:
    """Whether a prior takes its porosity as a voxel-wise field channel (data.py ``porosity_field``)."""
    return getattr(getattr(denoiser, "net", None), "cond_channels", 0) > 0


def wrap_denoiser(denoiser, *, tile: int | None = None, guidance: float = 1.0, overlap: float = 0.5,
                  periodic: bool = True, window: str = "hann", shift: str = "none", max_batch: int = 16,
                  generator: torch.Generator | None = None, whole_above: float | None = None,
                  maps_from_estimate: str | None = None):
    """CFG (when guidance != 1) inside tiled denoising (when a tile size is given, or with a random shift:
    tiling.py, a random circular roll of the whole volume then; ``whole_above``: the whole volume above that
    noise level, the tiles below; ``maps_from_estimate`` ("raw" or "recentred"): those tiles conditioned on the
    porosity of their region in the last whole-volume estimate, :func:`estimate_porosity`)."""
    if maps_from_estimate not in (None, "raw", "recentred"):
        raise ValueError(f"maps_from_estimate must be 'raw' or 'recentred', got {maps_from_estimate!r}")
    d = ClassifierFreeGuidance(denoiser, guidance) if guidance != 1.0 else denoiser
    if maps_from_estimate and (whole_above is None or tile is None):
        raise ValueError("maps_from_estimate conditions the tiles below whole_above on the whole-volume estimate: "
                         "it needs both a tile size and whole_above")
    if tile is not None or shift != "none":
        d = TiledDenoiser(d, tile, overlap=overlap, periodic=periodic, window=window, shift=shift,
                          max_batch=max_batch, generator=generator, whole_above=whole_above,
                          from_estimate=None if maps_from_estimate is None else
                          partial(estimate_porosity, recentred=maps_from_estimate == "recentred"))
    return d


def estimate_porosity(m: torch.Tensor, scalars: torch.Tensor | None = None, *, recentred: bool = False) -> torch.Tensor:
    """The porosity condition (logit, data.porosity_to_scalar) of each region whose denoised estimate averages ``m``
    (B, 1, *spatial) in model units (+1 pore, -1 grain): E[pore fraction] = (1 + m) / 2, since the mean of
    E[x0 | x] over a region is E[mean x0 | x]. ``recentred``: the local values keep their deviations from the
    volume's mean but take the asked porosity as their mean (``scalars``, the asked logit, (B, 1) or a map
    (B, 1, *spatial)), so the estimate gives the layout and the ask the level. Clipped to [1e-3, 1 - 1e-3] as
    porosity_to_scalar is."""
    phi = (1 + m) / 2
    if recentred:
        if scalars is None:
            raise ValueError("a recentred porosity estimate needs the asked porosity (scalars)")
        dims = tuple(range(2, m.ndim))
        asked = torch.sigmoid(scalars.to(m.dtype))
        asked = asked.mean(tuple(range(2, asked.ndim)), keepdim=True) if asked.ndim > 2 else asked
        phi = phi - phi.mean(dims, keepdim=True) + asked.reshape(*asked.shape[:2], *[1] * len(dims))
    return torch.logit(phi.clamp(1e-3, 1 - 1e-3))


def median_clean(x: np.ndarray, size: int = 3, *, periodic: bool = True, batched: bool = True) -> np.ndarray:
    """A ``size``^d median filter over the spatial axes of one sample or a batch (model units, continuous).

    This is the post-processing Mosser, Dubrule & Blunt (2017) applied to their GAN's Berea samples before
    thresholding (a 3^3 median filter, then Otsu; the real images were not filtered), so the published GAN
    figures include it. ``periodic`` wraps around the borders, as the periodic tiled sampler does.
    ``x``: (N, *spatial) (``batched``) or (*spatial); ``size`` < 2 returns ``x`` unchanged.
    """
    from scipy.ndimage import median_filter
    x = np.asarray(x)
    if size < 2:
        return x
    footprint = ((1,) if batched else ()) + (size,) * (x.ndim - int(batched))   # never across the batch axis
    return median_filter(x, size=footprint, mode="wrap" if periodic else "reflect")


def _check_scalars(denoiser, porosity, specific_surface) -> None:
    """A clear error when the asked conditions do not fit the prior's scalar inputs (UNet ``num_scalars``)."""
    want = getattr(getattr(getattr(denoiser, "net", None), "cond_embedding", None), "num_scalars", None)
    if want is None or porosity is None or field_conditioned(denoiser):
        return
    have = 1 + (specific_surface is not None)
    if have != want:
        names = {1: "porosity", 2: "porosity and specific_surface"}
        raise ValueError(f"this prior takes {want} scalar condition(s) ({names.get(want, '?')}, as data.params."
                         f"conditions was when it trained) but {names[have]} was given"
                         + ("; pass specific_surface=" if want == 2 else ""))


def generate_volumes(denoiser, n: int, size: int | Sequence[int], *, porosity=None, guidance: float = 1.0,
                     tile: int | None = None, overlap: float = 0.5, periodic: bool = True, shift: str = "none",
                     sampler: str = "dpmpp_2m", steps: int = 20, sigma_min: float = 0.002,
                     sigma_max: float = 80.0, seed: int = 0, device="cpu", batch: int = 1,
                     max_batch: int = 16, return_model_units: bool = False, median: int = 0, callback=None,
                     progress: str | None = None, sampler_kw: Mapping | None = None,
                     specific_surface=None, whole_above: float | None = None,
                     maps_from_estimate: str | None = None) -> np.ndarray:
    """Draw ``n`` volumes of side ``size`` (int: a cube of the model's spatial rank) as pore masks.

    Args:
        denoiser: trained EDM denoiser (with a ``net.spatial_dims``), e.g. from ``diffsci.train.load_denoiser``.
        porosity: target porosity (one value or n values) for a porosity-conditioned model; None draws
            from the unconditional model (the NULL condition); or maps (n, *size) of local porosity (field.py),
            each tile conditioned on the map at its centre (needs ``tile`` or ``shift``). A prior conditioned on
            a porosity field (:func:`field_conditioned`) reads the maps voxel by voxel, a value as a flat map.
        guidance: classifier-free guidance scale (1 = the conditional model).
        tile: patch size for tiled denoising (None: the whole volume in one network call).
        shift: "random" moves the tile grid (or rolls the whole volume) by a random offset at every network
            call (tiling.py; periodic only), so the network's down-sampling grid has no fixed phase.
        whole_above: with tiles, denoise the whole volume in one call while sigma > whole_above (a porosity map
            then gives its mean), the tiles below (tiling.TiledDenoiser); None: tiles at every level.
        maps_from_estimate: with ``whole_above``, each tile below the switch is conditioned on the porosity of its
            region in the last whole-volume denoised estimate (:func:`estimate_porosity`), not on ``porosity``
            (whose value, or map mean, conditions the whole-volume calls): "raw" as estimated, "recentred" with the
            estimate's volume mean moved to the asked porosity; needs a porosity-conditioned prior.
        batch: volumes per sampler call.
        median: a median filter of this side on the model output before thresholding (:func:`median_clean`,
            Mosser et al. 2017's post-processing); 0 = none.
        progress: a label shows a tqdm bar over (volume, step) pairs; None: silent.
        sampler_kw: extra keywords of the sampler, e.g. {"s_churn": 80, "s_gamma_max": 1} for "stochastic".
        specific_surface: target specific surface per voxel (one value or n) for a prior trained on
            ``conditions: [porosity, specific_surface]``; needs ``porosity``.
    Returns:
        (n, *size) bool (or float model units with ``return_model_units``).
    """
    from diffsci.samplers import get_sampler
    ndim = getattr(getattr(denoiser, "net", None), "spatial_dims", 3)
    shape = (size,) * ndim if isinstance(size, int) else tuple(size)
    gen = torch.Generator().manual_seed(seed)
    d = wrap_denoiser(denoiser, tile=tile, guidance=guidance, overlap=overlap, periodic=periodic, shift=shift,
                      max_batch=max_batch, generator=torch.Generator().manual_seed(seed + 1), whole_above=whole_above,
                      maps_from_estimate=maps_from_estimate)
    sigmas = get_schedule("karras")(steps, sigma_min, sigma_max, dtype=torch.float32, device=device)
    if specific_surface is not None and porosity is None:
        raise ValueError("a specific-surface target needs a porosity target too (the prior's first condition)")
    _check_scalars(denoiser, porosity, specific_surface)
    if maps_from_estimate and (porosity is None or specific_surface is not None or field_conditioned(denoiser)):
        raise ValueError("maps_from_estimate conditions tiles on an estimated porosity: it needs a porosity target "
                         "and a prior conditioned on porosity alone (one scalar)")
    targets = None if porosity is None else np.asarray(porosity, dtype=np.float64)
    surfaces = None if specific_surface is None else np.broadcast_to(np.asarray(specific_surface, float), (n,))
    field = shape if field_conditioned(denoiser) else None
    if targets is not None and targets.ndim > 1:
        if targets.shape != (n, *shape):
            raise ValueError(f"porosity maps of shape {targets.shape} for {n} volumes of shape {shape}")
        if tile is None and shift == "none" and field is None:
            raise ValueError("porosity maps condition tiles: give a tile size (or shift='random')")
    elif targets is not None:
        targets = np.broadcast_to(targets, (n,))
    out = []
    with tqdm(total=n * steps, desc=progress, unit="step", disable=progress is None, leave=False) as bar:
        for i in range(0, n, batch):
            b = min(batch, n - i)
            x = torch.randn((b, 1, *shape), generator=gen).to(device) * sigmas[0]
            cond = porosity_cond(None if targets is None else targets[i:i + b], b, device, field_shape=field,
                                 specific_surface=None if surfaces is None else surfaces[i:i + b])

            def step(*a, b=b):
                bar.update(b)
                if callback is not None:
                    callback(*a)
            with torch.no_grad():
                x0 = get_sampler(sampler)(d, x, sigmas, cond=cond, callback=step,
                                          generator=gen if sampler in ("stochastic", "euler_maruyama") else None,
                                          **(sampler_kw or {}))
            x0 = median_clean(x0[:, 0].cpu().numpy(), median, periodic=periodic)
            out.append(x0 if return_model_units else from_model(x0))
    return np.concatenate(out)


def slice_operator(shape: Sequence[int], slices: Sequence[tuple[int, int]], sigma_y: float = 0.0):
    """A :class:`diffsci.operators.Mask` that measures whole planes: ``slices`` = [(axis, index), ...]
    of a (1, *shape) volume (axis 0..ndim-1 over the spatial axes)."""
    from diffsci.operators import Mask
    mask = torch.zeros((1, *shape))
    for axis, index in slices:
        if not 0 <= axis < len(shape) or not -shape[axis] <= index < shape[axis]:
            raise ValueError(f"slice (axis={axis}, index={index}) is outside a volume of shape {tuple(shape)}")
        sl = [slice(None)] * (len(shape) + 1)
        sl[axis + 1] = index
        mask[tuple(sl)] = 1
    return Mask(mask, sigma_y=sigma_y)


def _pore_plane(plane, what: str) -> np.ndarray:
    """A given slice as a bool pore mask. Anything else is refused rather than cast: a coded image (0/255 as read
    from a file) would read every non-zero as pore, whatever the file's pore value, and 0/1 is ambiguous
    (segmentation.binarize takes the darker value as pore)."""
    a = np.asarray(plane)
    if a.dtype == bool:
        return a
    values = np.unique(a)
    shown = ", ".join(f"{v:g}" for v in values[:4]) + (", ..." if values.size > 4 else "")
    raise ValueError(f"{what} is {a.dtype} with the values {{{shown}}}: give a bool pore mask (True = pore); "
                     "decode a coded or grayscale image first, as the training volume was "
                     "(segmentation.binarize, or image == pore_value)")


def reconstruct_from_slices(denoiser, slices: Mapping[tuple[int, int], np.ndarray], shape: Sequence[int], *,
                            n: int = 1, porosity=None, guidance: float = 1.0, tile: int | None = None,
                            overlap: float = 0.5, periodic: bool = True, sampler: str = "stochastic",
                            steps: int = 20, sigma_min: float = 0.002, sigma_max: float = 80.0, seed: int = 0,
                            device="cpu", max_batch: int = 16) -> np.ndarray:
    """Posterior samples of a volume consistent with given 2D slices (hard data consistency).

    Args:
        slices: {(axis, index): 2D pore mask of the plane}, e.g. {(0, 16): image} for the plane x[16, :, :].
        shape: spatial shape of the volume to reconstruct.
        n: number of posterior samples (each an independent draw consistent with the slices).
        porosity: optional porosity condition (e.g. the porosity of the slice).
    Returns:
        (n, *shape) bool; the given planes are reproduced exactly (data consistency on the denoised
        estimate at every step, then the final state's sign).
    """
    from diffsci.guidance import data_consistency
    shape = tuple(shape)
    op = slice_operator(shape, list(slices)).to(device)
    y = torch.zeros((1, 1, *shape))
    seen = torch.zeros(shape, dtype=torch.bool)
    for (axis, index), plane in slices.items():
        plane = _pore_plane(plane, f"slice (axis={axis}, index={index})")
        want = shape[:axis] + shape[axis + 1:]
        if plane.shape != want:
            raise ValueError(f"slice (axis={axis}, index={index}) has shape {plane.shape}, expected {want}")
        sl = [slice(None)] * len(shape)
        sl[axis] = index
        values = torch.from_numpy(to_model(plane))
        old = y[0, 0][tuple(sl)]
        if bool((seen[tuple(sl)] & (old != values)).any()):
            raise ValueError(f"slice (axis={axis}, index={index}) disagrees with another given slice where they cross")
        y[0, 0][tuple(sl)] = values
        seen[tuple(sl)] = True
    y = y.to(device)
    d = wrap_denoiser(denoiser, tile=tile, guidance=guidance, overlap=overlap, periodic=periodic,
                      max_batch=max_batch)
    gen = torch.Generator().manual_seed(seed)
    sigmas = get_schedule("karras")(steps, sigma_min, sigma_max, dtype=torch.float32, device=device)
    out = []
    for _ in range(n):
        x = torch.randn((1, 1, *shape), generator=gen).to(device) * sigmas[0]
        cond = porosity_cond(porosity, 1, device, field_shape=shape if field_conditioned(denoiser) else None)
        with torch.no_grad():
            x0 = data_consistency(d, x, sigmas, operator=op, measurement=y, cond=cond, generator=gen,
                                  sampler=sampler)
        out.append(from_model(x0[:, 0]))
    return np.concatenate(out)
