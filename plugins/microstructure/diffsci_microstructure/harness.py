"""``diffsci evaluate microstructure generation|reconstruction``: generated (or reconstructed) versus real
held-out sub-volumes, with the published GAN figures side by side. Writes DIR/report.{json,md} and PNGs."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from diffsci.config import DataConfig, DiffusionConfig, ExperimentConfig, SamplingConfig, TrainConfig, UNetConfig
from diffsci.report import Report
from diffsci.utils import resolve_device

from .control import calibrate_porosity
from .data import MicrostructureData, default_data_path, load_pore_volume, random_subvolumes, split_region
from .evaluation import PUBLISHED, SCALARS, by_porosity_half, compare, describe, matched_floor, s2_lag_difference
from .field import fluctuation_spectrum, sample_porosity_maps
from .figures import generation_figure, s2_lag_figure, slices_figure, surface_porosity_figure
from .generation import field_conditioned, generate_volumes, median_clean, reconstruct_from_slices
from .io import encode_binary, read_volume, write_volume
from .metrics import lag_correlation, porosity, s2_mae_rel, specific_surface, two_point_correlation
from .options import add_harness_args  # noqa: F401  (re-exported)
from .segmentation import binarize
from .tiling import blend_attenuation, seam_s2, tile_starts

__all__ = ["add_harness_args", "generation", "reconstruction", "run_generation", "run_reconstruction",
           "quick_prior_config", "load_or_train_prior", "TARGETS", "VOXEL_SIZE_RANGE"]

#: The issue's targets (Berea): name -> (key in the comparison, threshold; None: a yes/no check)
TARGETS = {"porosity within 1 % relative": ("porosity_rel_error", 0.01),
           "S2 MAE below 2 % of the porosity": ("s2_mae_rel", 0.02),
           "specific surface within 3 %": ("specific_surface_rel_error", 0.03),
           "mean permeability within the real std": ("permeability_within_real_std", None),
           "porosity-control error below 0.005 (targets 0.12-0.28)": ("control_error", 0.005)}

#: --voxel-size outside this range (metres) is refused: pore-scale images have nanometre to millimetre voxels
VOXEL_SIZE_RANGE = (1e-9, 1e-2)
#: MicrostructureData fields that harness options of the same name (--raw-shape, ...) set
DATA_OPTIONS = ("raw_shape", "raw_dtype", "pore_value", "threshold", "val_fraction", "test_fraction", "split_axis")
#: the options that move the border of each split's slab
SLAB_OPTIONS = {"train": "--val-fraction or --test-fraction", "val": "--val-fraction",
                "test": "--size or --test-fraction"}


# --- the prior -------------------------------------------------------------------------------------
def quick_prior_config(data: MicrostructureData, steps: int = 40, out_dir: str = "prior") -> ExperimentConfig:
    """A tiny porosity-conditioned prior on 16^d patches, d = ``data.spatial_dims`` (3D: about 2 CPU-seconds a
    step): --quick and tests.

    It exercises the whole pipeline; its samples are not a model of the rock (use a trained --checkpoint)."""
    return ExperimentConfig(
        name="microstructure-quick",
        model=UNetConfig(spatial_dims=data.spatial_dims, in_channels=1, channels=(8, 16), num_res_blocks=1,
                         attention_levels=(False, False), num_head_channels=8, num_scalars=1,
                         padding_mode="circular", norm_num_groups=8),
        diffusion=DiffusionConfig(sigma_data=0.8),
        data=DataConfig(domain="microstructure", params=data.model_copy(
            update={"patch_size": 16, "samples_per_epoch": 100_000, "val_samples": 8}).model_dump(mode="json")),
        train=TrainConfig(steps=steps, batch_size=4, lr=2e-3, warmup_steps=20, ema_decay=0.95, cond_dropout=0.1,
                          log_every=max(1, steps // 5), val_every=steps, val_batches=2, ckpt_every=steps,
                          out_dir=out_dir),
        sampling=SamplingConfig(sampler="dpmpp_2m", steps=8))


def load_or_train_prior(args, data: MicrostructureData, out: Path, device):
    """(denoiser, config, info): --checkpoint, else the default run folder, else (quick) a tiny prior."""
    from diffsci.train import load_denoiser, train
    ck = args.checkpoint
    if ck is None and not args.quick and Path("runs/microstructure_berea/latest").exists():
        ck = "runs/microstructure_berea"
    ema = args.weights != "raw"
    if ck is not None:
        from diffsci.train import read_checkpoint
        denoiser, cfg = load_denoiser(ck, device=device, ema=ema)
        conditions = tuple((cfg.data.params or {}).get("conditions") or ("porosity",))
        if set(conditions) - {"porosity"}:
            # the harnesses ask for porosities only (matched, control, slices); no rule for the other targets
            raise ValueError(f"{ck} is conditioned on {', '.join(conditions)} (data.params.conditions when it trained); "
                             "the harnesses judge priors conditioned on porosity alone: draw this one's volumes with "
                             f"`diffsci evaluate microstructure sample --checkpoint {ck} --porosity P "
                             "--specific-surface S`")
        step = read_checkpoint(ck).state.get("step")
        return denoiser, cfg, {"checkpoint": str(ck), "trained_here": False, "step": step,
                               "weights": "ema" if ema else "raw"}
    if not args.quick:
        raise FileNotFoundError("no trained prior: pass --checkpoint RUN_DIR (train one with `diffsci train --config "
                                "configs/microstructure_berea.yaml`), or use --quick to train a tiny one here")
    run_dir = out / "prior"
    cfg = quick_prior_config(data, steps=args.prior_steps or 40, out_dir=str(run_dir))
    from .data import make_dataset
    params = MicrostructureData.model_validate(cfg.data.params)
    pore, _ = load_pore_volume(params)
    val_patch = params.val_patch_size or params.patch_size
    for split, side in (("train", params.patch_size), ("val", val_patch)):   # before training: a clear error
        _slab(pore, params, split, side, "the quick prior's patches")
    result = train(cfg, dataset=make_dataset(params, "train"), val_dataset=make_dataset(params, "val"),
                   device=device, progress=not args.no_progress,
                   resume=(run_dir / "latest").exists())
    denoiser, cfg = load_denoiser(result.run_dir, device=device, ema=ema)
    return denoiser, cfg, {"checkpoint": str(result.run_dir), "trained_here": True, "train_steps": result.step,
                           "weights": "ema" if ema else "raw",
                           "train_seconds": round(result.seconds, 1),
                           "final_loss": result.losses[-1] if result.losses else None}


def _data_params(args) -> MicrostructureData:
    """The --data volume and how it is read and split (data.MicrostructureData), from the harness options."""
    path = Path(args.data) if args.data else default_data_path()
    voxel = args.voxel_size
    lo, hi = VOXEL_SIZE_RANGE
    if voxel is not None and not lo < voxel < hi:
        raise ValueError(f"--voxel-size {voxel:g}: the voxel size is in metres and must lie between {lo:g} and "
                         f"{hi:g} (a 5.345 um voxel is --voxel-size 5.345e-6)")
    kw = {k: v for k in DATA_OPTIONS if (v := getattr(args, k, None)) is not None}
    if ("raw_shape" in kw or "raw_dtype" in kw) and not path.name.lower().endswith(".raw"):
        raise ValueError(f"--raw-shape / --raw-dtype describe a headerless .raw file; {path} is not one")
    if "raw_dtype" in kw and "raw_shape" not in kw:
        raise ValueError("--raw-dtype needs --raw-shape (else the shape and dtype come from the sidecar JSON or the "
                         "file name)")
    if "raw_shape" in kw:
        kw["raw_shape"] = _raw_shape(kw["raw_shape"])
    if "raw_dtype" in kw:
        try:
            np.dtype(kw["raw_dtype"])
        except TypeError:
            raise ValueError(f"--raw-dtype {kw['raw_dtype']!r}: not a NumPy dtype (e.g. uint8, uint16, "
                             "float32)") from None
    try:
        return MicrostructureData(path=str(path), voxel_size=voxel, **kw)
    except ValidationError as e:                         # name the options, not the pydantic fields
        problems = "; ".join((f"--{str(err['loc'][0]).replace('_', '-')}: " if err["loc"] else "") + err["msg"]
                             for err in e.errors())
        raise ValueError(f"{path}: {problems}") from None


def _raw_shape(value) -> tuple[int, ...]:
    """--raw-shape "400,400,400" (or 400x400x400, or a sequence) as a tuple of 2 or 3 positive ints."""
    items = value.replace("x", ",").split(",") if isinstance(value, str) else list(value)
    try:
        shape = tuple(int(v) for v in items)
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"--raw-shape {value!r}: expected 2 or 3 positive integers, e.g. 400,400,400")
    return shape


def _with_rank(data: MicrostructureData, pore: np.ndarray) -> MicrostructureData:
    """``data`` with the rank of its image: a 2D micrograph gives 2D patches (the quick prior is then 2D)."""
    return data.model_copy(update={"spatial_dims": 2}) if pore.ndim == 2 and data.spatial_dims == 3 else data


def _compared_rank(cfg, pore: np.ndarray, source: str) -> int:
    """The rank of the compared volumes: the prior's (config.model.spatial_dims); a 2D prior on a 3D volume is
    compared with 2D slices of it, a 3D prior cannot be compared with a 2D image."""
    ndim = int(cfg.model.spatial_dims)
    if ndim not in (2, 3) or ndim > pore.ndim:
        raise ValueError(f"the prior is {ndim}D (config.model.spatial_dims) but the data {source} is {pore.ndim}D, "
                         f"shape {pore.shape}: pass a {pore.ndim}D prior (--checkpoint), or data of the prior's rank")
    return ndim


def _slab(pore: np.ndarray, data: MicrostructureData, split: str, side: int, what: str) -> np.ndarray:
    """``split``'s slab of the volume (data.split_region), or a clear error where ``what`` of side ``side`` do
    not fit in it."""
    ax = data.split_axis
    if ax >= pore.ndim:
        raise ValueError(f"--split-axis {ax}: the data has {pore.ndim} axes (shape {pore.shape})")
    region = pore[split_region(pore.shape, split, axis=ax, val_fraction=data.val_fraction,
                               test_fraction=data.test_fraction)]
    if any(n < side for n in region.shape):
        raise ValueError(f"{what} (side {side}) do not fit in the {split} slab of the data: shape {region.shape}, "
                         f"{region.shape[ax]} of the {pore.shape[ax]} slices along axis {ax} (val fraction "
                         f"{data.val_fraction}, test fraction {data.test_fraction}); change {SLAB_OPTIONS[split]}")
    return region


def _size(args, quick: bool) -> int:
    """--size, the side of the compared volumes (default 64; quick 32)."""
    return args.size or (32 if quick else 64)


def _settings(args, cfg, quick: bool) -> dict:
    patch = cfg.data.params.get("patch_size", 32) if cfg.data.domain == "microstructure" else 32
    gain = _map_gain(getattr(args, "map_gain", None))
    if gain != 1.0 and not getattr(args, "porosity_maps", False):
        raise ValueError(f"--map-gain {gain} scales porosity maps: it needs --porosity-maps")
    if getattr(args, "whole_above", None) is not None and args.tile == 0:
        raise ValueError("--whole-above switches between the whole volume and tiles: it needs tiles (not --tile 0)")
    if getattr(args, "maps_from_estimate", None) and getattr(args, "whole_above", None) is None:
        raise ValueError("--maps-from-estimate conditions the tiles on the whole-volume estimate: "
                         "it needs --whole-above")
    return {"size": _size(args, quick), "n": args.n or (2 if quick else 12),
            "steps": args.steps or (6 if quick else cfg.sampling.steps),
            "sampler": args.sampler or cfg.sampling.sampler, "patch": patch,
            "tile": None if args.tile == 0 else (args.tile or patch),     # None: the whole volume at once
            "overlap": args.overlap if args.overlap is not None else (0.25 if quick else 0.5),
            # shift, porosity_maps, median, s_churn: generation-only options (the reconstruction harness has none)
            "shift": getattr(args, "shift", None) or "none",
            "whole_above": getattr(args, "whole_above", None),
            "maps_from_estimate": getattr(args, "maps_from_estimate", None),
            "porosity_maps": bool(getattr(args, "porosity_maps", False)),
            "map_gain": gain,
            "guidance": args.guidance if args.guidance is not None else cfg.sampling.guidance_scale,
            "median": 3 if getattr(args, "median", None) is None else args.median,
            "sampler_kw": _sampler_kw(args, args.sampler or cfg.sampling.sampler)}


def _map_gain(value) -> float | str:
    """--map-gain: "auto" or a positive number (default 1)."""
    if value is None or value == "auto":
        return value or 1.0
    try:
        gain = float(value)
    except ValueError:
        gain = float("nan")
    if not gain > 0:
        raise ValueError(f"--map-gain {value!r}: expected 'auto' or a positive number")
    return gain


def _churn_note(kw: dict) -> str:
    return "".join(f", {k} {v:g}" for k, v in kw.items())


def _sampler_kw(args, sampler: str) -> dict:
    """--s-churn / --s-gamma-max as keywords of the stochastic sampler (an error with any other)."""
    kw = {k: v for k in ("s_churn", "s_gamma_max") if (v := getattr(args, k, None)) is not None}
    if kw and sampler != "stochastic":
        raise ValueError(f"--s-churn / --s-gamma-max set the stochastic sampler's churn; the sampler is '{sampler}' "
                         "(pass --sampler stochastic)")
    return kw


# --- generation ------------------------------------------------------------------------------------
def generation(args) -> dict:
    """Generated vs real held-out Berea sub-volumes: porosity, S2, specific surface, permeability, Euler,
    porosity-control error, seams; with Mosser et al. (2017)'s real and GAN figures."""
    return run_generation(args, _data_params(args))


def run_generation(args, data: MicrostructureData, *, published: bool | None = None) -> dict:
    """The generation harness on any data source (the demo passes porespy blobs); ``published`` adds the
    Mosser et al. (2017) Berea rows (default: when the file name says berea)."""
    torch.manual_seed(args.seed)
    cpu0 = time.process_time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    quick = bool(args.quick)
    unconditional = not args.no_unconditional
    matched = not quick and not args.no_matched                 # the matched rows: full mode only
    if not unconditional and not matched:
        raise ValueError("--no-unconditional leaves nothing to generate: the matched rows are drawn in full mode "
                         "only, and not with --no-matched")
    if published is None:
        published = data.source == "file" and "berea" in str(data.path).lower()
    pore, meta = load_pore_volume(data)
    data = _with_rank(data, pore)
    voxel = meta.get("voxel_size")
    source = str(data.path) if data.source == "file" else meta["source"]
    test = _slab(pore, data, "test", _size(args, quick), "the real sub-volumes")   # before any training
    denoiser, cfg, prior = load_or_train_prior(args, data, out, device)
    ndim = _compared_rank(cfg, pore, source)
    field_box = cfg.data.params.get("porosity_field") if field_conditioned(denoiser) else None
    if field_box is not None and unconditional:
        unconditional = False                   # a field-conditioned prior has no unconditional mode
        if not matched:
            raise ValueError("this prior is conditioned on a porosity field and has no unconditional rows; the "
                             "matched rows need full mode (not --quick, not --no-matched)")
    s = _settings(args, cfg, quick)
    size, n, tile = s["size"], s["n"], s["tile"]
    report = Report("microstructure", "generation", data=source, device=str(device), quick=quick,
                    command=getattr(args, "command", None))
    report.extra["settings"] = {**s, "voxel_size_m": voxel, "spatial_dims": ndim, "prior": prior,
                                "porosity_field": field_box}
    if field_box is not None:
        report.notes.append(f"the prior reads its porosity as a voxel-wise field ({field_box}^{ndim} box, data.py): "
                            "no unconditional rows; a target porosity is a flat field")
    power = f"^{ndim}"                                       # the sides' exponent in labels: 32^3, 16^2
    setting = f"{size}{power}"
    timings = {}
    perm_missing = None                                      # why permeability is not computed, if it is not
    if ndim != 3:
        perm_missing = f"not computed: permeability needs 3D volumes, these are {ndim}D"
    elif not voxel:
        perm_missing = f"not computed: no voxel size is known for {source} (pass --voxel-size in metres)"
        warnings.warn(f"{source}: permeability not computed: no voxel size is known (pass --voxel-size in metres, "
                      "e.g. 5.345e-6)", RuntimeWarning, stacklevel=2)
        report.notes.append(f"permeability_md, coordination: {perm_missing}.")

    # 1. real held-out sub-volumes (the test slab, disjoint from training); 2D slices of it for a 2D prior
    real_vols = random_subvolumes(test, size, n, seed=args.seed + 7, spatial_dims=ndim)
    train_region = pore[split_region(pore.shape, "train", axis=data.split_axis, val_fraction=data.val_fraction,
                                     test_fraction=data.test_fraction)]     # maps' spectrum, the matched floor
    t = time.perf_counter()
    real = describe(real_vols, voxel_size=voxel)
    timings["real_metrics"] = time.perf_counter() - t

    # 2. generated: unconditional, and (full mode) conditioned on each real sub-volume's porosity, asked for
    # directly and through the calibrated condition (control.py)
    gen_kw = dict(tile=tile, overlap=s["overlap"], shift=s["shift"], sampler=s["sampler"], steps=s["steps"],
                  device=device, seed=args.seed, sampler_kw=s["sampler_kw"], whole_above=s["whole_above"],
                  maps_from_estimate=s["maps_from_estimate"])
    bars = not args.no_progress
    targets = [float(x) for x in (args.targets.split(",") if args.targets else
                                  ([0.12, 0.20, 0.28] if quick else [0.12, 0.16, 0.20, 0.24, 0.28]))]
    n_ctl = args.n_control or (2 if quick else 6)
    csize = args.control_size or tile or s["patch"]
    scales = ([float(w) for w in args.control_guidance.split(",")] if args.control_guidance
              else [s["guidance"]])
    control = {"targets": targets, "achieved": [], "size": csize, "guidance": scales[0], "by_scale": {},
               "calibrated": {}}
    calibrate = not args.no_calibrate_control
    ctl_cal = None
    fits: dict[float, object] = {}

    def draw(condition, w, seed, label):
        """n_ctl control volumes (model units) asked for ``condition`` at guidance ``w``."""
        return generate_volumes(denoiser, n_ctl, csize, porosity=condition, guidance=w, return_model_units=True,
                                **{**gen_kw, "seed": args.seed + seed}, progress=label if bars else None)

    def calibration(w):
        """The model's porosity response at guidance ``w`` (fitted once per scale), or the reason it can't be."""
        if w not in fits:
            t0 = time.perf_counter()
            try:
                fits[w] = calibrate_porosity(lambda c, j: [porosity(x > 0) for x in draw(
                    c, w, 300 + j, f"calibration {c:.2f}, scale {w:g}")])
            except ValueError as e:                          # e.g. an untrained prior ignores its condition
                fits[w] = str(e)
                report.notes.append(f"calibrated condition at scale {w:g} skipped: {e}")
            timings[f"calibration_scale{w:g}"] = time.perf_counter() - t0
        return fits[w]

    units = {}
    if unconditional:
        t = time.perf_counter()
        units["diffusion"] = generate_volumes(denoiser, n, size, progress=f"diffusion {setting}" if bars else None,
                                              return_model_units=True, **{**gen_kw, "maps_from_estimate": None})
        timings["generate_diffusion"] = time.perf_counter() - t
    local = None                                # the volumes' porosity maps, as deviations from their mean
    if matched and s["porosity_maps"]:
        if tile is None and field_box is None:
            raise ValueError("--porosity-maps conditions tiles: it needs tiles (not --tile 0)")
        box = field_box or tile                 # the field prior's own box; else each tile's porosity
        # a 2D prior on a 3D volume: the spectrum of the training slab's middle plane along the split axis
        plane = train_region if ndim == train_region.ndim else np.take(
            train_region, train_region.shape[data.split_axis] // 2, axis=data.split_axis)
        spectrum = fluctuation_spectrum(plane, size, seed=args.seed)
        local = sample_porosity_maps(spectrum, 0.0, box=box, n=n, seed=args.seed + 5, clip=(-1.0, 1.0))
        gain = s["map_gain"]
        if gain == "auto":                      # undo the blend's smoothing of the tiles' conditions (tiling.py)
            # a field prior reads the map at every voxel of every tile: nothing is blended away
            att = 1.0 if field_box is not None else blend_attenuation(local, tile, overlap=s["overlap"],
                                                                      shift=s["shift"], seed=args.seed)
            gain = 1.0 / float(np.sqrt(att))
            report.extra["settings"]["blend_attenuation"] = att
        report.extra["settings"]["map_gain"] = gain
        local = local * gain
        report.notes.append(f"matched rows: each tile conditioned on a local porosity map (field.py; spectrum of "
                            f"{setting} training crops, {box}{power} box, deviations x {gain:.3g}), mean = the "
                            "volume's asked porosity")

    def asked_for(phi):
        """The condition of each matched volume: its porosity, or a porosity map around it."""
        phi = np.asarray(phi, dtype=np.float64)
        return phi if local is None else np.clip(phi.reshape(-1, *[1] * (local.ndim - 1)) + local, 0.01, 0.99)

    if matched:
        t = time.perf_counter()
        units["diffusion_matched"] = generate_volumes(denoiser, n, size, porosity=asked_for(real.values["porosity"]),
                                                      guidance=s["guidance"], **{**gen_kw, "seed": args.seed + 1},
                                                      return_model_units=True,
                                                      progress="diffusion_matched" if bars else None)
        timings["generate_matched"] = time.perf_counter() - t
        cal = calibration(s["guidance"]) if calibrate else None
        if cal is not None and not isinstance(cal, str):
            # the same seeds as diffusion_matched: paired volumes, only the asked condition differs
            asked = cal.condition_for(real.values["porosity"])
            t = time.perf_counter()
            units["diffusion_matched_calibrated"] = generate_volumes(
                denoiser, n, size, porosity=asked_for(asked), guidance=s["guidance"],
                **{**gen_kw, "seed": args.seed + 1},
                return_model_units=True, progress="diffusion_matched_calibrated" if bars else None)
            timings["generate_matched_calibrated"] = time.perf_counter() - t
            report.extra["matched_calibrated"] = {"fit": cal.as_dict(), "asked": np.asarray(asked).tolist()}
    gen_sets = {name: u > 0 for name, u in units.items()}
    judged = next(k for k in ("diffusion_matched_calibrated", "diffusion_matched", "diffusion") if k in gen_sets)
    med = s["median"]
    if med >= 2:
        # the judged set again, post-processed as Mosser et al. (2017) did their GAN samples (generation.py)
        gen_sets[f"{judged}_median{med}"] = median_clean(units[judged], med) > 0
    del units
    stats = {}
    for name, vols in gen_sets.items():
        t = time.perf_counter()
        stats[name] = describe(vols, voxel_size=voxel)
        timings[f"{name}_metrics"] = time.perf_counter() - t

    for method, st in {"real": real, **stats}.items():
        for k in SCALARS:
            if k in st.values:
                report.add(method, setting, k, st.values[k])
    half = max(1, n // 2)
    report.add_row("real", setting, "s2_mae_rel",                     # noise floor: one half vs the other
                   s2_mae_rel(real.s2_radial[:half].mean(0), real.s2_radial[half:].mean(0),
                              float(real.values["porosity"].mean())), None, n)
    comparisons = {}
    for name, st in stats.items():
        c = compare(real, st)
        comparisons[name] = c
        for key, val in c.items():
            if key.endswith("_rel_error"):
                report.add_row(name, setting, key, val, None, n)
        per = [s2_mae_rel(x, real.mean_s2(), float(real.values["porosity"].mean())) for x in st.s2_radial]
        report.add_row(name, setting, "s2_mae_rel", c["s2_mae_rel"], float(np.std(per, ddof=1)) if n > 1 else None, n)

    # 2a. the surface against porosity: the matched sets are paired volume by volume with the real ones, so the
    # surface error can be read where the rock is porous and where it is tight (a mean can hide both)
    by_phi = {"real": {k: real.values[k].tolist() for k in ("porosity", "specific_surface")}}
    for name, st in stats.items():
        by_phi[name] = {k: st.values[k].tolist() for k in ("porosity", "specific_surface")}
        if name.startswith("diffusion_matched"):
            by_phi[name]["halves"] = by_porosity_half(real, st)
    if "halves" in by_phi.get(judged, {}) and n > 1:
        h = by_phi[judged]["halves"]
        report.notes.append(
            f"specific surface by porosity (surface_porosity.png, report.json surface_by_porosity): {judged} "
            f"{100 * h['lower']:+.1f} % on the {h['n_lower']} real volumes below the median porosity (mean "
            f"{h['porosity_lower']:.3f}), {100 * h['upper']:+.1f} % on the {h['n_upper']} at or above it (mean "
            f"{h['porosity_upper']:.3f}).")
    report.extra["surface_by_porosity"] = by_phi
    surface_porosity_figure(out / "surface_porosity.png", by_phi, judged=judged,
                            title=f"specific surface against porosity, {setting}")
    report.figures.append("surface_porosity.png")

    # 2b. the floor of the matched rows: what the same comparison reads for a generator with no error at all
    floor, floor_note = None, "real_matched: not computed (no matched rows, or --floor-draws 0)."
    draws = args.floor_draws                      # every caller parses the harness options (demo.harness_args too)
    if matched and draws > 0 and min(train_region.shape) < size:
        floor_note = (f"real_matched: not computed, {setting} cubes do not fit in the training slab "
                      f"{tuple(train_region.shape)}.")
    elif matched and draws > 0:
        t = time.perf_counter()
        floor = matched_floor(train_region, real, size, draws=draws, seed=args.seed + 17)
        for key, vals in floor.items():
            if key != "s2_lag_difference":                  # per lag: report.extra["s2_by_lag"] and s2_lags.png
                report.add("real_matched", setting, key, vals)
        timings["matched_floor"] = time.perf_counter() - t

    # 3. seams: S2 across the tile borders of the (fixed) tile grid versus everywhere, per axis
    # the borders of the tiles the sampler used: the same periodic grid as TiledDenoiser.plan, both edges
    borders = []
    if s["shift"] != "none":
        report.notes.append("seams not checked: with --shift random the tile grid moves at every step, so there are "
                            "no fixed tile borders to check")
    elif tile is not None:                           # whole-volume denoising has no tile borders to check
        starts = tile_starts(size, tile, max(1, int(round(tile * (1 - s["overlap"])))), True)
        borders = sorted({p % size for p in starts} | {(p + tile) % size for p in starts})
        report.extra["seam_planes"] = borders
        for method, vols in {"real": real_vols, **gen_sets}.items():
            vals = []
            for v in vols:
                for ax in range(v.ndim):
                    across, overall = seam_s2(v, borders, axis=ax, r_max=min(4, size // 4))
                    vals.append(float(np.mean(np.abs(across - overall)) / max(porosity(v), 1e-6)))
            report.add(method, setting, "seam_s2_mae_rel", vals)

    # 3b. tile echo: a tile smaller than the volume is a torus to a network with circular padding, which can copy
    # structure one tile further (a period-`tile` component the real rock lacks); the grid's shift does not stop it
    echo = tile is not None and tile < size
    if echo:
        for method, vols in {"real": real_vols, **gen_sets}.items():
            report.add(method, setting, "tile_echo", [lag_correlation(v, tile) for v in vols])

    # 4. porosity control: conditioned generation over a sweep of targets
    t = time.perf_counter()
    for si, w in enumerate(scales):
        cmethod = f"diffusion_cfg{w:g}"
        errors, thresholded, achieved = [], [], []
        for j, target in enumerate(targets):
            xs = draw(target, w, 100 + j, f"control {target:.2f}, scale {w:g}")
            ach = np.array([porosity(x > 0) for x in xs])
            achieved.append(ach.tolist())
            err = np.abs(ach - target)
            errors.append(err)
            report.add(cmethod, f"target={target:.2f} ({csize}{power})", "porosity", ach)
            report.add(cmethod, f"target={target:.2f} ({csize}{power})", "control_error", err)
            # variant: the same samples thresholded at their (1 - target) quantile instead of 0
            q = np.array([porosity(x > np.quantile(x, 1 - target)) for x in xs])
            thresholded.append(np.abs(q - target))
        report.add(cmethod, f"all targets ({csize}{power})", "control_error", np.concatenate(errors))
        report.add(f"{cmethod}_quantile", f"all targets ({csize}{power})", "control_error", np.concatenate(thresholded))
        # |target - mean achieved| per target: the bias of the control, free of the sample-to-sample spread
        bias = [abs(np.mean(a) - tt) for tt, a in zip(targets, achieved)]
        report.add(cmethod, f"all targets, mean per target ({csize}{power})", "control_error", bias)
        control["by_scale"][w] = achieved
        if si == 0:
            control["achieved"] = achieved
            ctl = float(np.mean(np.concatenate(errors)))
        if calibrate:
            # calibrated condition (control.py): fit the model's response on other seeds, then ask for c(target)
            cal = calibration(w)
            if isinstance(cal, str):
                control["calibrated"][w] = {"error": cal}
                continue
            asked = [float(cal.condition_for(tt)) for tt in targets]
            cerrors, cachieved = [], []
            for j, (target, c) in enumerate(zip(targets, asked)):   # the plain sweep's seeds: paired samples
                ach = np.array([porosity(x > 0) for x in draw(c, w, 100 + j, f"calibrated {target:.2f}, scale {w:g}")])
                cachieved.append(ach.tolist())
                cerrors.append(np.abs(ach - target))
                report.add(f"{cmethod}_calibrated", f"target={target:.2f} ({csize}{power})", "porosity", ach)
            report.add(f"{cmethod}_calibrated", f"all targets ({csize}{power})", "control_error",
                       np.concatenate(cerrors))
            report.add(f"{cmethod}_calibrated", f"all targets, mean per target ({csize}{power})", "control_error",
                       [abs(np.mean(a) - tt) for tt, a in zip(targets, cachieved)])
            control["calibrated"][w] = {"fit": cal.as_dict(), "asked": asked, "achieved": cachieved}
            if si == 0:
                ctl_cal = float(np.mean(np.concatenate(cerrors)))
    timings["control"] = time.perf_counter() - t

    # 5. real sub-volumes at the published sizes (permeability on 128^3)
    psize = args.perm_size if args.perm_size is not None else (0 if quick else 128)
    if psize and min(test.shape) >= psize:
        t = time.perf_counter()
        big = describe(random_subvolumes(test, psize, 6, seed=args.seed + 11), voxel_size=voxel,
                       with_distributions=False)
        for k in ("porosity", "specific_surface", "permeability_md", "euler"):
            if k in big.values:
                report.add("real", f"{psize}^{pore.ndim}", k, big.values[k])
        timings["real_published_size"] = time.perf_counter() - t
    if published and not quick and min(pore.shape) >= 200:
        # the published porosity and surface are on 200^3 sub-volumes: more than the held-out slab holds, so
        # these reference rows come from the whole image (real data only, nothing generated is compared to them)
        t = time.perf_counter()
        whole = random_subvolumes(pore, 200, 8, seed=args.seed + 13)
        whole_setting = f"200^{pore.ndim} (whole image)"
        report.add("real", whole_setting, "porosity", [porosity(v) for v in whole])
        report.add("real", whole_setting, "specific_surface", [specific_surface(v) for v in whole])
        timings["real_200"] = time.perf_counter() - t
    for method, vals in (PUBLISHED if published else {}).items():
        for metric, (m, sd, st) in vals.items():
            report.add_row(method, st, metric, m, sd, None)

    # 6. targets, figures, files
    main = comparisons[judged]
    missing = {"permeability_within_real_std": perm_missing}
    verdict = {}
    for name, (key, thr) in TARGETS.items():
        val = ctl if key == "control_error" else main.get(key)
        verdict[name] = _verdict(val, thr, missing.get(key))
    post = comparisons.get(f"{judged}_median{med}")
    for name, (key, thr) in TARGETS.items() if post is not None else ():
        if key != "control_error":                       # shown beside the raw verdict, never instead of it
            verdict[f"{name}, {med}{power} median as the published GAN"] = _verdict(post.get(key), thr,
                                                                                 missing.get(key))
    if floor is not None:                                # how often a generator with no error meets each target
        for name, (key, thr) in TARGETS.items():
            if key in floor:
                verdict[name]["perfect_generator"] = {"median": float(np.median(floor[key])),
                                                      "share_met": float(np.mean(floor[key] < thr))}
    if ctl_cal is not None:
        verdict["porosity-control error below 0.005, calibrated condition"] = {
            "value": ctl_cal, "threshold": 0.005, "met": bool(ctl_cal < 0.005)}
    report.extra["targets"] = verdict
    report.extra["targets_judged_on"] = judged
    report.extra["comparisons"] = comparisons
    report.extra["s2"] = {"r": list(range(real.s2_radial.shape[1])), "real": real.mean_s2().tolist(),
                          **{k: v.mean_s2().tolist() for k, v in stats.items()}}
    by_lag = {"r": list(range(real.s2_radial.shape[1])), "judged": judged,
              **{k: s2_lag_difference(real, v).tolist() for k, v in stats.items()}}
    if floor is not None:
        lo, hi = np.percentile(floor["s2_lag_difference"], [5, 95], axis=0)
        by_lag.update(perfect_p5=lo.tolist(), perfect_p95=hi.tolist())
        d = np.asarray(by_lag[judged])
        out_of_band = [int(r) for r in np.flatnonzero((d < lo) | (d > hi))]
        by_lag["judged_outside_band"] = out_of_band
        report.notes.append(
            f"S2 by lag (s2_lags.png, report.json s2_by_lag): (S2_gen - S2_real) / porosity per lag; {judged} lies "
            + (f"outside a perfect generator's 5-95 % band ({draws} draws) at lags {_ranges(out_of_band)}."
               if out_of_band else f"inside a perfect generator's 5-95 % band ({draws} draws) at every lag."))
    report.extra["s2_by_lag"] = by_lag
    s2_lag_figure(out / "s2_lags.png", by_lag, title=f"where the S2 error lies, {setting}")
    report.figures.append("s2_lags.png")
    report.extra["control"] = control
    if real.permeability_axes is not None:
        report.extra["permeability_md"] = {"real": real.permeability_axes.tolist(),
                                           **{k: v.permeability_axes.tolist() for k, v in stats.items()}}
    report.extra["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    report.extra["cpu_seconds"] = round(time.process_time() - cpu0, 1)     # this process, all threads
    generation_figure(out / "generation.png", real=real, generated=stats,
                      volumes={"real": real_vols, **gen_sets}, control=control,
                      published=PUBLISHED if published else None,
                      title=f"real held-out vs generated {setting} ({prior['checkpoint']})")
    report.figures.append("generation.png")
    suffix = _output_suffix(str(data.path)) if data.source == "file" else ".tif"
    written = "diffusion" if unconditional else judged
    report.extra["volumes_from"] = written
    for i, v in enumerate(gen_sets[written][:max(args.save_volumes, 0)]):    # input's format, coding
        write_volume(out / f"generated_{i:03d}{suffix}", encode_binary(v, meta)[None], {"voxel_size": voxel})
        report.extra.setdefault("volumes", []).append(f"generated_{i:03d}{suffix}")
    report.notes += [
        f"real = {n} random {setting} "
        + ("sub-volumes" if ndim == pore.ndim else f"slices (random planes, the prior is {ndim}D)")
        + f" of the held-out slab ({data.test_fraction:.0%} of the image along "
        f"axis {data.split_axis}, never seen in training); "
        + ("diffusion = unconditional samples " if unconditional else
           "no unconditional row (--no-unconditional); the generated samples were drawn ")
        + f"({s['sampler']}, {s['steps']} steps{_churn_note(s['sampler_kw'])}), generated at {setting} by "
        + (f"periodic tiled denoising with {tile}{power} tiles (overlap {s['overlap']}, Hann blending) at every step"
           if tile is not None else "denoising the whole periodic volume in one network call at every step "
           "(--tile 0: no tile borders, so no seam rows)")
        + (f", except above sigma {s['whole_above']:g}, where the whole volume is denoised in one call on its "
           "porosity (map mean) (--whole-above)" if s["whole_above"] is not None else "")
        + (", the conditioned tiles below it each on the porosity of its region in the last whole-volume estimate "
           f"(--maps-from-estimate {s['maps_from_estimate']})" if s["maps_from_estimate"] else "")
        + (", the grid moved by a random offset at every network call (--shift random)." if s["shift"] != "none"
           else "."),
        "diffusion_matched: conditioned on the porosity of each real sub-volume (classifier-free guidance "
        f"scale {s['guidance']}); diffusion_matched_calibrated: the same seeds, asked for the calibrated "
        "condition c(porosity) of each real sub-volume (the line fitted for the control sweep at that scale, "
        f"on {csize}{power} volumes of other seeds). The targets are judged on the first of matched_calibrated, "
        f"matched, unconditional that ran: here {judged}.",
        "specific_surface: Crofton estimate per voxel; "
        + ("" if perm_missing else "permeability_md: SNOW2 pore network + openpnm Stokes "
           f"flow, mean of the 3 axes, voxel {voxel:g} m; coordination: throats per pore of that network (too few: "
           "a poorly connected pore space; low permeability at the right porosity then is not about throat size). ")
        + "Mosser et al. (2017) computed permeability with a "
        "finite-difference Stokes solver and surfaces with their own estimator: compare our real and generated "
        "rows with each other, and the published rows with each other.",
        "s2_mae_rel: mean over lags of |S2_gen - S2_real| (mean radial curves) over the real porosity; the "
        "'real' row compares two halves of the real set (their porosities differ: the floor of an unmatched set).",
        (f"real_matched: the floor of the matched rows, {draws} draws: each real sub-volume paired with the cube of "
         "nearest porosity among 200 random cubes of the training slab, the cubes scored against the real set as "
         "a generated set is (evaluation.matched_floor); a generator with no error reads this. targets[...]."
         "perfect_generator: its median and how often it meets the target." if floor is not None else floor_note),
        ("seam_s2_mae_rel: S2 along each axis (lags 1-4) for pairs straddling the tile borders (both edges of "
         f"every tile of the sampler's grid, planes {borders}) vs all pairs, MAE over the porosity; the real row is the estimator's sampling noise on volumes without seams, a seam shows as "
         "a generated value well above it." if borders else
         "seam_s2_mae_rel: not computed, the tile grid moved at every step (--shift random)." if s["shift"] != "none"
         else "seam_s2_mae_rel: not computed, the volumes were denoised whole (no tile borders)."),
        (f"tile_echo: correlation of the pore indicator with itself one tile ({tile} voxels) further along each "
         "axis (metrics.lag_correlation); about 0 for the real rock at that distance, 1 for a volume that repeats "
         "with the tile's period. Circular padding makes each tile a torus to the network, so structure near one "
         "face is continued from the opposite face; overlapping Hann tiles keep it down, overlap 0 does not "
         "(Berea, 64^3: 0.31 at overlap 0, 0.08 at 0.25; docs/benchmarks.md, session 14)." if echo else "tile_echo: not computed, no tiles smaller than the volume."),
        f"control_error: |target - porosity| of {n_ctl} volumes of {csize}{power} per target "
        f"(scale {s['guidance']}); a single sub-volume's porosity fluctuates, so the spread is part of it. "
        "The _quantile variant thresholds the same samples at their (1 - target) quantile instead of 0: "
        "porosity exact by construction (up to ties), shown for users who need it, not as the model's control.",
        f"{judged}_median{med}: the same volumes with a {med}{power} periodic median filter on the model output before "
        "the threshold, the post-processing Mosser et al. (2017) applied to their GAN samples (not to the real "
        "images); targets are judged on the unfiltered volumes, the filtered verdicts are listed beside them."
        if med >= 2 else "No median post-processing (--median 0).",
        "The _calibrated variant asks for the condition c(target) from a line fitted to the model's own response "
        "(logit achieved vs logit asked, 5 conditions 0.08-0.32, other seeds; control.py): it removes the "
        "control's bias, not the sample-to-sample spread.",
    ]
    return report.write(out)


def _ranges(lags: list[int]) -> str:
    """Lags as runs.

    >>> _ranges([3, 8, 9, 10, 14, 15])
    '3, 8-10, 14-15'
    """
    parts, start = [], None
    for i, r in enumerate(lags):
        if start is None:
            start = r
        if i + 1 == len(lags) or lags[i + 1] != r + 1:
            parts.append(f"{start}" if start == r else f"{start}-{r}")
            start = None
    return ", ".join(parts)


def _verdict(value, threshold, missing: str | None = None) -> dict:
    """One target's entry in report["targets"]: met (value below the threshold; a yes/no check: value 1), or
    ``"met": None`` with the reason where the value was not computed (``missing``) or is not finite."""
    if value is None or not np.isfinite(value):
        reason = missing or ("not computed: the value is not finite (too few volumes, or failed pore networks; "
                             "see the rows)" if value is not None else "not computed")
        return {"value": value, "threshold": threshold, "met": None, "reason": reason}
    return {"value": value, "threshold": threshold,
            "met": bool(value >= 1.0) if threshold is None else bool(value < threshold)}


def _output_suffix(path: str) -> str:
    from .io import SUFFIXES, WRITERS
    name = path.lower()
    return next((x for x in SUFFIXES if name.endswith(x) and x in WRITERS), ".tif")


# --- reconstruction --------------------------------------------------------------------------------
def _parse_slices(spec: str, size: int, ndim: int = 3) -> list[tuple[int, int]]:
    """--slices "AXIS:INDEX,..." as (axis, index) planes of volumes of side ``size`` and rank ``ndim``: INDEX is
    an integer (negative: from the end) or 'mid' (size // 2); a clear error for anything outside the volume."""
    out = []
    for item in spec.split(","):
        item = item.strip()
        a, sep, i = item.partition(":")
        if not sep:
            raise ValueError(f"--slices expects AXIS:INDEX items, got '{item}'")
        try:
            axis = int(a)
        except ValueError:
            axis = None
        if axis is None or not 0 <= axis < ndim:
            raise ValueError(f"--slices '{item}': the axis must be an integer 0..{ndim - 1} of the {ndim}D "
                             f"volumes, got '{a}'")
        try:
            index = size // 2 if i.strip() == "mid" else int(i)
        except ValueError:
            raise ValueError(f"--slices '{item}': the index must be an integer or 'mid', got '{i}'") from None
        if not -size <= index < size:
            raise ValueError(f"--slices '{item}': index {index} is outside the {size} planes of a --size {size} "
                             f"volume (0..{size - 1}, or 'mid')")
        out.append((axis, index % size))
    return out


def _read_slice(path: str, meta: dict) -> tuple[np.ndarray, dict]:
    """The pore mask of --slice-file, decoded as the training volume was (``meta``: its coding, data.py), and
    the slice's own coding and meta (for writing the reconstructions back in its format)."""
    loaded = read_volume(path)
    img = loaded.array[0]
    img = img[0] if img.ndim == 3 and img.shape[0] == 1 else img          # a volume of one page
    if img.ndim != 2:
        raise ValueError(f"--slice-file {path}: expected a 2D image (or a volume of one page), got shape {img.shape}")
    if img.shape[0] != img.shape[1]:
        m = min(img.shape)
        raise ValueError(f"--slice-file {path}: the slice is {img.shape[0]}x{img.shape[1]}; reconstruction needs a "
                         f"square slice (crop it, e.g. to {m}x{m})")
    if meta.get("threshold") is not None:               # a grayscale training volume: its threshold
        how = {"threshold": meta["threshold"]}
    elif meta.get("dtype") != "bool":                   # a segmented one: its pore value
        how = {"pore_value": meta.get("pore_value")}
    else:
        how = {}
    pore, coding = binarize(img, source=f"--slice-file {path}", **how)
    return pore, {**loaded.meta, **coding}


def reconstruction(args) -> dict:
    """3D volumes from 2D slices (hard data consistency) vs the true held-out volumes and the prior; or, with
    --slice-file, volumes consistent with the user's own slice."""
    return run_reconstruction(args, _data_params(args))


def run_reconstruction(args, data: MicrostructureData) -> dict:
    """The reconstruction harness on any data source."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    quick = bool(args.quick)
    pore, meta = load_pore_volume(data)
    data = _with_rank(data, pore)
    source = str(data.path) if data.source == "file" else meta["source"]
    slice_file = getattr(args, "slice_file", None)
    if slice_file is not None:
        if args.slices not in (None, "0:mid"):                 # the default is not a choice
            raise ValueError("--slices picks planes of held-out volumes; with --slice-file the plane is the file's "
                             "(--slice-axis)")
        if args.slice_axis not in (0, 1, 2):
            raise ValueError(f"--slice-axis {args.slice_axis}: expected 0, 1 or 2 (the axis normal to the slice)")
        given, coding = _read_slice(slice_file, meta)          # before any training: errors come first
    else:
        size = _size(args, quick)
        test = _slab(pore, data, "test", size, "the held-out volumes")
        if args.checkpoint is None and quick:                   # the prior is trained here: check before
            _parse_slices(args.slices or "0:mid", size, data.spatial_dims)
    denoiser, cfg, prior = load_or_train_prior(args, data, out, device)
    ndim = _compared_rank(cfg, pore, source)
    s = _settings(args, cfg, quick)
    report = Report("microstructure", "reconstruction", data=source, device=str(device), quick=quick,
                    command=getattr(args, "command", None))
    report.extra["settings"] = {**s, "spatial_dims": ndim, "prior": prior}
    kw = dict(tile=s["tile"], overlap=s["overlap"], steps=s["steps"], device=device)
    if slice_file is not None:
        if ndim != 3:
            raise ValueError(f"--slice-file reconstructs 3D volumes from a 2D slice: it needs a 3D prior, this one "
                             f"is {ndim}D")
        voxel = data.voxel_size or coding.get("voxel_size") or meta.get("voxel_size")   # --voxel-size, the slice's
        return _from_slice_file(args, report, denoiser, given, coding, voxel, s, kw, out)
    size, n = s["size"], s["n"]
    truth = random_subvolumes(test, size, n, seed=args.seed + 21, spatial_dims=ndim)
    spec = args.slices or "0:mid"
    planes = _parse_slices(spec, size, ndim)
    setting = f"{size}^{ndim}, slices {spec}"
    # a field-conditioned prior has no unconditional mode: it is asked for the porosity of the given slices
    field = field_conditioned(denoiser)
    given = [{(a, idx): np.take(v, idx, axis=a) for a, idx in planes} for v in truth]
    phis = [float(np.clip(np.mean(list(g.values())), 0.01, 0.99)) if field else None for g in given]
    if field:
        report.notes.append("the prior reads its porosity as a voxel-wise field: every volume (diffusion_prior too) "
                            "is asked for the porosity of its given slices, as a flat field")
    recs, priors = [], generate_volumes(denoiser, n, size, sampler=s["sampler"], seed=args.seed + 5,
                                        porosity=phis if field else None, **kw)
    for i, (v, slices) in enumerate(zip(truth, given)):
        recs.append(reconstruct_from_slices(denoiser, slices, v.shape, seed=args.seed + i, porosity=phis[i],
                                            **kw)[0])
    recs = np.stack(recs)
    dist = np.full(truth.shape[1:], np.inf)
    grid = np.indices(truth.shape[1:])
    for a, idx in planes:
        dist = np.minimum(dist, np.abs(grid[a] - idx))
    for method, vols in (("diffusion_dc", recs), ("diffusion_prior", priors)):
        slice_err = [float(np.mean(r[dist == 0] != t[dist == 0])) for r, t in zip(vols, truth)]
        near = [float(np.mean(r[(dist > 0) & (dist <= 3)] == t[(dist > 0) & (dist <= 3)])) for r, t in zip(vols, truth)]
        far = [float(np.mean(r[dist > 8] == t[dist > 8])) if (dist > 8).any() else np.nan for r, t in zip(vols, truth)]
        report.add(method, setting, "slice_mismatch", slice_err)
        report.add(method, setting, "accuracy_near_slices_1to3", near)
        report.add(method, setting, "accuracy_far_from_slices", far)
        report.add(method, setting, "porosity_error", [abs(porosity(r) - porosity(t)) for r, t in zip(vols, truth)])
        report.add(method, setting, "s2_mae_rel", [s2_mae_rel(two_point_correlation(r).radial,
                                                              two_point_correlation(t).radial, porosity(t))
                                                   for r, t in zip(vols, truth)])
    phi = np.array([porosity(t) for t in truth])
    report.add("real", setting, "porosity", phi)
    report.add("chance", setting, "accuracy_far_from_slices", phi ** 2 + (1 - phi) ** 2)
    slices_figure(out / "reconstruction.png", {"truth": truth, "reconstruction (dc)": recs, "prior sample": priors},
                  title=f"reconstruction from slices {spec}")
    report.figures.append("reconstruction.png")
    report.notes += ["diffusion_dc: data-consistency posterior sampling (diffsci.guidance.data_consistency) with "
                     "the slices as a Mask measurement, " + ("tiled denoising" if s["tile"] is not None else
                     "the whole volume per network call") + "; diffusion_prior: unconditional samples.",
                     "accuracy: fraction of voxels equal to the truth; chance = phi^2 + (1 - phi)^2 for independent "
                     "draws of the same porosity."]
    return report.write(out)


def _from_slice_file(args, report: Report, denoiser, given: np.ndarray, coding: dict, voxel: float | None,
                     s: dict, kw: dict, out: Path) -> dict:
    """--slice-file: n volumes of the slice's side consistent with it at the middle plane along --slice-axis,
    written beside the report in the slice file's format and coding; porosity, S2 of their planes against the
    slice's, slice mismatch (no truth to compare with)."""
    side, axis, n = given.shape[0], args.slice_axis, s["n"]
    index = side // 2
    phi = porosity(given)
    if not 0 < phi < 1:
        raise ValueError(f"--slice-file {args.slice_file}: the slice is all {'pore' if phi else 'grain'} once "
                         "decoded as the training volume (check --pore-value / --threshold)")
    setting = f"{side}^3, {Path(args.slice_file).name} as plane {axis}:{index}"
    field = field_conditioned(denoiser)
    recs = reconstruct_from_slices(denoiser, {(axis, index): given}, (side,) * 3, n=n, seed=args.seed,
                                   porosity=float(np.clip(phi, 0.01, 0.99)) if field else None, **kw)
    suffix = _output_suffix(str(args.slice_file))
    for i, r in enumerate(recs):                            # the slice file's format and coding
        name = f"reconstruction_{i:03d}{suffix}"
        write_volume(out / name, encode_binary(r, coding)[None], {"voxel_size": voxel})
        report.extra.setdefault("volumes", []).append(name)
    s2_given = two_point_correlation(given).radial
    others = [j for j in range(side) if j != index]
    report.add("given_slice", setting, "porosity", [phi])
    report.add("diffusion_dc", setting, "porosity", [porosity(r) for r in recs])
    report.add("diffusion_dc", setting, "porosity_error", [abs(porosity(r) - phi) for r in recs])
    report.add("diffusion_dc", setting, "slice_mismatch",
               [float(np.mean(np.take(r, index, axis=axis) != given)) for r in recs])
    report.add("diffusion_dc", setting, "s2_mae_rel",
               [s2_mae_rel(np.mean([two_point_correlation(np.take(r, j, axis=axis)).radial for j in others], 0),
                           s2_given, phi) for r in recs])
    report.extra["settings"].update(slice_file=str(args.slice_file), slice_axis=axis, slice_index=index,
                                    slice_shape=list(given.shape), voxel_size_m=voxel)
    report.extra["coding"] = {k: coding.get(k) for k in ("dtype", "pore_value", "solid_value", "threshold")}
    slices_figure(out / "reconstruction.png", {"given slice": given[None], "reconstruction (dc)": recs},
                  title=f"reconstruction from {Path(args.slice_file).name} (plane {axis}:{index})")
    report.figures.append("reconstruction.png")
    report.notes += [f"diffusion_dc: {n} posterior samples (diffsci.guidance.data_consistency) of {side}^3 volumes "
                     f"whose plane {index} along axis {axis} is the given slice ({args.slice_file}, decoded as the "
                     "training volume: pore = "
                     + (f"below {coding['threshold']:g}" if coding.get("threshold") is not None else
                        f"{coding.get('pore_value')}") + "), " + ("tiled denoising" if s["tile"] is not None
                                                               else "the whole volume per network call")
                     + f"; written as {', '.join(report.extra.get('volumes', [])) or 'nothing'} in the slice's format "
                     "and coding.",
                     "No held-out truth: slice_mismatch (0 by construction) checks the given plane; s2_mae_rel is "
                     "the mean over lags of |S2 - S2_slice| of the 2D radial S2 (mean over every other plane of a "
                     "volume parallel to the slice) over the slice's porosity; porosity_error: |porosity of the "
                     "volume - the slice's|."]
    return report.write(out)
