"""``diffsci demo microstructure``: the whole pipeline on a porespy ``blobs`` medium, no download.

A blobs volume (porosity 0.3) stands in for a micro-CT image: a tiny porosity-conditioned 3D prior is
trained on its 16^3 patches, then the generation harness compares generated and held-out volumes
(porosity, S2, specific surface, permeability, porosity control, seams) and one volume is reconstructed
from its middle slice. Minutes on a CPU (``--quick``: about a minute, for the tests).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .data import MicrostructureData
from .harness import run_generation, run_reconstruction

__all__ = ["demo", "demo_data", "harness_args"]


def harness_args(task: str, out: str | Path, **values) -> argparse.Namespace:
    """The arguments ``diffsci evaluate microstructure TASK --out OUT`` would get, with ``values`` set on top.

    Starts from the harness's own parser, so every option keeps its command-line default; a value for an
    option the harness does not have is an error (a renamed option must not be dropped silently).
    """
    from diffsci.cli.evaluate import harness_parser
    from diffsci.domains import get_domain

    args = harness_parser(get_domain("microstructure"), task).parse_args(["--out", str(out)])
    unknown = sorted(set(values) - set(vars(args)))
    if unknown:
        raise TypeError(f"diffsci evaluate microstructure {task} has no option(s) {', '.join(unknown)}")
    vars(args).update(values)
    return args


def demo_data(quick: bool = False) -> MicrostructureData:
    """The demo medium: porespy blobs, 96^3 (quick 64^3), porosity 0.3, 1 um voxels (nominal)."""
    return MicrostructureData(source="blobs", blobs_size=64 if quick else 96, blobs_porosity=0.3,
                              blobs_blobiness=1.5, voxel_size=1e-6, test_fraction=0.5, val_fraction=0.25)


def demo(out_dir: str | Path, device: str = "auto", quick: bool = False) -> dict:
    """Train, generate, evaluate and reconstruct on a blobs medium; writes OUT/generation and
    OUT/reconstruction (report.json, report.md, PNGs) and OUT/summary.json; returns the summary."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = demo_data(quick)
    common = dict(checkpoint=str(out / "generation" / "prior") if (out / "generation" / "prior" / "latest").exists()
                  else None, size=32, n=2 if quick else 4, steps=4 if quick else 10,
                  sampler="dpmpp_2m", tile=16, overlap=0.25 if quick else 0.5, guidance=1.0,
                  prior_steps=20 if quick else 300, quick=True, device=device)
    gen_args = harness_args("generation", out / "generation", targets="0.2,0.3,0.4", n_control=1 if quick else 2,
                            control_size=16, perm_size=0, no_matched=True, **common)
    gen_args.command = f"diffsci demo microstructure{' --quick' if quick else ''}"    # what report.json records
    report = run_generation(gen_args, data, published=False)
    rec_args = harness_args("reconstruction", out / "reconstruction", slices="0:mid",
                            **{**common, "checkpoint": str(out / "generation" / "prior"), "n": 1 if quick else 2})
    rec_args.command = gen_args.command
    rec = run_reconstruction(rec_args, data)
    pick = lambda r, m, k: next((x["mean"] for x in r["rows"] if x["method"] == m and x["metric"] == k), None)  # noqa
    summary = {"domain": "microstructure", "quick": quick, "data": report["data"],
               "porosity": {"real": pick(report, "real", "porosity"),
                            "diffusion": pick(report, "diffusion", "porosity")},
               "s2_mae_rel": pick(report, "diffusion", "s2_mae_rel"),
               "permeability_md": {"real": pick(report, "real", "permeability_md"),
                                   "diffusion": pick(report, "diffusion", "permeability_md")},
               "control_error": next(x["mean"] for x in report["rows"] if x["method"] == "diffusion_cfg1"
                                     and x["metric"] == "control_error" and x["setting"].startswith("all targets (")),
               "reconstruction_slice_mismatch": pick(rec, "diffusion_dc", "slice_mismatch"),
               "files": ["generation/report.json", "generation/report.md", "generation/generation.png",
                         "reconstruction/report.json", "reconstruction/reconstruction.png", "summary.json"],
               "seconds": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
