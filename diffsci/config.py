"""Pydantic models of an experiment: YAML in, validated objects out.

An experiment YAML has five sections, ``model``, ``diffusion``, ``data``, ``train`` and ``sampling``.
Every model forbids unknown fields, so a typo is an error that names the field path::

    configs/x.yaml: invalid config
      train.lerning_rate: Extra inputs are not permitted

Networks, samplers and operators take plain arguments; only this module knows about configs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["UNetConfig", "DiffusionConfig", "DataConfig", "TrainConfig", "SamplingConfig",
           "ExperimentConfig", "ConfigError", "load_config", "save_config", "format_validation_error",
           "validate_data_params"]


class ConfigError(ValueError):
    """A config that does not validate; the message names every bad field by its dotted path."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UNetConfig(_Frozen):
    """Keyword arguments of :class:`diffsci.nn.UNet`."""

    kind: Literal["unet"] = "unet"
    spatial_dims: Literal[1, 2, 3]
    in_channels: int = Field(1, ge=1)
    out_channels: int | None = None
    channels: tuple[int, ...] = (64, 128, 256)
    num_res_blocks: int = Field(2, ge=1)
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_head_channels: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    num_classes: int | None = Field(None, ge=1)
    num_scalars: int = Field(0, ge=0)
    cond_channels: int = Field(0, ge=0)
    padding_mode: Literal["zeros", "circular"] = "zeros"
    gradient_checkpointing: bool = False
    norm_num_groups: int = Field(32, ge=1)
    channels_last: bool | None = None
    upsample: Literal["conv_first", "nearest_first"] = "conv_first"

    @model_validator(mode="after")
    def _levels(self) -> "UNetConfig":
        if len(self.attention_levels) != len(self.channels):
            raise ValueError(f"attention_levels has {len(self.attention_levels)} entries but channels has "
                             f"{len(self.channels)}; give one per level")
        return self

    def build(self):
        from .nn import UNet
        return UNet(**self.model_dump(exclude={"kind"}))


class DiffusionConfig(_Frozen):
    """EDM preconditioning and training-noise distribution (Karras et al. 2022, Table 1)."""

    kind: Literal["edm"] = "edm"
    sigma_data: float = Field(0.5, gt=0)
    P_mean: float = -1.2
    P_std: float = Field(1.2, gt=0)

    def build_denoiser(self, net):
        from .diffusion import EDMDenoiser
        return EDMDenoiser(net, sigma_data=self.sigma_data)

    def build_loss(self):
        from .diffusion import EDMLoss
        return EDMLoss(sigma_data=self.sigma_data, P_mean=self.P_mean, P_std=self.P_std)


class DataConfig(_Frozen):
    """Which domain provides the data, and its options (validated by the domain's own schema)."""

    domain: str = "synthetic"
    params: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(_Frozen):
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = Field(100, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    cond_dropout: float = Field(0.1, ge=0, le=1)
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    log_every: int = Field(50, ge=1)
    val_every: int = Field(500, ge=1)
    val_batches: int = Field(4, ge=1)
    ckpt_every: int = Field(500, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    num_workers: int = Field(0, ge=0)
    out_dir: str = "runs/experiment"


class SamplingConfig(_Frozen):
    sampler: str = "heun"
    steps: int = Field(32, ge=1)
    schedule: Literal["karras", "loglinear"] = "karras"
    sigma_min: float = Field(0.002, gt=0)
    sigma_max: float = Field(80.0, gt=0)
    guidance_scale: float = 1.0

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, v: str) -> str:
        from .samplers import SAMPLERS
        if v not in SAMPLERS:
            raise ValueError(f"unknown sampler '{v}'; valid samplers: {', '.join(sorted(SAMPLERS))}")
        return v


class ExperimentConfig(_Frozen):
    name: str = "experiment"
    model: UNetConfig
    diffusion: DiffusionConfig = DiffusionConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    sampling: SamplingConfig = SamplingConfig()


def format_validation_error(err: ValidationError, source: str = "config", prefix: str = "") -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(e["loc"]))
        lines.append(f"  {path or '<root>'}: {e['msg']}")
    return "\n".join(lines)


def validate_data_params(cfg: ExperimentConfig, source: str = "config"):
    """Validate ``data.params`` against the domain's schema; returns the validated params model."""
    from .domains import get_domain
    domain = get_domain(cfg.data.domain)
    if domain.data_config is None:
        raise ConfigError(f"{source}: domain '{domain.name}' does not provide a dataset")
    try:
        return domain.data_config.model_validate(cfg.data.params)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, prefix="data.params")) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate an experiment YAML (``overrides`` is a nested dict merged on top)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    if overrides:
        raw = _merge(raw, overrides)
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path))) from None


def save_config(cfg: BaseModel, path: str | Path) -> None:
    """Write a config as YAML (tuples as lists), readable by :func:`load_config`."""
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
