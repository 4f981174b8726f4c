"""Figures without a display: the Agg pyplot, and one way to write a figure (title, layout, PNG, close).

The engine and every plugin write their harness figures through :func:`save`, so that a figure is always
written the same way (parent folders created, the figure closed even when writing fails) and no plugin keeps
its own copy of these lines.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pyplot", "save"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed; harnesses run on servers)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: str | Path, *, title: str | None = None, title_size: float = 9, dpi: int = 110,
         tight: bool = True, **savefig_kw) -> Path:
    """Write ``fig`` to ``path`` and close it: ``title`` as its suptitle, tight layout (``tight``), ``dpi``;
    ``savefig_kw`` go to ``Figure.savefig`` (e.g. ``bbox_inches="tight"``). Parent folders are created.

    >>> import tempfile, os
    >>> plt = pyplot()
    >>> fig, ax = plt.subplots()
    >>> p = save(fig, os.path.join(tempfile.mkdtemp(), "sub", "f.png"), title="t")
    >>> p.exists(), plt.fignum_exists(fig.number)
    (True, False)
    """
    path = Path(path)
    try:
        if title:
            fig.suptitle(title, fontsize=title_size)
        if tight:
            fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, **savefig_kw)
    finally:
        pyplot().close(fig)
    return path
