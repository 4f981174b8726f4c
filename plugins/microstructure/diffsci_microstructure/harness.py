"""``diffsci evaluate microstructure generation|reconstruction``: generated (or reconstructed) versus real
held-out sub-volumes, with the published GAN figures side by side. Writes DIR/report.{json,md} and PNGs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from diffsci.config import DataConfig, DiffusionConfig, ExperimentConfig, SamplingConfig, TrainConfig, UNetConfig
from diffsci.report import Report
from diffsci.utils import resolve_device

from .control import calibrate_porosity
from .data import MicrostructureData, default_data_path, load_pore_volume, random_subvolumes, split_region
from .evaluation import PUBLISHED, SCALARS, compare, describe, matched_floor
from .field import fluctuation_spectrum, sample_porosity_maps
from .figures import generation_figure, slices_figure
from .generation import field_conditioned, generate_volumes, median_clean, reconstruct_from_slices
from .io import encode_binary, write_volume
from .metrics import lag_correlation, porosity, s2_mae_rel, specific_surface, two_point_correlation
from .options import add_harness_args  # noqa: F401  (re-exported)
from .tiling import blend_attenuation, seam_s2, tile_starts

__all__ = ["add_harness_args", "generation", "reconstruction", "run_generation", "run_reconstruction",
           "quick_prior_config", "load_or_train_prior", "TARGETS"]

#: The issue's targets (Berea): name -> (key in the comparison, threshold; None: a yes/no check)
TARGETS = {"porosity within 1 % relative": ("porosity_rel_error", 0.01),
           "S2 MAE below 2 % of the porosity": ("s2_mae_rel", 0.02),
           "specific surface within 3 %": ("specific_surface_rel_error", 0.03),
           "mean permeability within the real std": ("permeability_within_real_std", None),
           "porosity-control error below 0.005 (targets 0.12-0.28)": ("control_error", 0.005)}


# --- the prior -------------------------------------------------------------------------------------
def quick_prior_config(data: MicrostructureData, steps: int = 40, out_dir: str = "prior") -> ExperimentConfig:
    """A tiny porosity-conditioned prior on 16^3 patches (about 2 CPU-seconds a step): --quick and tests.

    It exercises the whole pipeline; its samples are not a model of the rock (use a trained --checkpoint)."""
    return ExperimentConfig(
        name="microstructure-quick",
        model=UNetConfig(spatial_dims=3, in_channels=1, channels=(8, 16), num_res_blocks=1,
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
    result = train(cfg, dataset=make_dataset(params, "train"), val_dataset=make_dataset(params, "val"),
                   device=device, progress=not args.no_progress,
                   resume=(run_dir / "latest").exists())
    denoiser, cfg = load_denoiser(result.run_dir, device=device, ema=ema)
    return denoiser, cfg, {"checkpoint": str(result.run_dir), "trained_here": True, "train_steps": result.step,
                           "weights": "ema" if ema else "raw",
                           "train_seconds": round(result.seconds, 1),
                           "final_loss": result.losses[-1] if result.losses else None}


def _data_params(args) -> MicrostructureData:
    path = Path(args.data) if args.data else default_data_path()
    return MicrostructureData(path=str(path), voxel_size=args.voxel_size)


def _settings(args, cfg, quick: bool) -> dict:
    patch = cfg.data.params.get("patch_size", 32) if cfg.data.domain == "microstructure" else 32
    gain = _map_gain(getattr(args, "map_gain", None))
    if gain != 1.0 and not getattr(args, "porosity_maps", False):
        raise ValueError(f"--map-gain {gain} scales porosity maps: it needs --porosity-maps")
    return {"size": args.size or (32 if quick else 64), "n": args.n or (2 if quick else 12),
            "steps": args.steps or (6 if quick else cfg.sampling.steps),
            "sampler": args.sampler or cfg.sampling.sampler, "patch": patch,
            "tile": None if args.tile == 0 else (args.tile or patch),     # None: the whole volume at once
            "overlap": args.overlap if args.overlap is not None else (0.25 if quick else 0.5),
            # shift, porosity_maps, median, s_churn: generation-only options (the reconstruction harness has none)
            "shift": getattr(args, "shift", None) or "none",
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
    voxel = meta.get("voxel_size")
    denoiser, cfg, prior = load_or_train_prior(args, data, out, device)
    field_box = cfg.data.params.get("porosity_field") if field_conditioned(denoiser) else None
    if field_box is not None and unconditional:
        unconditional = False                   # a field-conditioned prior has no unconditional mode
        if not matched:
            raise ValueError("this prior is conditioned on a porosity field and has no unconditional rows; the "
                             "matched rows need full mode (not --quick, not --no-matched)")
    s = _settings(args, cfg, quick)
    size, n, tile = s["size"], s["n"], s["tile"]
    source = str(data.path) if data.source == "file" else meta["source"]
    report = Report("microstructure", "generation", data=source, device=str(device), quick=quick,
                    command=getattr(args, "command", None))
    report.extra["settings"] = {**s, "voxel_size_m": voxel, "prior": prior, "porosity_field": field_box}
    if field_box is not None:
        report.notes.append(f"the prior reads its porosity as a voxel-wise field ({field_box}^3 box, data.py): no "
                            "unconditional rows; a target porosity is a flat field")
    setting = f"{size}^3"
    timings = {}

    # 1. real held-out sub-volumes (the test slab, disjoint from training)
    test = pore[split_region(pore.shape, "test", axis=data.split_axis, val_fraction=data.val_fraction,
                             test_fraction=data.test_fraction)]
    real_vols = random_subvolumes(test, size, n, seed=args.seed + 7)
    train_region = pore[split_region(pore.shape, "train", axis=data.split_axis, val_fraction=data.val_fraction,
                                     test_fraction=data.test_fraction)]     # maps' spectrum, the matched floor
    t = time.perf_counter()
    real = describe(real_vols, voxel_size=voxel)
    timings["real_metrics"] = time.perf_counter() - t

    # 2. generated: unconditional, and (full mode) conditioned on each real sub-volume's porosity, asked for
    # directly and through the calibrated condition (control.py)
    gen_kw = dict(tile=tile, overlap=s["overlap"], shift=s["shift"], sampler=s["sampler"], steps=s["steps"],
                  device=device, seed=args.seed, sampler_kw=s["sampler_kw"])
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
        units["diffusion"] = generate_volumes(denoiser, n, size, progress=f"diffusion {size}^3" if bars else None,
                                              return_model_units=True, **gen_kw)
        timings["generate_diffusion"] = time.perf_counter() - t
    local = None                                # the volumes' porosity maps, as deviations from their mean
    if matched and s["porosity_maps"]:
        if tile is None and field_box is None:
            raise ValueError("--porosity-maps conditions tiles: it needs tiles (not --tile 0)")
        box = field_box or tile                 # the field prior's own box; else each tile's porosity
        spectrum = fluctuation_spectrum(train_region, size, seed=args.seed)
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
                            f"{size}^3 training crops, {box}^3 box, deviations x {gain:.3g}), mean = the volume's "
                            f"asked porosity")

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

    # 2b. the floor of the matched rows: what the same comparison reads for a generator with no error at all
    floor, floor_note = None, "real_matched: not computed (no matched rows, or --floor-draws 0)."
    draws = getattr(args, "floor_draws", 20)
    if matched and draws > 0 and min(train_region.shape) < size:
        floor_note = (f"real_matched: not computed, {size}^3 cubes do not fit in the training slab "
                      f"{tuple(train_region.shape)}.")
    elif matched and draws > 0:
        t = time.perf_counter()
        floor = matched_floor(train_region, real, size, draws=draws, seed=args.seed + 17)
        for key, vals in floor.items():
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
            report.add(cmethod, f"target={target:.2f} ({csize}^3)", "porosity", ach)
            report.add(cmethod, f"target={target:.2f} ({csize}^3)", "control_error", err)
            # variant: the same samples thresholded at their (1 - target) quantile instead of 0
            q = np.array([porosity(x > np.quantile(x, 1 - target)) for x in xs])
            thresholded.append(np.abs(q - target))
        report.add(cmethod, f"all targets ({csize}^3)", "control_error", np.concatenate(errors))
        report.add(f"{cmethod}_quantile", f"all targets ({csize}^3)", "control_error", np.concatenate(thresholded))
        # |target - mean achieved| per target: the bias of the control, free of the sample-to-sample spread
        bias = [abs(np.mean(a) - tt) for tt, a in zip(targets, achieved)]
        report.add(cmethod, f"all targets, mean per target ({csize}^3)", "control_error", bias)
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
                report.add(f"{cmethod}_calibrated", f"target={target:.2f} ({csize}^3)", "porosity", ach)
            report.add(f"{cmethod}_calibrated", f"all targets ({csize}^3)", "control_error", np.concatenate(cerrors))
            report.add(f"{cmethod}_calibrated", f"all targets, mean per target ({csize}^3)", "control_error",
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
                report.add("real", f"{psize}^3", k, big.values[k])
        timings["real_published_size"] = time.perf_counter() - t
    if published and not quick and min(pore.shape) >= 200:
        # the published porosity and surface are on 200^3 sub-volumes: more than the held-out slab holds, so
        # these reference rows come from the whole image (real data only, nothing generated is compared to them)
        t = time.perf_counter()
        whole = random_subvolumes(pore, 200, 8, seed=args.seed + 13)
        report.add("real", "200^3 (whole image)", "porosity", [porosity(v) for v in whole])
        report.add("real", "200^3 (whole image)", "specific_surface", [specific_surface(v) for v in whole])
        timings["real_200"] = time.perf_counter() - t
    for method, vals in (PUBLISHED if published else {}).items():
        for metric, (m, sd, st) in vals.items():
            report.add_row(method, st, metric, m, sd, None)

    # 6. targets, figures, files
    main = comparisons[judged]
    verdict = {}
    for name, (key, thr) in TARGETS.items():
        val = ctl if key == "control_error" else main.get(key, float("nan"))
        ok = bool(val >= 1.0) if thr is None else bool(val < thr)
        verdict[name] = {"value": val, "threshold": thr, "met": ok}
    post = comparisons.get(f"{judged}_median{med}")
    for name, (key, thr) in TARGETS.items() if post is not None else ():
        if key != "control_error":                       # shown beside the raw verdict, never instead of it
            val = post.get(key, float("nan"))
            verdict[f"{name}, {med}^3 median as the published GAN"] = {
                "value": val, "threshold": thr, "met": bool(val >= 1.0) if thr is None else bool(val < thr)}
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
        f"real = {n} random {setting} sub-volumes of the held-out slab ({data.test_fraction:.0%} of the image along "
        f"axis {data.split_axis}, never seen in training); "
        + ("diffusion = unconditional samples " if unconditional else
           "no unconditional row (--no-unconditional); the generated samples were drawn ")
        + f"({s['sampler']}, {s['steps']} steps{_churn_note(s['sampler_kw'])}), generated at {setting} by "
        + (f"periodic tiled denoising with {tile}^3 tiles (overlap {s['overlap']}, Hann blending) at every step"
           if tile is not None else "denoising the whole periodic volume in one network call at every step "
           "(--tile 0: no tile borders, so no seam rows)")
        + (", the grid moved by a random offset at every network call (--shift random)." if s["shift"] != "none"
           else "."),
        "diffusion_matched: conditioned on the porosity of each real sub-volume (classifier-free guidance "
        f"scale {s['guidance']}); diffusion_matched_calibrated: the same seeds, asked for the calibrated "
        "condition c(porosity) of each real sub-volume (the line fitted for the control sweep at that scale, "
        f"on {csize}^3 volumes of other seeds). The targets are judged on the first of matched_calibrated, "
        f"matched, unconditional that ran: here {judged}.",
        "specific_surface: Crofton estimate per voxel; permeability_md: SNOW2 pore network + openpnm Stokes "
        f"flow, mean of the 3 axes, voxel {voxel} m; coordination: throats per pore of that network (too few: "
        "a poorly connected pore space; low permeability at the right porosity then is not about throat size). "
        "Mosser et al. (2017) computed permeability with a "
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
        f"control_error: |target - porosity| of {n_ctl} volumes of {csize}^3 per target "
        f"(scale {s['guidance']}); a single sub-volume's porosity fluctuates, so the spread is part of it. "
        "The _quantile variant thresholds the same samples at their (1 - target) quantile instead of 0: "
        "porosity exact by construction (up to ties), shown for users who need it, not as the model's control.",
        f"{judged}_median{med}: the same volumes with a {med}^3 periodic median filter on the model output before "
        "the threshold, the post-processing Mosser et al. (2017) applied to their GAN samples (not to the real "
        "images); targets are judged on the unfiltered volumes, the filtered verdicts are listed beside them."
        if med >= 2 else "No median post-processing (--median 0).",
        "The _calibrated variant asks for the condition c(target) from a line fitted to the model's own response "
        "(logit achieved vs logit asked, 5 conditions 0.08-0.32, other seeds; control.py): it removes the "
        "control's bias, not the sample-to-sample spread.",
    ]
    return report.write(out)


def _output_suffix(path: str) -> str:
    from .io import SUFFIXES, WRITERS
    name = path.lower()
    return next((x for x in SUFFIXES if name.endswith(x) and x in WRITERS), ".tif")


# --- reconstruction --------------------------------------------------------------------------------
def _parse_slices(spec: str, size: int) -> list[tuple[int, int]]:
    out = []
    for item in spec.split(","):
        a, _, i = item.strip().partition(":")
        if not _:
            raise ValueError(f"--slices expects AXIS:INDEX items, got '{item}'")
        out.append((int(a), size // 2 if i == "mid" else int(i)))
    return out


def reconstruction(args) -> dict:
    """3D volumes from 2D slices (hard data consistency) vs the true held-out volumes and the prior."""
    return run_reconstruction(args, _data_params(args))


def run_reconstruction(args, data: MicrostructureData) -> dict:
    """The reconstruction harness on any data source."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    quick = bool(args.quick)
    pore, meta = load_pore_volume(data)
    denoiser, cfg, prior = load_or_train_prior(args, data, out, device)
    s = _settings(args, cfg, quick)
    size, n, tile = s["size"], s["n"], s["tile"]
    source = str(data.path) if data.source == "file" else meta["source"]
    report = Report("microstructure", "reconstruction", data=source, device=str(device), quick=quick,
                    command=getattr(args, "command", None))
    report.extra["settings"] = {**s, "prior": prior}
    test = pore[split_region(pore.shape, "test", axis=data.split_axis, val_fraction=data.val_fraction,
                             test_fraction=data.test_fraction)]
    truth = random_subvolumes(test, size, n, seed=args.seed + 21)
    planes = _parse_slices(args.slices, size)
    setting = f"{size}^3, slices {args.slices}"
    kw = dict(tile=tile, overlap=s["overlap"], steps=s["steps"], device=device)
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
                  title=f"reconstruction from slices {args.slices}")
    report.figures.append("reconstruction.png")
    report.notes += ["diffusion_dc: data-consistency posterior sampling (diffsci.guidance.data_consistency) with "
                     "the slices as a Mask measurement, " + ("tiled denoising" if tile is not None else
                     "the whole volume per network call") + "; diffusion_prior: unconditional samples.",
                     "accuracy: fraction of voxels equal to the truth; chance = phi^2 + (1 - phi)^2 for independent "
                     "draws of the same porosity."]
    return report.write(out)
