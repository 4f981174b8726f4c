"""Operator specs for the command line: ``"mask:holes.npy"``, ``"fourier:mask=m.npy,sigma=0.01"``, ``"downsample:2,2"``.

The grammar is :data:`GRAMMAR`; :func:`parse_operator` builds the operator or raises a ValueError that
shows the grammar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .base import Operator
from .downsample import Downsample
from .fourier import SubsampledFourier
from .identity import Identity
from .mask import Mask
from .multicoil import MultiCoilFourier
from .plane import Plane

__all__ = ["GRAMMAR", "BUILTIN", "parse_operator", "split_spec"]

#: the operator names served here; any other name goes to the data's domain plugin
BUILTIN = frozenset({"identity", "mask", "downsample", "fourier", "multicoil", "plane"})

GRAMMAR = """\
operator spec: NAME[:ARG[,ARG...]] where ARG is VALUE or KEY=VALUE
  identity[:sigma=S]                                  denoising
  mask:FILE.npy | mask:random=P[,seed=N]  [,sigma=S]  inpainting, gaps, missing slices (0/1 mask)
  downsample:F[,F...]                     [,sigma=S]  block average, one integer factor per spatial axis
  fourier:FILE.npy | fourier:mask=FILE.npy | fourier:random=P[,seed=N]
          [,centered=true|false][,complex=true|false][,sigma=S]      Cartesian k-space, orthonormal FFT
  multicoil:sens=FILE.npy[,mask=FILE.npy][,centered=..][,complex=..][,sigma=S]   SENSE multi-coil k-space
  plane:axis=A[,index=I][,depth=D]        [,sigma=S]  one plane: a slice of a volume, a line of an image
  NAME:KEY=VALUE,...                                  an operator of the data's domain plugin
S: noise std per real component (default 0). FILE.npy: a 0/1 mask of the spatial shape (size-1 axes
broadcast), or complex coil maps (K, *spatial). random=P keeps each entry with probability P (fourier
always keeps DC) and takes the spatial shape from the measurement. plane: the measurement is the plane
itself (a 2D slice of a volume); index defaults to the middle, depth (the input's size across the plane) to
the slice's first side. centered: DC at the array centre
(fastMRI/BART layout; default false). complex=true: the model's 2C channels are (re, im) of C complex ones.
examples: mask:holes.npy  fourier:mask=m.npy,centered=true,sigma=0.01  downsample:2,2  identity:sigma=0.1"""


def _err(spec: str, why: str) -> ValueError:
    return ValueError(f"cannot parse operator spec '{spec}': {why}\n{GRAMMAR}")


def split_spec(spec: str) -> tuple[str, list[str], dict[str, str]]:
    """``"name:a,b,k=v"`` -> ("name", ["a", "b"], {"k": "v"}).

    >>> split_spec("fourier:m.npy,sigma=0.1")
    ('fourier', ['m.npy'], {'sigma': '0.1'})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _err(str(spec), "empty spec")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if not name.replace("_", "").isalnum():
        raise _err(spec, f"bad operator name '{name}'")
    pos, kw = [], {}
    for part in (p.strip() for p in rest.split(",")) if rest.strip() else ():
        if not part:
            raise _err(spec, "empty argument (two commas in a row?)")
        if "=" in part:
            k, _, v = part.partition("=")
            k, v = k.strip().lower(), v.strip()
            if not k or not v:
                raise _err(spec, f"bad argument '{part}'")
            if k in kw:
                raise _err(spec, f"'{k}' given twice")
            kw[k] = v
        else:
            if kw:
                raise _err(spec, f"positional argument '{part}' after KEY=VALUE arguments")
            pos.append(part)
    return name, pos, kw


def _float(spec, key, v, lo=None, hi=None) -> float:
    try:
        x = float(v)
    except ValueError:
        raise _err(spec, f"{key}={v} is not a number") from None
    if not np.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        raise _err(spec, f"{key}={v} is out of range" + (f" [{lo}, {hi}]" if hi is not None else f" (>= {lo})"))
    return x


def _int(spec, key, v) -> int:
    try:
        return int(v)
    except ValueError:
        raise _err(spec, f"{key}={v} is not an integer") from None


def _bool(spec, key, v) -> bool:
    t = v.lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise _err(spec, f"{key}={v} is not true/false")


def _auto(v: str):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def _load(spec: str, path: str, base_dir: Path | None, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if p.suffix.lower() != ".npy":
        raise _err(spec, f"{what} file '{path}' must be a .npy array")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such {what} file (operator spec '{spec}')")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{p}: not a readable .npy {what} ({e})") from None


def _random_mask(spec, kw, shape, keep_dc: bool) -> torch.Tensor:
    p = _float(spec, "random", kw.pop("random"), 0.0, 1.0)
    if shape is None:
        raise _err(spec, "random=P needs the spatial shape (give a measurement or use a mask file)")
    g = np.random.default_rng(_int(spec, "seed", kw.pop("seed", "0")))
    m = g.random(tuple(shape)) < p
    if keep_dc:
        m[(0,) * len(shape)] = True
    return torch.as_tensor(m.astype(np.float32))


def _mask_arg(spec, pos, kw, shape, base_dir, keep_dc, what="mask") -> torch.Tensor:
    given = [k for k in ("mask", "file", "random") if k in kw] + pos
    if len(given) != 1:
        raise _err(spec, f"give exactly one {what}: FILE.npy, mask=FILE.npy or random=P")
    if "random" in kw:
        return _random_mask(spec, kw, shape, keep_dc)
    path = pos[0] if pos else (kw.pop("mask", None) or kw.pop("file"))
    arr = _load(spec, path, base_dir, what)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if np.iscomplexobj(arr) or not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{path}: a {what} must hold only 0 and 1 (operator spec '{spec}')")
    return torch.as_tensor(arr.astype(np.float32))


def parse_operator(spec: str, *, spatial_shape: Sequence[int] | None = None, domain=None,
                   base_dir: str | Path | None = None) -> Operator:
    """Build the operator a spec string describes (see :data:`GRAMMAR`).

    Args:
        spec: e.g. ``"fourier:mask=m.npy,centered=true,sigma=0.01"``.
        spatial_shape: the spatial shape of the images, needed by ``random=P`` masks.
        domain: a :class:`diffsci.domains.Domain` whose ``operators`` table serves the names that are
            not built in; its factories get the KEY=VALUE arguments as keywords (numbers converted).
        base_dir: folder that relative file names are resolved against (default: the working folder).

    >>> parse_operator("downsample:2,2,sigma=0.05")
    Downsample(factors=(2, 2), sigma_y=0.05, input_kind='any')
    >>> parse_operator("identity:sigma=0.1").sigma_y
    0.1
    """
    name, pos, kw = split_spec(spec)
    base = Path(base_dir) if base_dir is not None else None
    builtin = BUILTIN
    if name not in builtin:
        table = getattr(domain, "operators", None) or {}
        if name in table:
            if pos:
                raise _err(spec, f"domain operator '{name}' takes KEY=VALUE arguments only")
            op = table[name](**{k: _auto(v) for k, v in kw.items()})
            if not isinstance(op, Operator):
                raise TypeError(f"domain operator factory '{name}' returned {type(op).__name__}, "
                                "not a diffsci.operators.Operator")
            return op
        known = sorted(builtin | set(table))
        raise _err(spec, f"unknown operator '{name}' (known: {', '.join(known)})")

    sigma = _float(spec, "sigma", kw.pop("sigma", "0"), 0.0)
    if name == "identity":
        op = Identity(sigma_y=sigma)
    elif name == "mask":
        op = Mask(_mask_arg(spec, pos, kw, spatial_shape, base, keep_dc=False), sigma_y=sigma)
    elif name == "plane":
        if pos:
            raise _err(spec, "plane takes KEY=VALUE arguments only, e.g. plane:axis=0,index=32")
        index = kw.pop("index", "mid")
        depth = kw.pop("depth", None)
        op = Plane(_int(spec, "axis", kw.pop("axis", "0")), None if index == "mid" else _int(spec, "index", index),
                   None if depth is None else _int(spec, "depth", depth), sigma_y=sigma)
    elif name == "downsample":
        if not pos:
            raise _err(spec, "downsample needs one integer factor per spatial axis, e.g. downsample:2,2")
        factors = [_int(spec, "factor", f) for f in pos]
        if any(f < 1 for f in factors):
            raise _err(spec, f"factors must be >= 1, got {factors}")
        pos = []
        op = Downsample(factors, sigma_y=sigma)
    else:
        centered = _bool(spec, "centered", kw.pop("centered", "false"))
        complex_input = _bool(spec, "complex", kw.pop("complex", "false"))
        if name == "fourier":
            mask = _mask_arg(spec, pos, kw, spatial_shape, base, keep_dc=True)
            op = SubsampledFourier(mask, sigma_y=sigma, centered=centered, complex_input=complex_input)
        else:
            if pos or "sens" not in kw:
                raise _err(spec, "multicoil needs sens=FILE.npy (complex coil maps, shape (K, *spatial))")
            sens = torch.as_tensor(_load(spec, kw.pop("sens"), base, "coil sensitivity"))
            mask = (_mask_arg(spec, [], kw, tuple(sens.shape[1:]), base, keep_dc=True)
                    if ("mask" in kw or "random" in kw) else None)
            op = MultiCoilFourier(sens, mask, sigma_y=sigma, centered=centered, complex_input=complex_input)
        if complex_input:
            from .complex_view import ComplexView
            op = ComplexView(op)
    kw.pop("seed", None)
    if kw:
        raise _err(spec, f"unknown argument(s) {', '.join(sorted(kw))} for '{name}'")
    return op
