"""Benchmark 'backbone': training throughput and peak memory of our UNet next to MONAI's DiffusionModelUNet.

Both networks get the same channels, residual blocks per level, attention levels, head width and
GroupNorm groups, and are trained with the same objective (EDM loss around ``EDMDenoiser``, AdamW) on the
same random batch, in the same process, for 1D (1x1024), 2D (1x64x64) and 3D (1x32x32x32) inputs.
MONAI has no 1D network (its DiffusionModelUNet takes the 3-D path for spatial_dims=1), so 1D reports
ours alone. Ours runs twice: as built by default (3x3 convolution at the coarse resolution before
nearest-neighbour up-sampling) and with ``upsample="nearest_first"``, MONAI's order, so that the
table separates what the architecture saves from what the implementation saves. MONAI's net receives
EDM's c_noise in place of its integer timestep (its sinusoidal embedding accepts floats), so the two
models do the same work.

Throughput: the models alternate step by step (A B B A A B ...) so that load from other jobs on a shared
machine hits both alike; samples/s = batch / median step wall time. We also report samples per CPU
second (batch / median process CPU time of a step): on a machine shared with other jobs it counts only
the time the step actually ran, so it is the steadier measure of work there (with one thread it equals
wall time on an idle machine). Peak memory:
- CUDA: ``torch.cuda.max_memory_allocated`` above the allocation before the model is built (tensors only);
- CPU (Linux): each model is trained in a fresh process forked from a clean fork server (imports done, no
  model built, no OpenMP threads started). After one throw-away step of a tiny model of the same kind
  (library code paged in, oneDNN initialised) we record the resident size (VmRSS), reset the peak
  (VmHWM), build the real model and train ``--memory-steps`` steps; we report the peak growth
  VmHWM - VmRSS. This counts everything training needs (weights, gradients, AdamW state, activations,
  oneDNN workspaces, allocator slack), not only tensors.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time

import torch
from torch import Tensor, nn

__all__ = ["add_args", "run", "SHAPES"]

#: spatial shape per spatial_dims (one channel): the issue's 1x1024, 1x64x64 and 1x32x32x32
SHAPES = {1: (1024,), 2: (64, 64), 3: (32, 32, 32)}
QUICK_SHAPES = {1: (32,), 2: (16, 16), 3: (8, 8, 8)}
QUICK = dict(channels=(8, 16), attention_levels=(False, True), num_res_blocks=1, norm_num_groups=8,
             num_head_channels=8, batch_size=2, steps=2, warmup=1, memory_steps=1)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--batch-size", type=int, default=4, help="samples per step (default 4)")
    parser.add_argument("--dims", default="1,2,3",
                        help="spatial dims to run, comma-separated (default 1,2,3)")
    parser.add_argument("--channels", default="32,64,128", help="width per level (default 32,64,128)")
    parser.add_argument("--num-res-blocks", type=int, default=1, help="residual blocks per level (default 1)")
    parser.add_argument("--attention-levels", default="0,0,1",
                        help="1/0 per level: self-attention there (default 0,0,1)")
    parser.add_argument("--num-head-channels", type=int, default=32)
    parser.add_argument("--norm-num-groups", type=int, default=32)
    parser.add_argument("--memory-steps", type=int, default=2,
                        help="training steps run when measuring peak memory (default 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 2 steps (a smoke test, not a measurement)")


# --- the models -----------------------------------------------------------------------------------------
class MonaiEDMNet(nn.Module):
    """MONAI's DiffusionModelUNet behind the raw-network signature ``net(x, noise_level, cond)``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, noise_level: Tensor, cond=None) -> Tensor:
        return self.net(x, timesteps=noise_level)


def build_model(kind: str, spatial_dims: int, cfg: dict) -> nn.Module:
    """``kind`` "diffsci", "diffsci_nearest_first" (ours with MONAI's up-sampling order) or "monai",
    with the architecture of ``cfg`` (channels, levels, ...)."""
    arch = dict(channels=tuple(cfg["channels"]), attention_levels=tuple(cfg["attention_levels"]),
                num_res_blocks=cfg["num_res_blocks"], num_head_channels=cfg["num_head_channels"],
                norm_num_groups=cfg["norm_num_groups"])
    if kind in ("diffsci", "diffsci_nearest_first"):
        from ..nn import UNet
        return UNet(spatial_dims, 1, upsample="conv_first" if kind == "diffsci" else "nearest_first", **arch)
    if kind == "monai":
        from monai.networks.nets import DiffusionModelUNet
        return MonaiEDMNet(DiffusionModelUNet(spatial_dims=spatial_dims, in_channels=1, out_channels=1,
                                              **arch))
    raise ValueError(f"unknown model kind '{kind}'")


class _Trainer:
    """One model, its optimiser and the EDM loss: ``step()`` is one full training step on a fixed batch."""

    def __init__(self, kind: str, spatial_dims: int, cfg: dict, device: torch.device):
        from ..diffusion import EDMDenoiser, EDMLoss
        torch.manual_seed(cfg["seed"])
        self.net = build_model(kind, spatial_dims, cfg).to(device).train()
        self.denoiser = EDMDenoiser(self.net, sigma_data=0.5)
        self.loss = EDMLoss(sigma_data=0.5)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4)
        g = torch.Generator().manual_seed(cfg["seed"])
        shape = (cfg["batch_size"], 1, *cfg["shapes"][spatial_dims])
        self.x = (0.5 * torch.randn(shape, generator=g)).to(device)
        self.gen = torch.Generator(device=device).manual_seed(cfg["seed"] + 1)
        self.device = device

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def step(self) -> tuple[float, float]:
        """One optimiser step; returns its wall time and the CPU time this process used, in seconds."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0, c0 = time.perf_counter(), time.process_time()
        loss = self.loss(self.denoiser, self.x, generator=self.gen).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0, time.process_time() - c0


# --- peak memory -------------------------------------------------------------------------------------------
def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_freed_memory() -> None:
    """Hand memory that Python/torch freed back to the OS (glibc ``malloc_trim``), so RSS is accurate."""
    import gc
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_memory_job(kind: str, spatial_dims: int, cfg: dict) -> float:
    """In a freshly forked process: peak RSS growth (MiB) while building and training one model.

    A throw-away step of a tiny model of the same kind runs first, so that one-off costs that are not
    the model's (library code paged in, oneDNN and thread-pool initialisation) are in the baseline.
    """
    torch.set_num_threads(cfg["threads"])
    tiny = {**cfg, **QUICK, "shapes": QUICK_SHAPES}
    _Trainer(kind, spatial_dims, tiny, torch.device("cpu")).step()
    _release_freed_memory()
    rss0 = _proc_status_kib("VmRSS")
    if rss0 is None or not _reset_peak_rss():
        raise RuntimeError("CPU peak memory needs Linux /proc (VmRSS, VmHWM, clear_refs); use --no-memory")
    trainer = _Trainer(kind, spatial_dims, cfg, torch.device("cpu"))
    for _ in range(cfg["memory_steps"]):
        trainer.step()
    return (_proc_status_kib("VmHWM") - rss0) / 1024


def _cpu_peak_memory(jobs: list[tuple[str, int]], cfg: dict) -> dict[tuple[str, int], float]:
    """Run each (kind, dims) memory job in its own process forked from a clean fork server."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        preload = ["torch", "diffsci.nn", "diffsci.diffusion"]
        if any(kind == "monai" for kind, _ in jobs):
            preload.append("monai.networks.nets")
        ctx.set_forkserver_preload(preload)
    out = {}
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        for kind, d in jobs:
            out[(kind, d)] = pool.apply(_cpu_memory_job, (kind, d, cfg))
    return out


def _cuda_peak_memory(kind: str, spatial_dims: int, cfg: dict, device: torch.device) -> float:
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    trainer = _Trainer(kind, spatial_dims, cfg, device)
    for _ in range(cfg["memory_steps"]):
        trainer.step()
    peak = torch.cuda.max_memory_allocated(device)
    del trainer
    return (peak - base) / 2 ** 20


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --- the benchmark -----------------------------------------------------------------------------------------
def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--{what} must be comma-separated integers, got '{text}'") from None


def _config(args) -> dict:
    from ..utils import resolve_device
    cfg = dict(channels=_ints(args.channels, "channels"), num_res_blocks=args.num_res_blocks,
               attention_levels=tuple(bool(v) for v in _ints(args.attention_levels, "attention-levels")),
               num_head_channels=args.num_head_channels, norm_num_groups=args.norm_num_groups,
               batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
               memory_steps=args.memory_steps,
               dims=_ints(args.dims, "dims"), seed=args.seed, shapes=SHAPES)
    if args.quick:
        cfg.update(QUICK, shapes=QUICK_SHAPES)
    if len(cfg["attention_levels"]) != len(cfg["channels"]):
        raise ValueError(f"--attention-levels has {len(cfg['attention_levels'])} entries but --channels has "
                         f"{len(cfg['channels'])}")
    if bad := [d for d in cfg["dims"] if d not in SHAPES]:
        raise ValueError(f"--dims must be among 1, 2, 3, got {bad}")
    if cfg["steps"] < 1 or cfg["batch_size"] < 1:
        raise ValueError("--steps and --batch-size must be >= 1")
    device = resolve_device(getattr(args, "device", "auto") or "auto")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg["threads"] = torch.get_num_threads()
    cfg["device"] = device
    return cfg


def run(args) -> dict:
    cfg = _config(args)
    device = cfg["device"]
    started = time.perf_counter()
    ours = ["diffsci", "diffsci_nearest_first"]
    kinds = {d: (ours + ["monai"] if d > 1 else ours) for d in cfg["dims"]}
    jobs = [(k, d) for d in cfg["dims"] for k in kinds[d]]

    memory: dict[tuple[str, int], float] = {}
    if not args.no_memory:
        if device.type == "cuda":
            memory = {(k, d): _cuda_peak_memory(k, d, cfg, device) for k, d in jobs}
        else:                      # before any timing: the fork server starts from a clean interpreter
            memory = _cpu_peak_memory(jobs, {k: v for k, v in cfg.items() if k != "device"})

    rows = []
    for d in cfg["dims"]:
        trainers = {k: _Trainer(k, d, cfg, device) for k in kinds[d]}
        for _ in range(cfg["warmup"]):
            for t in trainers.values():
                t.step()
        wall, cpu = {k: [] for k in trainers}, {k: [] for k in trainers}
        order = list(trainers)
        for i in range(cfg["steps"]):       # alternate A B, B A, ... so shared-CPU load hits both alike
            for k in (order if i % 2 == 0 else order[::-1]):
                w, c = trainers[k].step()
                wall[k].append(w)
                cpu[k].append(c)
        for k, t in trainers.items():
            med, cmed = statistics.median(wall[k]), statistics.median(cpu[k])
            rows.append({"dims": d, "shape": [1, *cfg["shapes"][d]], "model": k, "params": t.params,
                         "samples_per_s": cfg["batch_size"] / med, "step_s_median": med,
                         "step_s_min": min(wall[k]), "step_s_mean": statistics.fmean(wall[k]),
                         "samples_per_cpu_s": cfg["batch_size"] / cmed, "step_cpu_s_median": cmed,
                         "peak_memory_mib": memory.get((k, d))})
        del trainers

    comparison = {}
    for d in cfg["dims"]:
        r = {row["model"]: row for row in rows if row["dims"] == d}
        for name in ours:
            if "monai" not in r:
                continue
            mine, theirs = r[name], r["monai"]
            comparison[f"{d}d" + ("" if name == "diffsci" else "_nearest_first")] = {
                "throughput_ratio": mine["samples_per_s"] / theirs["samples_per_s"],
                "cpu_time_throughput_ratio": mine["samples_per_cpu_s"] / theirs["samples_per_cpu_s"],
                "params_ratio": mine["params"] / theirs["params"],
                "throughput_per_param_ratio": (mine["samples_per_s"] * mine["params"])
                / (theirs["samples_per_s"] * theirs["params"]),
                "memory_ratio": (mine["peak_memory_mib"] / theirs["peak_memory_mib"]
                                 if mine["peak_memory_mib"] and theirs["peak_memory_mib"] else None)}
    try:
        import monai
        monai_version = monai.__version__
    except ImportError:  # pragma: no cover - monai is a dependency
        monai_version = None
    return {
        "bench": "backbone",
        "command": "diffsci " + " ".join(sys.argv[1:]) if sys.argv and "diffsci" in sys.argv[0] else None,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()),
        "cpu_count": os.cpu_count(), "threads": cfg["threads"],
        "torch": torch.__version__, "monai": monai_version, "quick": bool(args.quick),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()
                   if k in ("channels", "num_res_blocks", "attention_levels", "num_head_channels",
                            "norm_num_groups", "batch_size", "steps", "warmup", "memory_steps")},
        "memory_method": (None if args.no_memory else
                          "cuda max_memory_allocated above the pre-build allocation" if device.type == "cuda"
                          else "peak RSS growth (VmHWM - VmRSS before the model is built) of a fresh "
                               "process per model"),
        "results": rows, "comparison": comparison, "seconds": time.perf_counter() - started,
    }
