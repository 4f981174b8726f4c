"""The hyper-parameter search widens its bracket at an edge and nowhere else."""

import pytest

from diffsci_mri.harness.tuning import tune


def _counted(f):
    calls = []

    def g(z):
        calls.append(z)
        return f(z)
    return g, calls


def test_widens_below_the_lowest_value_and_stops_when_the_score_falls():
    g, calls = _counted(lambda z: -(z - 1e-4) ** 2)                 # optimum below the grid 3e-4..8e-3
    best, tried = tune([3e-4, 1e-3, 2e-3, 4e-3, 8e-3], g)
    # 5 + 9e-5 (one step down by the outer ratio 1e-3/3e-4: better) + 2.7e-5 (worse: stop)
    assert best == pytest.approx(9e-5) and len(calls) == 7
    assert sorted(tried)[:2] == pytest.approx([2.7e-5, 9e-5])


def test_interior_optimum_and_budget():
    g, calls = _counted(lambda z: -abs(z - 1.0))
    assert tune([0.3, 1.0, 3.0], g) == (1.0, {0.3: -0.7, 1.0: 0.0, 3.0: -2.0}) and len(calls) == 3
    g, calls = _counted(lambda z: z)                                # always rising: at most `expand` more
    best, _ = tune([0.3, 1.0, 3.0], g, expand=2)
    assert best == pytest.approx(27.0) and len(calls) == 5
    assert tune([1.0], lambda z: z) == (1.0, {1.0: 1.0})            # one value: nothing to widen
    with pytest.raises(ValueError, match="positive"):
        tune([0.0, 1.0], lambda z: z)
