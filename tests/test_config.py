"""Experiment configs: every YAML in configs/ validates, round-trips, and errors name the field path."""

from pathlib import Path

import pytest

from diffsci.config import (ConfigError, DataConfig, ExperimentConfig, SamplingConfig, TrainConfig, UNetConfig,
                            load_config, save_config, validate_data_params)
from diffsci.domains import available_domains

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_synthetic_configs_for_every_rank_and_a_conditional_one():
    cfgs = [load_config(p) for p in CONFIGS if p.name.startswith("synthetic_")]
    assert {c.model.spatial_dims for c in cfgs} == {1, 2, 3}
    assert any(c.model.num_classes and c.train.cond_dropout > 0 and c.data.params.get("conditional") for c in cfgs)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_yaml_validates(path):
    cfg = load_config(path)
    if cfg.data.domain not in available_domains():
        pytest.skip(f"{path.name}: domain '{cfg.data.domain}' is not installed")
    params = validate_data_params(cfg, str(path))
    # the data's rank and channels agree with the network's, when the domain says so
    for field, want in (("spatial_dims", cfg.model.spatial_dims), ("channels", cfg.model.in_channels)):
        if hasattr(params, field) and isinstance(getattr(params, field), int):
            assert getattr(params, field) == want, f"{path.name}: data.params.{field} != model"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_yaml_round_trip(path, tmp_path):
    cfg = load_config(path)
    save_config(cfg, tmp_path / "again.yaml")
    assert load_config(tmp_path / "again.yaml") == cfg


def test_round_trip_of_non_default_values(tmp_path):
    cfg = ExperimentConfig(
        name="x", model=UNetConfig(spatial_dims=3, channels=(8, 16), attention_levels=(True, False), num_classes=3,
                                   num_scalars=2, padding_mode="circular"),
        data=DataConfig(domain="synthetic", params={"kind": "mixture", "size": 8, "nested": {"a": [1, 2]}}),
        train=TrainConfig(betas=(0.8, 0.9), grad_clip=None, precision="bf16"),
        sampling=SamplingConfig(sampler="dpmpp_2m", schedule="loglinear", guidance_scale=2.5))
    save_config(cfg, tmp_path / "c.yaml")
    back = load_config(tmp_path / "c.yaml")
    assert back == cfg and back.train.betas == (0.8, 0.9) and back.model.channels == (8, 16)


def _write(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return p


BASE = "model:\n  spatial_dims: 1\n"


@pytest.mark.parametrize("text,path", [
    (BASE + "train:\n  lerning_rate: 0.1\n", "train.lerning_rate"),
    (BASE.replace("spatial_dims: 1", "spatial_dims: 1\n  chanels: [8]"), "model.chanels"),
    (BASE.replace("1", "4"), "model.spatial_dims"),
    (BASE + "sampling:\n  sampler: heunn\n", "sampling.sampler"),
    (BASE + "train:\n  steps: 0\n", "train.steps"),
    ("train:\n  steps: 5\n", "model"),
])
def test_a_typo_names_the_field_path(tmp_path, text, path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, text))
    msg = str(e.value)
    assert "bad.yaml" in msg and f"  {path}:" in msg, msg


def test_unknown_sampler_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="valid samplers: .*heun"):
        load_config(_write(tmp_path, BASE + "sampling:\n  sampler: nope\n"))


def test_data_params_are_validated_by_the_domain_with_the_prefix(tmp_path):
    cfg = load_config(_write(tmp_path, BASE + "data:\n  domain: synthetic\n  params:\n    sise: 8\n    kind: blob\n"))
    with pytest.raises(ConfigError) as e:
        validate_data_params(cfg, "bad.yaml")
    assert "data.params.sise" in str(e.value) and "data.params.kind" in str(e.value)
    cfg = load_config(_write(tmp_path, BASE + "data:\n  domain: nosuchdomain\n"))
    with pytest.raises(ValueError, match="unknown domain 'nosuchdomain'; installed: .*synthetic"):
        validate_data_params(cfg)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "model: [unclosed\n"))


def test_overrides_and_cli_set(tmp_path):
    import argparse

    from diffsci.cli.train import overrides_from_args
    ns = argparse.Namespace(steps=7, batch_size=None, lr=1e-4, seed=None,
                            set=["model.channels=[8, 16]", "model.attention_levels=[false, true]", "name=run1"])
    over = overrides_from_args(ns)
    cfg = load_config(_write(tmp_path, BASE), over)
    assert (cfg.train.steps, cfg.train.lr, cfg.model.channels, cfg.name) == (7, 1e-4, (8, 16), "run1")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        overrides_from_args(argparse.Namespace(steps=None, batch_size=None, lr=None, seed=None, set=["oops"]))


def test_the_demo_config_is_the_yaml():
    from diffsci.synthetic import demo_config
    yaml_cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "synthetic_field_2d.yaml")
    assert demo_config(quick=False) == yaml_cfg
