"""Multi-shot sampling: repeat, run, reduce; the order of shots and conditions."""

from __future__ import annotations

import pytest
import torch

from diffsci import Cond
from diffsci.diffusion import karras_sigmas
from diffsci.guidance import multishot, reduce_shots
from diffsci.operators import Identity


class Recorder:
    """A denoiser that returns its conditioning label (broadcast) and records what it saw."""

    def __init__(self):
        self.batches = []

    def __call__(self, x, sigma, cond=None):
        self.batches.append((x.shape[0], cond.label.clone() if cond is not None else None))
        return torch.zeros_like(x) + (cond.label.to(x.dtype)[:, None, None] if cond is not None else 0)


def test_shots_are_grouped_per_measurement_and_conditions_follow():
    den = Recorder()
    y = torch.tensor([[[10.0, 10.0]], [[20.0, 20.0]]])              # two measurements (B=2)
    cond = Cond(label=torch.tensor([1, 2]))
    out = multishot("dc", den, (2, 1, 2), karras_sigmas(3, 0.01, 1.0), operator=Identity(), measurement=y,
                    shots=3, cond=cond, generator=torch.Generator().manual_seed(0), sampler="euler",
                    max_batch=4)
    assert out.samples.shape == (2, 3, 1, 2) and out.mean.shape == (2, 1, 2) and out.shots == 3
    # hard DC with the identity returns y exactly: each group of shots belongs to its measurement
    assert torch.equal(out.samples[0], torch.full((3, 1, 2), 10.0))
    assert torch.equal(out.samples[1], torch.full((3, 1, 2), 20.0))
    assert torch.equal(out.std, torch.zeros(2, 1, 2))
    # chunks of <= 4 rows, labels repeated per shot: 1 1 1 2 | 2 2
    sizes = {b for b, _ in den.batches}
    assert sizes == {4, 2}
    assert torch.equal(den.batches[0][1], torch.tensor([1, 1, 1, 2]))


def test_reduce_shots_statistics():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(6, 2, 5, generator=g)
    r = reduce_shots(s, 3)
    assert torch.allclose(r.mean[1], s[3:].mean(0)) and torch.allclose(r.std[0], s[:3].std(0))
    with pytest.raises(ValueError, match="groups of 4"):
        reduce_shots(s, 4)


def test_batch_mismatch_and_bad_method():
    with pytest.raises(ValueError, match="batch 3"):
        multishot("dc", Recorder(), (2, 1, 2), karras_sigmas(2), operator=Identity(),
                  measurement=torch.zeros(3, 1, 2), shots=2)
    with pytest.raises(ValueError, match="unknown posterior sampling method 'mcmc'"):
        multishot("mcmc", Recorder(), (2, 1, 2), karras_sigmas(2), operator=Identity(),
                  measurement=torch.zeros(2, 1, 2), shots=2)
