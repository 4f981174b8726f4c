"""Command-line options of the ``generation`` and ``reconstruction`` harnesses.

Kept apart from :mod:`.harness` so that building ``diffsci evaluate``'s parser (and ``import
diffsci_microstructure``) does not import the harness, torch models or the metrics libraries.
"""

from __future__ import annotations

import argparse

__all__ = ["add_harness_args"]


def add_harness_args(task: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None,
                   help="trained prior (run folder or checkpoint); default: runs/microstructure_berea when it "
                        "exists; --quick trains a tiny prior on the spot")
    p.add_argument("--weights", choices=("ema", "raw"), default="ema",
                   help="EMA weights (default) or the raw trained ones (better for short runs)")
    p.add_argument("--voxel-size", type=float, default=None,
                   help="metres, between 1e-9 and 1e-2 (default: the file's, else Berea's 5.345e-6 for a file named "
                        "berea); without one, permeability is not computed")
    # how the --data file is read and split (data.MicrostructureData)
    p.add_argument("--raw-shape", default=None, help=".raw files: the volume's shape, e.g. 400,400,400 (default: the "
                                                     "sidecar JSON or the file name)")
    p.add_argument("--raw-dtype", default=None,
                   help=".raw files, with --raw-shape: the voxel dtype, e.g. uint8 (default: as --raw-shape)")
    p.add_argument("--pore-value", type=float, default=None,
                   help="segmented data: the value of the pore voxels (default: the darker of the two values)")
    p.add_argument("--threshold", type=float, default=None,
                   help="grayscale data: pore = below this value (default: Otsu's threshold, with a warning)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of the volume in the validation slab along --split-axis (default 0.08)")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of the volume in the held-out test slab, where the real sub-volumes come from "
                        "(default 0.34)")
    p.add_argument("--split-axis", type=int, default=None, help="axis along which the volume is cut into train | val | "
                                                                "test slabs (default 0)")
    p.add_argument("--size", type=int, default=None, help="side of the compared cubes (default 64; quick 32)")
    p.add_argument("--n", type=int, default=None, help="volumes per method (default 12; quick 2)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the config's; quick 6)")
    p.add_argument("--sampler", default=None, help="sampler (default: the config's, dpmpp_2m)")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side for tiled denoising (default: the patch size); 0: the whole volume in one network "
                        "call (no tile borders, but inputs larger than the training patches; memory grows with it)")
    p.add_argument("--overlap", type=float, default=None, help="tile overlap fraction (default 0.5; quick 0.25)")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale for conditioned sampling (default: the config's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--prior-steps", type=int, default=None, help="--quick only: training steps of the tiny prior")
    if task == "generation":
        p.add_argument("--targets", default=None,
                       help="porosity-control targets, comma separated (default 0.12,0.16,0.20,0.24,0.28)")
        p.add_argument("--n-control", type=int, default=None, help="volumes per target (default 6; quick 2)")
        p.add_argument("--control-size", type=int, default=None, help="side of the control volumes (default: tile)")
        p.add_argument("--control-guidance", default=None,
                       help="guidance scales of the porosity sweep, comma separated; the first one is judged "
                            "against the target (default: --guidance)")
        p.add_argument("--no-calibrate-control", action="store_true",
                       help="skip the calibrated-condition variant of the porosity sweep (control.py)")
        p.add_argument("--perm-size", type=int, default=None,
                       help="also measure real sub-volumes of this side for the published comparison "
                            "(default 128; 0 = skip; quick 0)")
        p.add_argument("--median", type=int, default=None,
                       help="also report the judged set after a KxKxK median filter of the model output, as Mosser "
                            "et al. (2017) post-processed their GAN samples (default 3; 0 = skip)")
        p.add_argument("--s-churn", type=float, default=None,
                       help="stochastic sampler only: EDM's S_churn (default 40); gamma = min(S_churn/steps, "
                            "--s-gamma-max) on every step")
        p.add_argument("--s-gamma-max", type=float, default=None,
                       help="stochastic sampler only: the cap on gamma (default EDM's sqrt(2)-1 = 0.414); 1 with "
                            "--s-churn = steps cut the Berea surface excess from +30 %% to +7 %% (docs/benchmarks.md)")
        p.add_argument("--shift", choices=("none", "random"), default=None,
                       help="random: move the tile grid (or roll a single tile) by a random offset at every network "
                            "call, so the UNet's down-sampling grid has no fixed phase in the sample; no fixed tile "
                            "borders then, so no seam check (default none)")
        p.add_argument("--whole-above", type=float, default=None,
                       help="with tiles: denoise the whole volume in one network call at noise levels above this "
                            "sigma (its porosity map's mean as the condition), the tiles below (default: tiles at "
                            "every level)")
        p.add_argument("--maps-from-estimate", choices=["raw", "recentred"], default=None,
                       help="with --whole-above: condition each tile below the switch on the porosity of its region "
                            "in the volume's own denoised estimate at the switch, not on the asked porosity (or map); "
                            "recentred: the estimate's mean moved to the asked porosity; conditioned draws only")
        p.add_argument("--porosity-maps", action="store_true",
                       help="matched rows: condition each tile on a local porosity drawn around the volume's target "
                            "(field.py: a Gaussian field with the training rock's spectrum, averaged over a tile), "
                            "instead of every tile on the volume's porosity, which makes volumes too uniform")
        p.add_argument("--map-gain", default=None,
                       help="with --porosity-maps: scale the map's deviations by this factor, or 'auto': by "
                            "1/sqrt(a), a the share of the map's variance the tile blend passes on "
                            "(tiling.blend_attenuation; 0.575 for Berea, 32^3 tiles, overlap 0.25, random "
                            "shifts) (default 1)")
        p.add_argument("--save-volumes", type=int, default=2,
                       help="write this many generated volumes of the judged set (or the unconditional one) beside "
                            "the report, in the input's format (default 2), e.g. all of them to measure them "
                            "elsewhere (permeability where openpnm is installed)")
        p.add_argument("--floor-draws", type=int, default=20,
                       help="matched rows: draws of the perfect-generator floor (porosity-matched real cubes of the "
                            "training slab, scored as a generated set; evaluation.matched_floor) (default 20; 0 = skip)")
        p.add_argument("--no-matched", action="store_true",
                       help="skip the variant conditioned on each real sub-volume's porosity")
        p.add_argument("--no-unconditional", action="store_true",
                       help="full mode: skip the unconditional row (the targets are judged on the matched rows; "
                            "a third fewer volumes of --size, for a larger --n in the same time)")
    else:
        p.add_argument("--slices", default="0:mid",
                       help="measured planes of held-out volumes as AXIS:INDEX, comma separated; 'mid' = the middle "
                            "(default 0:mid)")
        p.add_argument("--slice-file", default=None,
                       help="reconstruct from your own square 2D slice (any format --data reads, coded as the "
                            "training volume) instead of held-out planes: --n volumes of the slice's side, written "
                            "beside the report in the slice's format and coding")
        p.add_argument("--slice-axis", type=int, default=0,
                       help="with --slice-file: the axis normal to the slice, placed at the middle index (default 0)")
