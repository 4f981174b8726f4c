"""Every posterior sampler against the exact posterior of a correlated linear-Gaussian problem.

Prior: a Gaussian random field on 8x8 (squared-exponential covariance, length 1.5, nugget 0.01) with
its exact denoiser; measurements with sigma_y = 0.1 through a random half-pixel mask, or the 3x3 lowest
plus a random 20% of the frequencies (real image). The problem is the one of ``diffsci bench inverse``
(see docs/inverse.md). Bounds are the values measured for this seeded configuration (2 measurements x
128 shots, 30 steps) with about 30% margin; the Monte-Carlo floor of the mean error is 1/sqrt(128) = 0.088.
Every method must also beat the prior mean (the no-data estimate) by a factor of 4 at least.
"""

from __future__ import annotations

import pytest

from diffsci.bench.inverse import posterior_errors, setup, evaluate

# measured (mean_err, cov_err) -> bounds; see the module docstring
BOUNDS = {
    "mask": {"oracle": (0.177, 0.30), "dc": (0.80, 1.40), "pigdm": (0.65, 0.70), "dps": (0.50, 0.42),
             "diffpir": (0.60, 0.62)},
    "fourier": {"oracle": (0.177, 0.45), "dc": (0.65, 1.35), "pigdm": (0.55, 1.05), "dps": (0.51, 0.55),
                "diffpir": (0.52, 0.62)},
}


@pytest.fixture(scope="module", params=["mask", "fourier"])
def problem(request):
    return request.param, setup(request.param, 2, seed=0)


def test_every_method_is_bounded_against_the_exact_posterior(problem):
    name, (prior, op, y, post) = problem
    baseline = sum(posterior_errors(prior.mean[None].expand(2, *prior.event_shape), m, C, prior.mean)["mean_err"]
                   for m, C in post) / len(post)
    for method, (mean_bound, cov_bound) in BOUNDS[name].items():
        row = evaluate(method, method, {}, prior, op, y, post, steps=30, shots=128, seed=1)
        assert row["mean_err"] < mean_bound, (name, method, row)
        assert row["cov_err"] < cov_bound, (name, method, row)
        assert row["mean_err"] < baseline / 4, (name, method, row["mean_err"], baseline)
