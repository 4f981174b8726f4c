"""The Domain contract, checked against EVERY installed domain (entry-point group ``diffsci.domains``)."""

import inspect

import numpy as np
import pytest
from pydantic import BaseModel

from diffsci.domains import Domain, Loaded, available_domains

DOMAINS = available_domains()


def test_the_builtin_domain_is_installed():
    assert "synthetic" in DOMAINS


@pytest.fixture(params=sorted(DOMAINS))
def domain(request) -> Domain:
    return DOMAINS[request.param]


def test_fields_well_formed(domain):
    assert isinstance(domain, Domain)
    assert domain.name and domain.name == domain.name.strip() and " " not in domain.name
    assert domain.description, f"{domain.name}: give a one-line description for `diffsci domains`"
    assert domain.spatial_dims and set(domain.spatial_dims) <= {1, 2, 3}
    if domain.data_config is not None:
        assert inspect.isclass(domain.data_config) and issubclass(domain.data_config, BaseModel)
        assert domain.data_config.model_config.get("extra") == "forbid", \
            f"{domain.name}: data_config must forbid unknown fields so that typos are errors"
        assert callable(domain.make_dataset), f"{domain.name}: data_config without make_dataset"
    for table in ("readers", "writers", "operators", "metrics", "harnesses"):
        for key, fn in getattr(domain, table).items():
            assert isinstance(key, str) and callable(fn), f"{domain.name}.{table}[{key!r}] is not callable"
    for suffix in (*domain.readers, *domain.writers):
        assert suffix.startswith("."), f"{domain.name}: suffix {suffix!r} must start with a dot"
    assert domain.demo is None or callable(domain.demo)
    assert domain.add_harness_args is None or callable(domain.add_harness_args)
    assert domain.example is None or callable(domain.example)
    assert isinstance(domain.metadata, dict)
    for name, path in domain.configs.items():
        assert path.exists(), f"{domain.name}: config '{name}' points to a missing file {path}"


def test_example_round_trips_through_writers_and_readers(domain, tmp_path):
    if domain.example is None:
        pytest.skip(f"{domain.name} provides no example()")
    examples = domain.example()
    assert examples, f"{domain.name}: example() returned nothing"
    for suffix, loaded in examples.items():
        assert isinstance(loaded, Loaded) and isinstance(loaded.array, np.ndarray)
        assert suffix in domain.writers, f"{domain.name}: example for {suffix} but no writer"
        path = tmp_path / f"example{suffix}"
        domain.write(path, loaded.array, loaded.meta)
        back = domain.read(path)
        assert isinstance(back, Loaded)
        assert back.array.shape == loaded.array.shape, f"{domain.name} {suffix}: shape changed"
        np.testing.assert_allclose(back.array, loaded.array, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{domain.name} {suffix}: the reader does not read back what the writer wrote")


def test_unknown_suffix_is_a_clear_error(domain, tmp_path):
    if not domain.readers:
        pytest.skip(f"{domain.name} has no readers")
    with pytest.raises(ValueError, match=r"cannot read this format.*supported"):
        domain.reader_for(tmp_path / "file.unknown-format")
