"""diffsci.utils.config_dir: where the experiment YAMLs are found, editable install or not."""

from pathlib import Path

import diffsci.utils as utils


def test_config_dir_is_the_checkouts_configs_in_an_editable_install(monkeypatch):
    monkeypatch.delenv("DIFFSCI_CONFIGS", raising=False)
    here = utils.config_dir()
    assert here == Path(utils.__file__).resolve().parents[1] / "configs"
    assert (here / "mri_reconstruction.yaml").is_file()


def test_config_dir_env_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFSCI_CONFIGS", str(tmp_path))
    assert utils.config_dir() == tmp_path


def test_config_dir_falls_back_to_the_working_directory(monkeypatch, tmp_path):
    """A non-editable install (site-packages has no configs/ beside it) run from a repository root: the
    plugins' default configs resolved to /configs/... before (seen on the GPU machine, 2026-12-04)."""
    monkeypatch.delenv("DIFFSCI_CONFIGS", raising=False)
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(utils, "_CHECKOUT", site)
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    monkeypatch.chdir(repo)
    assert utils.config_dir() == repo / "configs"
    monkeypatch.chdir(tmp_path)                       # neither: the checkout's path, for the caller's error
    assert utils.config_dir() == site / "configs"
