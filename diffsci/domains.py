"""The Domain contract and its registry (entry-point group ``diffsci.domains``).

A domain plugin exposes one :class:`Domain` object::

    [project.entry-points."diffsci.domains"]
    mri = "diffsci_mri:domain"

The engine never imports a plugin by name: it discovers them with
``importlib.metadata.entry_points(group="diffsci.domains")``. Tests may call :func:`register_domain`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

__all__ = ["Domain", "Loaded", "register_domain", "get_domain", "available_domains", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "diffsci.domains"


@dataclass
class Loaded:
    """What a reader returns: the array in the domain's documented normalisation (or the file's own values, for a
    domain that maps them with ``Domain.to_model``) and its metadata.

    array: (C, *spatial) for one sample or (N, C, *spatial) for several, as the reader documents.
    meta: everything a writer needs to write results back in the same format (affine, header,
        sampling rate, voxel size, ...), plus the normalisation parameters to undo.
    """

    array: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


# A harness runs ``diffsci evaluate <domain> <task>``; it reads its options from the parsed CLI
# arguments (data, out, quick, device, plus any it added) and returns the report dict it wrote.
Harness = Callable[[argparse.Namespace], dict]


@dataclass
class Domain:
    """What a science plugs into the engine.

    Attributes:
        name: short identifier used on the command line (``diffsci evaluate <name> ...``).
        spatial_dims: the spatial ranks the domain works in, e.g. (1,) or (2, 3).
        description: one line for ``diffsci domains``.
        data_config: pydantic model of ``data.params`` in an experiment YAML.
        make_dataset: ``(params, split) -> torch Dataset`` whose items are dicts with key "x"
            (C, *spatial) float32 and optional "label" (int), "scalars" (S,), "channels".
        normalisation: how arrays are normalised (documentation shown to users).
        readers: file suffix (".nii.gz", ".hea", ".tif", ...) -> ``path -> Loaded``.
        writers: file suffix -> ``(path, array, meta) -> None``; array as the reader returned it.
        to_model: optional ``Loaded -> array`` in model units, for readers that return the file's own coding
            (e.g. 0/255 segmented images for a model of +-1); it may add to ``meta`` what ``from_model`` needs.
        from_model: optional ``(array in model units, meta) -> array`` in the file's coding, for samples written
            back (e.g. a pore mask coded 0/255); means and std maps stay in model units.
        operators: name -> factory of the domain's measurement operators.
        metrics: name -> ``(estimate, reference) -> float`` (or per-sample array).
        harnesses: task name -> Harness. A harness may set ``without_options = ("data", "quick")`` (or either)
            when it takes no such option (a task that reads a checkpoint, not a data set): the CLI then
            refuses the flag instead of ignoring it, and the namespace holds the default (None / False).
        demo: ``(out_dir, device, quick) -> dict`` runs the embedded default end to end.
        configs: name -> path of a ready YAML experiment.
        add_harness_args: optional ``(task, parser) -> None`` to add task-specific CLI options.
        example: ``() -> dict[suffix, Loaded]``: a tiny in-memory sample per writable format (no download),
            used by the contract test: what a writer writes, the reader for that suffix reads back equal.
        metadata: version, changelog, input/output formats (as a MONAI bundle's metadata.json).
    """

    name: str
    spatial_dims: tuple[int, ...]
    description: str = ""
    data_config: type[BaseModel] | None = None
    make_dataset: Callable[[BaseModel, str], Any] | None = None
    normalisation: str = ""
    readers: dict[str, Callable[[Path], Loaded]] = field(default_factory=dict)
    writers: dict[str, Callable[[Path, np.ndarray, dict], None]] = field(default_factory=dict)
    to_model: Callable[[Loaded], np.ndarray] | None = None
    from_model: Callable[[np.ndarray, dict], np.ndarray] | None = None
    operators: dict[str, Callable[..., Any]] = field(default_factory=dict)
    metrics: dict[str, Callable[..., Any]] = field(default_factory=dict)
    harnesses: dict[str, Harness] = field(default_factory=dict)
    demo: Callable[[Path, str, bool], dict] | None = None
    configs: dict[str, Path] = field(default_factory=dict)
    add_harness_args: Callable[[str, argparse.ArgumentParser], None] | None = None
    example: Callable[[], dict[str, Loaded]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def reader_for(self, path: str | Path) -> Callable[[Path], Loaded]:
        return _by_suffix(self.readers, path, self.name, "read")

    def writer_for(self, path: str | Path) -> Callable[[Path, np.ndarray, dict], None]:
        return _by_suffix(self.writers, path, self.name, "write")

    def read(self, path: str | Path) -> Loaded:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        return self.reader_for(path)(path)

    def write(self, path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer_for(path)(path, array, meta or {})


def _by_suffix(table: dict, path: str | Path, domain: str, verb: str):
    name = Path(path).name.lower()
    for suffix in sorted(table, key=len, reverse=True):     # ".nii.gz" before ".gz"
        if name.endswith(suffix.lower()):
            return table[suffix]
    raise ValueError(f"{path}: the {domain} domain cannot {verb} this format; "
                     f"supported: {', '.join(sorted(table)) or 'none'}")


_REGISTRY: dict[str, Domain] = {}
_DISCOVERED = False


def register_domain(domain: Domain, *, replace: bool = False) -> Domain:
    """Add a domain to the registry (used by entry-point discovery and by tests)."""
    if not isinstance(domain, Domain):
        raise TypeError(f"expected a diffsci.domains.Domain, got {type(domain).__name__}")
    if domain.name in _REGISTRY and not replace and _REGISTRY[domain.name] is not domain:
        raise ValueError(f"a domain named '{domain.name}' is already registered")
    _REGISTRY[domain.name] = domain
    return domain


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin must not take the others down
            import warnings
            warnings.warn(f"diffsci: could not load domain plugin '{ep.name}' ({ep.value}): {e}", stacklevel=2)
            continue
        if ep.name in _REGISTRY and _REGISTRY[ep.name] is obj:
            continue
        register_domain(obj)


def available_domains() -> dict[str, Domain]:
    """All registered and installed domains, by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_domain(name: str) -> Domain:
    """Look a domain up by name; an unknown name is an error listing the installed ones."""
    domains = available_domains()
    try:
        return domains[name]
    except KeyError:
        raise ValueError(f"unknown domain '{name}'; installed: {', '.join(domains) or 'none'}") from None
