"""Figures of the harness: orthogonal slices of real and generated volumes, S2 curves, permeability and
porosity control, in one PNG (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffsci.figures import pyplot, save

__all__ = ["generation_figure", "slices_figure", "s2_lag_figure", "surface_porosity_figure"]


def _mid_slices(v: np.ndarray) -> list[np.ndarray]:
    if v.ndim == 2:
        return [v]
    return [v[v.shape[0] // 2], v[:, v.shape[1] // 2], v[:, :, v.shape[2] // 2]]


def slices_figure(path: str | Path, rows: dict[str, np.ndarray], *, title: str | None = None) -> Path:
    """One row per named set of volumes: the three orthogonal mid-slices of its first two volumes
    (pore black, grain white, as micro-CT)."""
    plt = pyplot()
    n_cols = max(len(_mid_slices(v[0])) * min(2, len(v)) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.8 * n_cols, 1.9 * len(rows)), squeeze=False)
    for r, (name, vols) in enumerate(rows.items()):
        panels = [s for v in vols[:2] for s in _mid_slices(v)]
        for c in range(n_cols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(panels):
                ax.imshow(~panels[c], cmap="gray", interpolation="nearest", vmin=0, vmax=1)
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    return save(fig, path, title=title)


def generation_figure(path: str | Path, *, real, generated: dict, volumes: dict[str, np.ndarray],
                      control: dict | None = None, published: dict | None = None,
                      title: str | None = None) -> Path:
    """Slices (real and each generated set), radial and per-axis S2, permeability, porosity control.

    Args:
        real, generated: VolumeStats of the real sub-volumes and of each generated set (by method name).
        volumes: method name -> (N, *spatial) bool, for the slice panels.
        control: {"targets": [...], "achieved": [[...] per target]} or None.
        published: method -> {"permeability_md": (mean, std, setting)} drawn as reference bars.
    """
    plt = pyplot()
    sets = list(volumes)
    fig = plt.figure(figsize=(13, 3.0 + 1.9 * len(sets)))
    gs = fig.add_gridspec(len(sets) + 2, 6, height_ratios=[1.0] * len(sets) + [0.15, 1.6])
    for r, name in enumerate(sets):
        vols = volumes[name]
        panels = [s for v in vols[:2] for s in _mid_slices(v)]
        for c in range(min(6, len(panels))):
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(~panels[c], cmap="gray", interpolation="nearest", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    colors = {"real": "k"}
    # S2 radial (mean +- std over volumes) and per axis
    ax = fig.add_subplot(gs[-1, 0:2])
    allstats = {"real": real, **generated}
    for i, (name, st) in enumerate(allstats.items()):
        col = colors.get(name, _PALETTE[i % len(_PALETTE)])
        m, s = st.s2_radial.mean(0), st.s2_radial.std(0)
        r = np.arange(len(m))
        ax.plot(r, m, color=col, lw=1.6, label=name)
        ax.fill_between(r, m - s, m + s, color=col, alpha=0.15)
        for a in range(st.s2_axes.shape[1]):
            ax.plot(r, st.s2_axes[:, a].mean(0), color=col, lw=0.6, ls=":")
    phi = real.values["porosity"].mean()
    ax.axhline(phi ** 2, color="gray", lw=0.6, ls="--")
    ax.set_xlabel("lag r (voxels)")
    ax.set_ylabel("S2(r)  (dotted: per axis)")
    ax.legend(fontsize=7)
    # permeability distributions
    ax = fig.add_subplot(gs[-1, 2:4])
    if "permeability_md" in real.values:
        data, labels = [], []
        for name, st in allstats.items():
            if "permeability_md" in st.values:
                k = np.asarray(st.values["permeability_md"], float)
                data.append(k[np.isfinite(k)])                       # a failed network is left out
                labels.append(name)
        ax.boxplot(data, showmeans=True)
        for name, ref in (published or {}).items():
            if "permeability_md" in ref:
                m, s, setting = ref["permeability_md"]
                labels.append(f"{name}\n({setting})")
                ax.errorbar([len(labels)], [m], yerr=[s], fmt="s", color="gray", capsize=3)
        ax.set_xticks(range(1, len(labels) + 1), [x.replace("diffusion_", "") for x in labels], fontsize=6,
                      rotation=30, ha="right")       # the long variant names would overlap
        ax.set_ylabel("permeability (mD)")
    else:
        ax.text(0.5, 0.5, "permeability not computed", ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
    # porosity control
    ax = fig.add_subplot(gs[-1, 4:6])
    if control:
        t = np.asarray(control["targets"])
        for ti, ach in zip(t, control["achieved"]):
            ax.plot([ti] * len(ach), ach, "o", color="tab:red", ms=3, alpha=0.6)
        ax.plot(t, [np.mean(a) for a in control["achieved"]], "s-", color="tab:red", label="achieved (mean)")
        lo, hi = t.min() - 0.03, t.max() + 0.03
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="target")
        ax.set_xlabel("target porosity")
        ax.set_ylabel("porosity of the generated volume")
        ax.legend(fontsize=7)
    else:
        ax.axis("off")
    return save(fig, path, title=title, dpi=100)


#: colours of the generated sets in every figure (the real set is black)
_PALETTE = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown"]


def _finish(fig, ax, path, title: str | None) -> Path:
    """Legend, axis title and a 100-dpi PNG of a one-axis figure, closed after writing."""
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return save(fig, path, dpi=100)


def s2_lag_figure(path: str | Path, by_lag: dict, *, title: str | None = None) -> Path:
    """(S2_gen - S2_real) / porosity by lag for each generated set, the judged one bold, over the 5-95 % band of a
    perfect porosity-matched generator when ``by_lag`` has it (the harness's ``report.extra["s2_by_lag"]``)."""
    plt = pyplot()
    r = np.asarray(by_lag["r"])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    if "perfect_p5" in by_lag:
        ax.fill_between(r, by_lag["perfect_p5"], by_lag["perfect_p95"], color="gray", alpha=0.3,
                        label="perfect generator, 5-95 %")
    skip = {"r", "judged", "perfect_p5", "perfect_p95", "judged_outside_band"}
    for i, name in enumerate(k for k in by_lag if k not in skip):
        bold = name == by_lag.get("judged")
        ax.plot(r, by_lag[name], color=_PALETTE[i % len(_PALETTE)], lw=1.8 if bold else 0.8,
                label=name + (" (judged)" if bold else ""))
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("lag r (voxels)")
    ax.set_ylabel("(S2 generated - S2 real) / porosity")
    return _finish(fig, ax, path, title)


def surface_porosity_figure(path: str | Path, by_phi: dict, *, judged: str | None = None,
                            title: str | None = None) -> Path:
    """Specific surface against porosity, one point per volume: the real set and each generated one (the harness's
    ``report.extra["surface_by_porosity"]``); the judged set is joined to the real volume it was generated for."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    real = by_phi["real"]
    ax.scatter(real["porosity"], real["specific_surface"], color="k", s=22, label="real", zorder=3)
    for i, (name, d) in enumerate((k, v) for k, v in by_phi.items() if k != "real"):
        bold = name == judged
        ax.scatter(d["porosity"], d["specific_surface"], color=_PALETTE[i % len(_PALETTE)], s=18 if bold else 8,
                   alpha=1.0 if bold else 0.6, label=name + (" (judged)" if bold else ""))
        if bold and "halves" in d:                       # paired with real volume i
            for x0, y0, x1, y1 in zip(real["porosity"], real["specific_surface"], d["porosity"],
                                      d["specific_surface"]):
                ax.plot([x0, x1], [y0, y1], color=_PALETTE[i % len(_PALETTE)], lw=0.6, alpha=0.6)
    ax.set_xlabel("porosity")
    ax.set_ylabel("specific surface (per voxel)")
    return _finish(fig, ax, path, title)
