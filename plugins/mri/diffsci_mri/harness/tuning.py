"""Grid search of one positive hyper-parameter (CS lambda, DPS step size) on training slices, with the
bracket widened when the best value sits on the edge of the grid.

A best value at the grid's edge says only that the optimum lies beyond it (session 3: DPS at 3.0, the top
of 0.3/1/3). So the search steps past that edge by the grid's outer ratio while the score keeps rising,
at most ``expand`` times; every value tried and its score are returned for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["tune"]


def tune(grid: Sequence[float], score: Callable[[float], float], *, expand: int = 2) -> tuple[float, dict]:
    """(best value, {value: score}) maximising ``score`` over ``grid`` (sorted, positive), widened at an edge.

    >>> best, tried = tune([0.3, 1.0, 3.0], lambda z: -abs(z - 9.0))         # optimum beyond the grid
    >>> best, sorted(tried)
    (9.0, [0.3, 1.0, 3.0, 9.0, 27.0])
    >>> tune([1.0, 2.0, 4.0], lambda z: -abs(z - 2.0))[0]                     # inside: no extra evaluation
    2.0
    """
    values = sorted(float(v) for v in grid)
    if not values or values[0] <= 0:
        raise ValueError(f"tune: the grid must hold positive values, got {list(grid)}")
    tried = {v: float(score(v)) for v in values}
    for _ in range(expand if len(values) > 1 else 0):
        best, order = max(tried, key=tried.get), sorted(tried)
        if best == order[-1]:
            nxt = best * best / order[-2]                 # one outer ratio further up
        elif best == order[0]:
            nxt = best * best / order[1]                  # ... or down
        else:
            break
        tried[nxt] = float(score(nxt))
        if tried[nxt] <= tried[best]:
            break
    return max(tried, key=tried.get), tried
