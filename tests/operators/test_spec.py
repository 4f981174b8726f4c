"""Operator specs: the grammar, files, random masks, domain operators and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffsci.domains import Domain
from diffsci.operators import (GRAMMAR, ComplexView, Downsample, Identity, Mask, MultiCoilFourier,
                               SubsampledFourier, parse_operator)


def test_builtin_specs(tmp_path):
    m = np.zeros((4, 6), bool)
    m[:, ::2] = True
    np.save(tmp_path / "m.npy", m)
    op = parse_operator("mask:m.npy,sigma=0.2", base_dir=tmp_path)
    assert isinstance(op, Mask) and op.sigma_y == 0.2 and torch.equal(op.mask.bool(), torch.as_tensor(m))
    op = parse_operator(f"fourier:mask={tmp_path / 'm.npy'},centered=true")
    assert isinstance(op, SubsampledFourier) and op.centered and op.input_kind == "real"
    op = parse_operator("fourier:m.npy,complex=1", base_dir=tmp_path)
    assert isinstance(op, ComplexView) and op.measurement_shape((1, 2, 4, 6)) == (1, 1, 4, 6)
    d = parse_operator("downsample:2,3")
    assert isinstance(d, Downsample) and d.factors == (2, 3) and d.sigma_y == 0
    assert isinstance(parse_operator("identity"), Identity)
    np.save(tmp_path / "s.npy", np.ones((3, 4, 6), np.complex64))
    mc = parse_operator("multicoil:sens=s.npy,mask=m.npy", base_dir=tmp_path)
    assert isinstance(mc, MultiCoilFourier) and mc.num_coils == 3


def test_random_masks_are_seeded_and_need_a_shape():
    a = parse_operator("mask:random=0.5,seed=3", spatial_shape=(32, 32))
    b = parse_operator("mask:random=0.5,seed=3", spatial_shape=(32, 32))
    assert torch.equal(a.mask, b.mask) and 0.4 < float(a.mask.mean()) < 0.6
    f = parse_operator("fourier:random=0.1", spatial_shape=(16,))
    assert float(f.mask_u[0]) == 1.0                                   # DC always sampled
    with pytest.raises(ValueError, match="needs the spatial shape"):
        parse_operator("mask:random=0.5")


def test_domain_operators_are_looked_up():
    dom = Domain(name="toy", spatial_dims=(1,), operators={"blank": lambda sigma=0.0, n=4: Identity(sigma)})
    op = parse_operator("blank:sigma=0.5,n=3", domain=dom)
    assert isinstance(op, Identity) and op.sigma_y == 0.5


@pytest.mark.parametrize("spec,why", [
    ("", "empty spec"),
    ("blur:3", "unknown operator 'blur'"),
    ("downsample", "one integer factor"),
    ("downsample:2,x", "not an integer"),
    ("identity:sigma=abc", "not a number"),
    ("identity:sigma=-1", "out of range"),
    ("mask", "exactly one mask"),
    ("fourier:a.npy,mask=b.npy", "exactly one mask"),
    ("fourier:random=0.5,centered=maybe", "not true/false"),
    ("identity:sigma=0.1,,", "empty argument"),
    ("identity:color=red", "unknown argument"),
    ("mask:m.txt", "must be a .npy"),
])
def test_bad_specs_show_the_grammar(spec, why):
    with pytest.raises(ValueError) as e:
        parse_operator(spec, spatial_shape=(4, 4))
    assert why in str(e.value) and GRAMMAR in str(e.value)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        parse_operator("mask:nope.npy", base_dir=tmp_path)
    np.save(tmp_path / "half.npy", np.full((4,), 0.5))
    with pytest.raises(ValueError, match="only 0 and 1"):
        parse_operator("mask:half.npy", base_dir=tmp_path)
