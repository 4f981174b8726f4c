"""What the three harnesses share: experiment configs, train-or-load, conditional sampling, figures."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diffsci import Cond
from diffsci.config import ExperimentConfig, load_config
from diffsci.diffusion import get_schedule
from diffsci.samplers import get_sampler
from diffsci.utils import config_dir, data_root, resolve_device

__all__ = ["CONFIG_DIR", "experiment", "in_run_folder", "train_or_load", "sample", "one_step", "ecg_root", "say", "set_threads",
           "parse_list", "n_params"]

CONFIG_DIR = config_dir()


def say(msg: str) -> None:
    print(f"[biosignal] {msg}", file=sys.stderr, flush=True)


def set_threads() -> None:
    """Use at most OMP_NUM_THREADS (default 2) CPU threads: the machines these run on are shared."""
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "2"))))


def parse_list(s: str | None, valid: tuple[str, ...], what: str) -> list[str]:
    """'bw,em' -> ['bw', 'em'], checked against ``valid``."""
    items = [t.strip() for t in (s or "").split(",") if t.strip()]
    bad = [t for t in items if t not in valid]
    if bad:
        raise ValueError(f"{what}: unknown {', '.join(bad)}; valid: {', '.join(valid)}")
    return items


def ecg_root(data: str | None) -> Path:
    """The folder holding mitdb/, qtdb/ and nstdb/: --data, else $DIFFSCI_DATA/ecg."""
    root = Path(data) if data else data_root("ecg")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: ECG data folder not found (pass --data DIR holding mitdb/, qtdb/, "
                                "nstdb/, or set DIFFSCI_DATA)")
    return root


def experiment(name: str, *, quick: bool, seed: int, out_dir: Path, overrides: dict | None = None,
               quick_overrides: dict | None = None) -> ExperimentConfig:
    """configs/biosignal_<name>.yaml with ``quick_overrides`` (in --quick) and ``overrides`` merged on top;
    the run folder is ``out_dir``."""
    path = CONFIG_DIR / f"biosignal_{name}.yaml"
    over: dict[str, Any] = {}
    for o in ((quick_overrides or {}) if quick else {}), overrides or {}:
        for k, v in o.items():
            over[k] = {**over.get(k, {}), **v} if isinstance(v, dict) else v
    over["train"] = {**over.get("train", {}), "seed": seed, "out_dir": str(out_dir)}
    return load_config(path, overrides=over)


def in_run_folder(cfg: ExperimentConfig, folder: Path, stem: str, suffix: str = "") -> ExperimentConfig:
    """``cfg`` with its run folder ``folder / (stem + windows tag + suffix)``, the tag naming the windows the
    resolved config trains on (``_rhythm<ref>`` for rhythm-normalised ones, none for plain), so that a cached
    model of other windows is never reused."""
    ref = cfg.data.params.get("rhythm_ref_s")
    name = f"{stem}{f'_rhythm{ref:g}' if ref else ''}{suffix}"
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"out_dir": str(folder / name)})})


def n_params(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def train_or_load(cfg: ExperimentConfig, dataset, *, checkpoint: str | None, device: str, progress: bool = True,
                  val_dataset=None):
    """Load ``checkpoint`` if given, else train ``cfg`` on ``dataset`` in cfg.train.out_dir (resuming a run that
    was interrupted; a finished run is reused as it is). Returns (EMA denoiser in eval mode, info dict)."""
    from diffsci.train import load_denoiser, train

    t0 = time.perf_counter()
    if checkpoint:
        den, ck_cfg = load_denoiser(checkpoint, device=device)
        return den, {"checkpoint": str(checkpoint), "trained": False, "train_steps": ck_cfg.train.steps,
                     "params": n_params(den), "seconds": 0.0}
    say(f"training {cfg.name}: {cfg.train.steps} steps, batch {cfg.train.batch_size}, {len(dataset)} items "
        f"-> {cfg.train.out_dir}")
    res = train(cfg, dataset=dataset, val_dataset=val_dataset, resume=True, device=device, progress=progress)
    den, _ = load_denoiser(res.run_dir, device=device)
    return den, {"checkpoint": str(res.run_dir), "trained": True, "train_steps": res.step, "params": n_params(den),
                 "seconds": round(time.perf_counter() - t0, 1),
                 "final_loss": float(np.mean(res.losses[-50:])) if res.losses else None,
                 "val_loss": res.val_loss}


@torch.no_grad()
def sample(denoiser, shape: tuple[int, ...], *, cond: Cond | None = None, shots: int = 1, steps: int = 8,
           sampler: str = "heun", sigma_min: float = 0.002, sigma_max: float = 10.0,
           generator: torch.Generator | None = None, batch: int = 256,
           device: str | torch.device = "cpu") -> torch.Tensor:
    """``shots`` samples of each of the B conditions: (B, shots, C, L), integrated with an engine sampler on
    the Karras grid from ``sigma_max``. Runs in chunks of ``batch`` rows."""
    device = resolve_device(device) if isinstance(device, str) else device
    fn = get_sampler(sampler)
    sigmas = get_schedule("karras")(steps, sigma_min, sigma_max, dtype=torch.float32, device=device)
    b = shape[0]
    c = cond.repeat_interleave(shots) if cond is not None else None
    out = []
    for lo in range(0, b * shots, batch):
        hi = min(lo + batch, b * shots)
        gdev = generator.device if generator is not None else device
        x = torch.randn((hi - lo, *shape[1:]), generator=generator, device=gdev).to(device) * sigmas[0]
        ci = c.index(slice(lo, hi)).to(device) if c is not None else None
        out.append(fn(denoiser, x, sigmas, cond=ci, generator=generator).cpu())
    return torch.cat(out).reshape(b, shots, *shape[1:])


@torch.no_grad()
def one_step(denoiser, cond: Cond, shape: tuple[int, ...], *, sigma: float, batch: int = 256,
             generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """D(sigma n, sigma, cond) for one draw n ~ N(0, I): at a sigma much larger than the data scale the
    input carries almost no information about x, so this is the model's estimate of E[x | cond] in
    one network evaluation (Tweedie), the minimum-SSD estimate the multi-shot average approaches."""
    out = []
    for lo in range(0, shape[0], batch):
        hi = min(lo + batch, shape[0])
        gdev = generator.device if generator is not None else device
        x = torch.randn((hi - lo, *shape[1:]), generator=generator, device=gdev).to(device) * sigma
        out.append(denoiser(x, sigma, cond.index(slice(lo, hi)).to(device)).cpu())
    return torch.cat(out)
