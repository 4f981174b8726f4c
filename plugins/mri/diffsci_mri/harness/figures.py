"""Figures of the MRI harnesses (matplotlib, Agg backend): reconstructions with error and std maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffsci.figures import pyplot, save

__all__ = ["reconstruction_figure", "anomaly_figure"]


def _finish(fig, axes, title: str, path: str | Path) -> Path:
    """No ticks, the title, and the figure written to ``path`` (parents created)."""
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, path, title=title, title_size=10, tight=False, bbox_inches="tight")


def reconstruction_figure(path: str | Path, gt: np.ndarray, recons: dict[str, np.ndarray],
                          std: np.ndarray | None = None, title: str = "",
                          metrics: dict[str, dict[str, float]] | None = None, err_scale: float = 0.2) -> Path:
    """Row 1: ground truth and every reconstruction; row 2: the std map and |error| maps.

    Args:
        gt: (H, W) ground-truth magnitude; recons: method -> (H, W) magnitude.
        std: (H, W) per-pixel posterior std of the diffusion samples (None: left blank).
        metrics: method -> {"psnr": ..., "ssim": ...} written under each panel.
        err_scale: error maps are shown on [0, err_scale * max(gt)].
    """
    plt = pyplot()
    n = 1 + len(recons)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.9), squeeze=False)
    vmax = float(gt.max())
    axes[0, 0].imshow(gt.T, cmap="gray", vmin=0, vmax=vmax, origin="lower")
    axes[0, 0].set_title("ground truth", fontsize=9)
    if std is not None:
        im = axes[1, 0].imshow(std.T, cmap="magma", vmin=0, vmax=err_scale * vmax, origin="lower")
        axes[1, 0].set_title("posterior std (diffusion)", fontsize=8)
    for j, (name, img) in enumerate(recons.items(), start=1):
        axes[0, j].imshow(img.T, cmap="gray", vmin=0, vmax=vmax, origin="lower")
        label = name
        if metrics and name in metrics:
            m = metrics[name]
            label += f"\n{m['psnr']:.2f} dB / {m['ssim']:.3f}"
        axes[0, j].set_title(label, fontsize=8)
        im = axes[1, j].imshow(np.abs(img - gt).T, cmap="magma", vmin=0, vmax=err_scale * vmax, origin="lower")
        axes[1, j].set_title(f"|error| {name}", fontsize=8)
    fig.colorbar(im, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01)
    return _finish(fig, axes, title, path)


def anomaly_figure(path: str | Path, images: list[np.ndarray], maps: list[np.ndarray], masks: list[np.ndarray],
                   titles: list[str], title: str = "") -> Path:
    """One column per example: image (with the ground-truth outline), anomaly map, thresholded map."""
    plt = pyplot()
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.8), squeeze=False)
    for j, (img, amap, m, t) in enumerate(zip(images, maps, masks, titles)):
        axes[0, j].imshow(img.T, cmap="gray", origin="lower")
        if m.any():
            axes[0, j].contour(m.T.astype(float), levels=[0.5], colors="r", linewidths=0.7, origin="lower")
        axes[0, j].set_title(t, fontsize=8)
        axes[1, j].imshow(amap.T, cmap="inferno", origin="lower")
        if m.any():
            axes[1, j].contour(m.T.astype(float), levels=[0.5], colors="c", linewidths=0.5, origin="lower")
        axes[1, j].set_title("anomaly map", fontsize=8)
    return _finish(fig, axes, title, path)
