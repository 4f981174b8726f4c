"""Checkpoints: safetensors + JSON + the resolved YAML config, written atomically, read without unpickling.

A run directory looks like::

    RUN/config.yaml                     the resolved experiment
    RUN/metrics.jsonl                   one JSON line per logged step
    RUN/latest                          text: "checkpoints/step_00001000" (replaced with os.replace)
    RUN/checkpoints/step_00001000/
        model.safetensors               "model.<name>" (trained weights) and "ema.<name>" (EMA weights)
        optimizer.safetensors           the optimiser's tensors, "optim.<param index>.<key>"
        state.json                      step, data position, RNG states, metrics, optimiser scalars,
                                        sha256 of every .safetensors file
        config.yaml                     the resolved experiment again, so the folder stands alone

A checkpoint folder is first written as ``checkpoints/.tmp-*`` (every file fsync'ed), then renamed into
place, and only then does ``latest`` move to it; a crash at any point leaves the previous checkpoint
and pointer intact. Loading checks the sha256 of every tensor file, so a truncated or corrupted
checkpoint is a ValueError naming the file, never a traceback from inside torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ..config import ConfigError, ExperimentConfig, load_config, save_config

__all__ = ["Checkpoint", "FORMAT", "write_checkpoint", "read_checkpoint", "resolve_checkpoint",
           "latest_checkpoint", "flatten_optimizer_state", "unflatten_optimizer_state",
           "load_denoiser", "save_denoiser", "remove_stale_temporaries"]

FORMAT = "diffsci-checkpoint-1"
_STEP_DIR = re.compile(r"^step_(\d+)$")


@dataclass
class Checkpoint:
    """A checkpoint read back from disk: its folder, state.json, config and tensors by file name."""

    path: Path
    state: dict[str, Any]
    config: ExperimentConfig
    tensors: dict[str, dict[str, Tensor]] = field(default_factory=dict)

    def prefixed(self, file: str, prefix: str) -> dict[str, Tensor]:
        """The tensors of ``file`` whose names start with ``prefix``, with the prefix removed."""
        return {k[len(prefix):]: v for k, v in self.tensors[file].items() if k.startswith(prefix)}


# --- optimiser state <-> flat tensors + JSON ---------------------------------------------------------
def flatten_optimizer_state(sd: dict) -> tuple[dict[str, Tensor], dict]:
    """Split ``optimizer.state_dict()`` into safetensors-able tensors and a JSON-able rest.

    >>> p = nn.Parameter(torch.ones(2)); opt = torch.optim.AdamW([p]); p.grad = torch.ones(2); opt.step()
    >>> tensors, meta = flatten_optimizer_state(opt.state_dict())
    >>> sorted(tensors)
    ['optim.0.exp_avg', 'optim.0.exp_avg_sq', 'optim.0.step']
    """
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, Tensor], meta: dict) -> dict:
    """Inverse of :func:`flatten_optimizer_state` (betas come back as tuples)."""
    state: dict[int, dict[str, Any]] = {}
    for name, v in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = v
    for name, v in meta.get("scalars", {}).items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = v
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# --- atomic writing --------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:                      # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _replace_text(path: Path, text: str) -> None:
    """Replace a small text file atomically (write a sibling, fsync, os.replace)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _write_bytes(tmp, text.encode())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def remove_stale_temporaries(run_dir: str | Path) -> None:
    """Delete ``.tmp-*`` folders left in RUN/checkpoints by a process that died mid-write."""
    ck = Path(run_dir) / "checkpoints"
    if ck.is_dir():
        for p in ck.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def write_checkpoint(run_dir: str | Path, step: int, files: dict[str, dict[str, Tensor]], state: dict,
                     config: ExperimentConfig, *, keep: int | None = None) -> Path:
    """Write ``RUN/checkpoints/step_<step>`` atomically, point ``RUN/latest`` at it, keep the last ``keep``.

    Args:
        files: file name (``*.safetensors``) -> tensors to store in it.
        state: JSON-able training state (the sha256 of each file and the format are added).
    """
    run_dir = Path(run_dir)
    ckdir = run_dir / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=ckdir))
    final = ckdir / name
    try:
        digests = {}
        for fname, tensors in files.items():
            data = st_save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()},
                           metadata={"format": FORMAT})
            _write_bytes(tmp / fname, data)
            digests[fname] = hashlib.sha256(data).hexdigest()
        state = {"format": FORMAT, **state, "step": step, "files": digests}
        _write_bytes(tmp / "state.json", json.dumps(state, indent=1).encode())
        save_config(config, tmp / "config.yaml")
        with open(tmp / "config.yaml", "rb+") as f:
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():                   # the same step written again (e.g. after a resume): swap it out
            old = ckdir / f".tmp-old-{name}-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_dir(ckdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace_text(run_dir / "latest", f"checkpoints/{name}\n")
    if keep is not None:
        _prune(ckdir, keep, protect=final)
    return final


def _prune(ckdir: Path, keep: int, protect: Path) -> None:
    steps = sorted((int(m.group(1)), p) for p in ckdir.iterdir()
                   if p.is_dir() and (m := _STEP_DIR.match(p.name)))
    for _, p in steps[:-keep] if keep > 0 else steps:
        if p != protect:
            shutil.rmtree(p, ignore_errors=True)


# --- reading ----------------------------------------------------------------------------------------
def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint folder ``RUN/latest`` points to, or None when the run has no checkpoint yet."""
    pointer = Path(run_dir) / "latest"
    if not pointer.exists():
        return None
    target = pointer.read_text().strip()
    path = (Path(run_dir) / target).resolve()
    if not target or not path.is_dir():
        raise FileNotFoundError(f"{pointer}: points to '{target}', which does not exist; "
                                f"the run directory is damaged (look in {Path(run_dir) / 'checkpoints'})")
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder (follows ``latest``), a checkpoint folder, or a file inside one -> the checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint or run directory")
    if path.is_file():
        path = path.parent
    if (path / "latest").exists():
        return latest_checkpoint(path)
    if (path / "state.json").exists():
        return path
    raise FileNotFoundError(f"{path}: not a diffsci checkpoint (no state.json) nor a run directory "
                            "(no 'latest' pointer)")


def _read_tensors(path: Path, digest: str | None) -> dict[str, Tensor]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing from the checkpoint")
    data = path.read_bytes()
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"{path}: corrupt checkpoint file (sha256 does not match state.json; "
                         "truncated or modified)")
    try:
        return st_load(data)
    except Exception as e:              # safetensors raises its own error types on bad headers
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None


def read_checkpoint(path: str | Path, files: tuple[str, ...] = ("model.safetensors",)) -> Checkpoint:
    """Read a checkpoint's state, config and the tensor ``files``; every failure names the file."""
    ck = resolve_checkpoint(path)
    state_path = ck / "state.json"
    if not state_path.exists():
        raise FileNotFoundError(f"{state_path}: missing from the checkpoint")
    try:
        state = json.loads(state_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{state_path}: corrupt checkpoint state (not valid JSON: {e})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{state_path}: not a {FORMAT} state file (format={state.get('format')!r})"
                         if isinstance(state, dict) else f"{state_path}: not a checkpoint state")
    cfg_path = ck / "config.yaml"
    try:
        config = load_config(cfg_path)
    except ConfigError as e:
        raise ConfigError(f"checkpoint config: {e}") from None
    digests = state.get("files", {})
    tensors = {}
    for f in files:
        if f not in digests:
            raise FileNotFoundError(f"{ck / f}: not part of this checkpoint (it holds {', '.join(digests)})")
        tensors[f] = _read_tensors(ck / f, digests[f])
    return Checkpoint(ck, state, config, tensors)


def load_state(module: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """``module.load_state_dict(tensors)``, with mismatches reported as a ValueError naming ``source``."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise ValueError(f"{source}: the weights do not fit the network built from the config"
                         + (f"; missing: {', '.join(missing[:5])}" if missing else "")
                         + (f"; unexpected: {', '.join(unexpected[:5])}" if unexpected else "")
                         + (f"; shape mismatch (file vs network): {', '.join(wrong[:5])}" if wrong else ""))
    module.load_state_dict(tensors)


def load_denoiser(path: str | Path, *, device: str | torch.device = "cpu", ema: bool = True,
                  net: nn.Module | None = None):
    """Load a trained denoiser: ``(EDMDenoiser in eval mode, ExperimentConfig)``.

    Args:
        path: a run folder (uses its ``latest`` checkpoint), a checkpoint folder, or an export folder
            written by :func:`save_denoiser`.
        ema: the EMA weights (what one samples from) rather than the raw trained weights.
        net: the network to load the weights into; default ``cfg.model.build()``.

    The denoiser gets an attribute ``sample_shape`` = (C, *spatial) of the training data.
    Never unpickles; a missing, partial or corrupt checkpoint is a FileNotFoundError/ValueError naming
    the file.
    """
    from ..utils import resolve_device
    ck = read_checkpoint(path)
    weights = "model.safetensors"
    prefix = "ema." if ema and any(k.startswith("ema.") for k in ck.tensors[weights]) else "model."
    net = ck.config.model.build() if net is None else net
    load_state(net, ck.prefixed(weights, prefix), f"{ck.path / weights} ({prefix}*)")
    denoiser = ck.config.diffusion.build_denoiser(net).to(resolve_device(device)).eval()
    denoiser.sample_shape = tuple(ck.state.get("sample_shape") or ()) or None
    return denoiser, ck.config


def save_denoiser(denoiser: nn.Module, config: ExperimentConfig, path: str | Path, *,
                  sample_shape: tuple[int, ...] | None = None) -> Path:
    """Export a denoiser's network weights alone (e.g. the EMA weights for sharing), loadable by
    :func:`load_denoiser`. ``denoiser`` is an EDMDenoiser or its raw network. Written atomically."""
    net = getattr(denoiser, "net", denoiser)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        data = st_save({f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()},
                       metadata={"format": FORMAT})
        _write_bytes(tmp / "model.safetensors", data)
        shape = sample_shape or getattr(denoiser, "sample_shape", None)
        state = {"format": FORMAT, "kind": "export", "sample_shape": list(shape) if shape else None,
                 "files": {"model.safetensors": hashlib.sha256(data).hexdigest()}}
        _write_bytes(tmp / "state.json", json.dumps(state, indent=1).encode())
        save_config(config, tmp / "config.yaml")
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
