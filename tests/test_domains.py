import numpy as np
import pytest

from diffsci.domains import Domain, Loaded, available_domains, get_domain, register_domain


def test_entry_point_discovery_finds_the_builtin_domain():
    assert "synthetic" in available_domains()
    assert get_domain("synthetic").name == "synthetic"


def test_unknown_domain_lists_installed():
    with pytest.raises(ValueError, match="installed: .*synthetic"):
        get_domain("astronomy")


def test_register_and_suffix_dispatch(tmp_path):
    seen = {}
    dom = Domain(name="test-suffix", spatial_dims=(2,),
                 readers={".gz": lambda p: Loaded(np.zeros(1), {"r": "gz"}),
                          ".nii.gz": lambda p: Loaded(np.zeros(1), {"r": "nii.gz"})},
                 writers={".npy": lambda p, a, m: seen.setdefault("w", (p.name, m))})
    register_domain(dom, replace=True)
    assert get_domain("test-suffix") is dom
    (tmp_path / "a.NII.GZ").write_bytes(b"x")
    assert dom.read(tmp_path / "a.NII.GZ").meta["r"] == "nii.gz"      # longest suffix wins, case-insensitive
    dom.write(tmp_path / "sub" / "b.npy", np.zeros(2), {"k": 1})
    assert seen["w"] == ("b.npy", {"k": 1})
    with pytest.raises(ValueError, match="cannot read this format; supported: .gz, .nii.gz"):
        dom.reader_for("c.tif")
    with pytest.raises(FileNotFoundError, match="missing.gz"):
        dom.read(tmp_path / "missing.gz")
    with pytest.raises(ValueError, match="already registered"):
        register_domain(Domain(name="test-suffix", spatial_dims=(1,)))
    with pytest.raises(TypeError):
        register_domain("not a domain")
