"""The training loop, one function top to bottom: data -> network, EMA, optimiser -> (resume) -> steps.

Each step: a batch from the seeded, resumable data order; condition dropout for classifier-free
guidance; the EDM loss (Karras et al. 2022, Eq. 2) under bf16 autocast on CUDA; AdamW with linear
warm-up and gradient clipping; an EMA update. Every ``val_every`` steps the EMA model's validation loss
at FIXED sigmas and noise (comparable across evaluations); every ``ckpt_every`` steps an atomic
checkpoint (see :mod:`diffsci.train.checkpoint`).

Exact resume: everything random is driven by saved state. The data order is a function of
(seed, epoch, batch); sigma, noise and the condition-dropout mask come from one torch.Generator per
process; network dropout from the global torch RNG; all their states are in state.json. On CPU an
interrupted-then-resumed run ends bit-identical to an uninterrupted one.

Under ``torchrun`` every process runs this same function (DDP, see :mod:`diffsci.train.distributed`);
rank 0 alone writes checkpoints, logs and the progress bar, and all ranks take the same steps.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, default_collate
from tqdm.auto import tqdm

from ..conditioning import Cond
from ..config import ExperimentConfig, save_config, validate_data_params
from ..diffusion import EDMDenoiser
from ..domains import get_domain
from ..utils import check_spatial
from . import distributed
from .checkpoint import (flatten_optimizer_state, latest_checkpoint, load_state, read_checkpoint,
                         remove_stale_temporaries, unflatten_optimizer_state, write_checkpoint)
from .ema import EMA

__all__ = ["train", "TrainResult", "NonFiniteLossError", "warmup_lr"]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run folder (checkpoints, ``latest``, config.yaml, metrics.jsonl).
        step: the final step.
        losses: this call's training losses, one per step (the last 1000 at most), averaged over ranks.
        val_loss: the last validation loss (EMA weights), or None without a validation set.
        checkpoint: the last checkpoint folder written (None on ranks other than 0).
        sample_shape: (C, *spatial) of the training samples.
        seconds: wall time of the call.
    """

    run_dir: Path
    step: int
    losses: list[float]
    val_loss: float | None
    checkpoint: Path | None
    sample_shape: tuple[int, ...]
    seconds: float


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or Inf; nothing is written for that step."""


def warmup_lr(step: int, lr: float, warmup_steps: int) -> float:
    """Learning rate of (0-based) optimiser step ``step``: linear warm-up to ``lr`` over ``warmup_steps``.

    >>> [warmup_lr(s, 1.0, 4) for s in range(6)]
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """
    return lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else lr


def train(cfg: ExperimentConfig, *, dataset=None, val_dataset=None, resume: bool = False,
          device: str | torch.device = "auto", progress: bool = True, out_dir: str | Path | None = None,
          net: nn.Module | None = None) -> TrainResult:
    """Train the experiment ``cfg``; returns a :class:`TrainResult`.

    Args:
        cfg: the validated experiment.
        dataset, val_dataset: map-style datasets of dicts {"x": (C, *spatial), optional "label",
            "scalars", "channels"} (e.g. :class:`diffsci.data.ArrayDataset`). They override cfg.data
            (a ``dataset`` without ``val_dataset`` trains without validation); without them the data
            comes from the domain (``make_dataset(params, "train" | "val")``). Augmentation inside a
            dataset must not draw from the global RNG if resumes are to be exact.
        resume: continue from the run folder's ``latest`` checkpoint (exactly; a fresh start with a
            warning when there is none). Without it, a run folder that already holds checkpoints is an error.
        device: "auto" | "cpu" | "cuda" | "cuda:N" (under torchrun on CUDA each rank uses cuda:LOCAL_RANK).
        progress: show a tqdm bar (rank 0) with the loss and it/s.
        out_dir: the run folder (default cfg.train.out_dir).
        net: train this network instead of ``cfg.model.build()`` (custom backbones, tests); pass the same
            kind of network to :func:`load_denoiser` later.
    """
    t0 = time.perf_counter()
    info = distributed.setup(device)
    fork_devices = [info.device] if info.device.type == "cuda" else []
    ok = False
    try:
        with torch.random.fork_rng(devices=fork_devices):   # leave the caller's global RNG untouched
            result = _train(cfg, info, dataset, val_dataset, resume, progress, out_dir, net)
        ok = True
    finally:
        if ok:
            distributed.teardown(info)
        elif info.initialized_here:              # a failing rank must not wait at a barrier for the others
            torch.distributed.destroy_process_group()
    result.seconds = time.perf_counter() - t0
    return result


def _train(cfg, info, dataset, val_dataset, resume, progress, out_dir, net) -> TrainResult:
    tc, dev = cfg.train, info.device
    run_dir = Path(out_dir if out_dir is not None else tc.out_dir)
    cfg = cfg.model_copy(update={"train": tc.model_copy(update={"out_dir": str(run_dir)})})
    say = (lambda msg: print(f"diffsci train: {msg}", file=sys.stderr)) if info.is_main else (lambda msg: None)

    # --- 1. data ---------------------------------------------------------------------------------
    if dataset is None:
        params = validate_data_params(cfg)
        domain = get_domain(cfg.data.domain)
        dataset = domain.make_dataset(params, "train")
        if val_dataset is None:
            val_dataset = domain.make_dataset(params, "val")
    if len(dataset) == 0:
        raise ValueError("the training set is empty")
    sample_shape = tuple(dataset[0]["x"].shape)
    check_spatial(dataset[0]["x"][None], cfg.model.spatial_dims, cfg.model.in_channels,
                  what=f"training sample 0 of domain '{cfg.data.domain}'")
    order = distributed.ShardedBatches(len(dataset), tc.batch_size, seed=tc.seed, rank=info.rank,
                                       world_size=info.world_size)

    # --- 2. network, EMA, optimiser, loss, random streams ---------------------------------------
    torch.manual_seed(tc.seed)                     # the same initial weights on every rank
    net = (cfg.model.build() if net is None else net).to(dev)
    ema = EMA(net, tc.ema_decay)
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay)
    loss_fn = cfg.diffusion.build_loss()
    # One generator per rank for sigma, noise and dropout masks; the global RNG (network dropout) per rank.
    rank_seed = int(np.random.SeedSequence([tc.seed, info.rank]).generate_state(1)[0])
    gen = torch.Generator(device=dev).manual_seed(rank_seed)
    torch.manual_seed(rank_seed + 1)
    step, epoch, batch_in_epoch, val_history = 0, 0, 0, []

    # --- 3. resume, or refuse to overwrite ------------------------------------------------------
    existing = latest_checkpoint(run_dir)
    if existing is not None and not resume:
        raise ValueError(f"{run_dir} already holds a training run (latest: {existing.name}); pass "
                         "--resume (resume=True) to continue it, or choose another output folder")
    if resume and existing is None:
        say(f"nothing to resume in {run_dir}; starting from step 0")
    if resume and existing is not None:
        ck = read_checkpoint(existing, files=("model.safetensors", "optimizer.safetensors"))
        st = ck.state
        if ck.config.model != cfg.model:
            raise ValueError(f"{ck.path / 'config.yaml'}: the checkpoint's model config differs from the "
                             "one given; a run can only be resumed with the same network")
        load_state(net, ck.prefixed("model.safetensors", "model."), str(ck.path / "model.safetensors"))
        load_state(ema.module, ck.prefixed("model.safetensors", "ema."), str(ck.path / "model.safetensors"))
        ema.num_updates = int(st["ema_updates"])
        try:
            opt.load_state_dict(unflatten_optimizer_state(ck.tensors["optimizer.safetensors"], st["optimizer"]))
        except (ValueError, KeyError, RuntimeError) as e:
            raise ValueError(f"{ck.path / 'optimizer.safetensors'}: optimiser state does not fit: {e}") from None
        step, epoch, batch_in_epoch = int(st["step"]), int(st["epoch"]), int(st["batch"])
        val_history = list(st.get("metrics", {}).get("val_history", []))
        rngs = st.get("rng", [])
        if len(rngs) == info.world_size and rngs[info.rank]["device"] == dev.type and st.get("n") == len(dataset):
            gen.set_state(_unb64(rngs[info.rank]["generator"]))
            torch.set_rng_state(_unb64(rngs[info.rank]["torch"]))
            if dev.type == "cuda" and rngs[info.rank].get("cuda"):
                torch.cuda.set_rng_state(_unb64(rngs[info.rank]["cuda"]), dev)
        else:
            warnings.warn(f"{ck.path}: saved with {len(rngs)} process(es) on {rngs[0]['device'] if rngs else '?'} "
                          f"and {st.get('n')} samples; resuming with {info.world_size} on {dev.type} and "
                          f"{len(dataset)}: random streams are re-seeded, so this resume is not bit-exact",
                          stacklevel=2)
            gen.manual_seed(rank_seed + step)
            torch.manual_seed(rank_seed + step + 1)
            if batch_in_epoch >= order.batches_per_epoch:        # the dataset shrank: start the next epoch
                epoch, batch_in_epoch = epoch + 1, 0
        say(f"resumed from {ck.path} at step {step}")
    if info.is_main:
        remove_stale_temporaries(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / ".config.yaml.tmp")
        os.replace(run_dir / ".config.yaml.tmp", run_dir / "config.yaml")
        _truncate_metrics(run_dir / "metrics.jsonl", step)

    # --- 4. wrap for data parallelism, precision ------------------------------------------------
    model = nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None) \
        if info.distributed else net
    denoiser = EDMDenoiser(model, cfg.diffusion.sigma_data)
    ema_denoiser = EDMDenoiser(ema.module, cfg.diffusion.sigma_data)
    bf16 = tc.precision == "bf16" or (tc.precision == "auto" and dev.type == "cuda")
    autocast = lambda: torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16)  # noqa: E731
    # The loader gets its own generator: iter(DataLoader) draws a worker base seed, which must not come
    # from the global RNG (network dropout), or a resumed run would drift from an uninterrupted one.
    loader = DataLoader(dataset, batch_sampler=order.iterate(epoch, batch_in_epoch), num_workers=tc.num_workers,
                        pin_memory=dev.type == "cuda", generator=torch.Generator().manual_seed(rank_seed + step))

    # --- 5. the loop ----------------------------------------------------------------------------
    losses: deque[float] = deque(maxlen=1000)
    val_loss, last_ckpt = (val_history[-1]["val_loss"] if val_history else None), None
    since_log, t_log, grad_norm = [], time.perf_counter(), float("nan")
    bar = tqdm(total=tc.steps, initial=step, disable=not (progress and info.is_main), desc=cfg.name,
               unit="step", dynamic_ncols=True, file=sys.stderr)
    batches = iter(loader)
    while step < tc.steps:
        idx = order.batch(epoch, batch_in_epoch)
        batch = next(batches)
        epoch, batch_in_epoch = order.advance(epoch, batch_in_epoch)
        x = batch["x"].to(dev, non_blocking=True)
        cond = Cond.from_batch(batch, dev)
        if cond is not None and (cond.label is not None or cond.scalars is not None) and tc.cond_dropout > 0:
            drop = torch.rand(x.shape[0], generator=gen, device=gen.device) < tc.cond_dropout
            cond = cond.drop(drop.to(dev))               # classifier-free guidance: learn the null condition
        lr = warmup_lr(step, tc.lr, tc.warmup_steps)
        for g in opt.param_groups:
            g["lr"] = lr

        net.train()
        with autocast():
            per_sample = loss_fn(denoiser, x, cond, generator=gen)          # EDM loss, (B,)
        loss = per_sample.float().mean()
        loss_all = distributed.all_mean(loss.detach(), info)                # also keeps the ranks in step
        if not torch.isfinite(loss_all):
            raise NonFiniteLossError(_nonfinite_message(step + 1, idx, x, per_sample, dataset, info))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip or float("inf")))
        opt.step()
        ema.update(net)
        step += 1

        value = float(loss_all)
        losses.append(value)
        since_log.append(value)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}", refresh=False)
        final = step == tc.steps
        if info.is_main and (step % tc.log_every == 0 or final):
            now = time.perf_counter()
            _log(run_dir, {"step": step, "loss": float(np.mean(since_log)), "lr": lr, "grad_norm": grad_norm,
                           "it_per_s": len(since_log) / max(now - t_log, 1e-9)})
            since_log, t_log = [], now
        if info.is_main and val_dataset is not None and (step % tc.val_every == 0 or final):
            val_loss = _validation_loss(ema_denoiser, val_dataset, loss_fn, tc, dev, autocast)
            val_history.append({"step": step, "val_loss": val_loss})
            _log(run_dir, {"step": step, "val_loss": val_loss})
            if progress:
                bar.write(f"step {step}: val_loss {val_loss:.4f} (EMA weights)")
        if step % tc.ckpt_every == 0 or final:
            rng = {"device": dev.type, "generator": _b64(gen.get_state()), "torch": _b64(torch.get_rng_state()),
                   "cuda": _b64(torch.cuda.get_rng_state(dev)) if dev.type == "cuda" else None}
            rngs = distributed.all_gather_objects(rng, info)                # every rank's streams
            if info.is_main:
                opt_tensors, opt_meta = flatten_optimizer_state(opt.state_dict())
                weights = {**{f"model.{k}": v for k, v in net.state_dict().items()},
                           **{f"ema.{k}": v for k, v in ema.module.state_dict().items()}}
                state = {"step": step, "epoch": epoch, "batch": batch_in_epoch, "n": len(dataset),
                         "seed": tc.seed, "world_size": info.world_size, "ema_updates": ema.num_updates,
                         "sample_shape": list(sample_shape), "rng": rngs, "optimizer": opt_meta,
                         "metrics": {"loss": value, "val_loss": val_loss, "val_history": val_history},
                         "torch": torch.__version__}
                last_ckpt = write_checkpoint(run_dir, step, {"model.safetensors": weights,
                                                             "optimizer.safetensors": opt_tensors},
                                             state, cfg, keep=tc.keep_checkpoints)
    bar.close()
    return TrainResult(run_dir, step, list(losses), val_loss, last_ckpt or (latest_checkpoint(run_dir)
                       if info.is_main else None), sample_shape, 0.0)


_VAL_SEED = 1_000_003        # the draws of validation sigma and noise, the same for every run


@torch.no_grad()
def _validation_loss(denoiser, dataset, loss_fn, tc, dev, autocast) -> float:
    """Mean EDM loss of the EMA model on the first val_batches * batch_size samples, with sigma and noise
    drawn from a generator re-seeded at every evaluation with a fixed seed, not the training seed: successive
    values compare, and so do runs that differ only in ``train.seed`` (same val set, same draws)."""
    gen = torch.Generator(device=dev).manual_seed(_VAL_SEED)
    n = min(len(dataset), tc.val_batches * tc.batch_size)
    total = 0.0
    for start in range(0, n, tc.batch_size):
        batch = default_collate([dataset[i] for i in range(start, min(n, start + tc.batch_size))])
        x = batch["x"].to(dev)
        with autocast():
            total += float(loss_fn(denoiser, x, Cond.from_batch(batch, dev), generator=gen).float().sum())
    return total / n


def _nonfinite_message(step: int, idx: list[int], x: Tensor, per_sample: Tensor, dataset, info) -> str:
    sources, source = getattr(dataset, "sources", None), getattr(dataset, "source", None)
    name = (lambda i: f"{i} ({sources[i]})") if sources is not None else str
    of = f" of {source}" if isinstance(source, str) else ""
    bad_x = [idx[i] for i in range(x.shape[0]) if not torch.isfinite(x[i]).all()]
    bad_loss = [idx[i] for i in range(x.shape[0]) if not torch.isfinite(per_sample[i])]
    where = f" on rank {info.rank}" if info.distributed else ""
    if bad_x:
        return (f"non-finite training data at step {step}{where}: NaN/Inf in dataset sample(s){of} "
                f"{', '.join(map(name, bad_x))}; clean or drop them (no checkpoint was written for this step)")
    if bad_loss:
        return (f"the loss became NaN/Inf at step {step}{where} on dataset sample(s) "
                f"{', '.join(map(name, bad_loss))} (batch {idx}); the data is finite, so training diverged: "
                "lower train.lr, raise train.warmup_steps, or keep train.grad_clip (no checkpoint was written)")
    return (f"the loss became NaN/Inf at step {step} on another process (this rank's batch {idx} is finite); "
            "no checkpoint was written")


def _log(run_dir: Path, record: dict) -> None:
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop the log lines of steps after the checkpoint (they will be run again)."""
    if path.exists():
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        path.write_text("".join(ln + "\n" for ln in lines))


def _b64(t: Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode()


def _unb64(s: str) -> Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)
