"""Figures of the harnesses (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffsci.figures import pyplot, save

__all__ = ["plot_denoising_examples", "plot_beats_by_class", "plot_anomaly_examples"]


def plot_denoising_examples(path: str | Path, fs: float, rows: list[dict]) -> Path:
    """One panel per example: clean, noisy, every estimate, and the posterior mean +- 2 std band.

    rows: dicts with "title", "clean", "noisy", "estimates" {name: (L,)}, optional "std" (L,) around
    the estimate named "diffusion".
    """
    plt = pyplot()
    n = len(rows)
    cols = min(3, n)
    r = int(np.ceil(n / cols))
    fig, axes = plt.subplots(r, cols, figsize=(5 * cols, 3.2 * r), squeeze=False)
    for ax, row in zip(axes.ravel(), rows):
        t = np.arange(len(row["clean"])) / fs
        ax.plot(t, row["noisy"], color="0.75", lw=0.8, label="noisy")
        ax.plot(t, row["clean"], color="k", lw=1.4, label="clean")
        for name, est in row["estimates"].items():
            ax.plot(t, est, lw=1.0, label=name)
        if row.get("std") is not None and "diffusion" in row["estimates"]:
            m = row["estimates"]["diffusion"]
            ax.fill_between(t, m - 2 * row["std"], m + 2 * row["std"], color="C2", alpha=0.25, lw=0,
                            label="diffusion +-2 std")
        lo, hi = np.min(row["clean"]), np.max(row["clean"])
        pad = 0.6 * (hi - lo + 1e-6)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(row["title"], fontsize=9)
        ax.set_xlabel("s")
        ax.set_ylabel("mV")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7, loc="upper right")
    return save(fig, path)


def plot_beats_by_class(path: str | Path, fs: float, groups: dict[str, np.ndarray | None], title: str = "",
                        max_per_group: int = 8, xlabel: str = "s", ncols: int | None = None) -> Path:
    """One panel per group (e.g. "real V", "synthetic V"), up to ``max_per_group`` beats overlaid, ``ncols`` panels
    to a row (default: all in one row); a group of None leaves its panel blank (keeps a grid of class rows aligned)."""
    plt = pyplot()
    k = len(groups)
    if k == 0:
        raise ValueError(f"{path}: no groups of beats to plot")
    cols = min(k, ncols or k)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows + 0.4), squeeze=False, sharey=True)
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    for ax, (name, x) in zip(axes.ravel(), groups.items()):
        if x is None:
            ax.axis("off")
            continue
        x = np.asarray(x).reshape(len(x), -1)[:max_per_group]
        t = np.arange(x.shape[-1]) / fs
        for row in x:
            ax.plot(t, row, lw=0.7, alpha=0.8)
        ax.set_title(f"{name} (n={len(x)})", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("mV")
    return save(fig, path, title=title, title_size=10)


def plot_anomaly_examples(path: str | Path, fs: float, rows: list[dict]) -> Path:
    """Beats with their time-point anomaly map shaded underneath; rows: {"title", "x" (L,), "map" (L,)}."""
    plt = pyplot()
    n = len(rows)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 4.2), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [2, 1]})
    for j, row in enumerate(rows):
        t = np.arange(len(row["x"])) / fs
        axes[0, j].plot(t, row["x"], color="k", lw=0.9)
        if row.get("recon") is not None:
            axes[0, j].plot(t, row["recon"], color="C1", lw=0.8, label="reconstruction")
        axes[0, j].set_title(row["title"], fontsize=9)
        axes[1, j].fill_between(t, 0, row["map"], color="C3", alpha=0.6)
        axes[1, j].set_xlabel("s")
    axes[0, 0].set_ylabel("mV")
    axes[1, 0].set_ylabel("anomaly map")
    return save(fig, path)
