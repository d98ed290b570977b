"""Figures of ROAR / KAR and IteROAR results, built from stored tables and masks only.

ROAR (Hooker et al. 2019, Fig. 4 style): test accuracy against the percentage removed, mean ± std
over the retrains. IteROAR (Palacio et al.): accuracy per iteration, MAMO and CMA bars beside their
random-mask expectations (Eqs. 2, 4), the pairwise-overlap matrix of Eq. (3), and example mask
sequences. :class:`matplotlib.figure.Figure` is used directly (no ``pyplot`` global state).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import pairwise_overlap
from attrbench.reporting.map_grid import Panel, map_grid

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#17becf", "#bcbd22", "#7f7f7f"]


def _colour(variant: str, variants: list[str]) -> str:
    return "#555555" if variant == "random" else _COLOURS[variants.index(variant) % len(_COLOURS)]


def _mean_std(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    g = frame.groupby(["variant", x])["test_accuracy"]
    return g.agg(mean="mean", std="std").fillna(0.0).reset_index()


def _with_reference(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """Copy the shared unmodified-data rows (variant ``none``) into every variant's curve."""
    ref = frame[frame.variant == "none"]
    parts = [frame[frame.variant != "none"]]
    for v in sorted(set(frame.variant) - {"none"}):
        parts.append(ref.assign(variant=v))
    return pd.concat(parts, ignore_index=True).sort_values(["variant", x])


def accuracy_figure(table: pd.DataFrame, x: str = "threshold") -> Figure:
    """Test accuracy vs ``x`` (``"threshold"`` for ROAR/KAR, ``"iteration"`` for IteROAR).

    Args:
        table: the stored ``accuracy`` table.
        x: the column on the horizontal axis.
    """
    if table.empty:
        raise AttrbenchError("No accuracy rows to plot; run the benchmark first.")
    stats = _mean_std(_with_reference(table, x), x)
    variants = sorted(set(stats.variant))
    fig = Figure(figsize=(6.2, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for v in variants:
        s = stats[stats.variant == v]
        ax.errorbar(s[x], s["mean"], yerr=s["std"], marker="o", ms=4, capsize=3, label=v,
                    color=_colour(v, variants), ls="--" if v == "random" else "-")
    bench = ", ".join(sorted(set(table["benchmark"]))).upper()
    ax.set_xlabel("% of features removed (t)" if x == "threshold" else "iteration i")
    if x == "iteration":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (mean ± std over retrains)")
    ax.set_title(f"{bench}: accuracy of models retrained on modified data", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def overlap_bars_figure(overlap: pd.DataFrame) -> Figure:
    """MAMO (fraction of each new mask already occluded) and CMA (fraction of A) per variant,
    mean ± std over repeats, with the random-mask expectation as a black tick."""
    if overlap.empty:
        raise AttrbenchError("No overlap rows to plot; run attrbench iteroar first.")
    fig = Figure(figsize=(8.5, 3.6))
    variants = sorted(set(overlap.variant))
    g = overlap.groupby("variant")
    panels = [("mamo_frac_mask", "random_mamo", "k", "MAMO / ‖m̄‖₀ (Eq. 2)"),
              ("cma_frac_area", "random_cma", "area", "CMA / A (Eq. 4)")]
    for p, (col, ref, denom, title) in enumerate(panels):
        ax = fig.add_subplot(1, 2, p + 1)
        mean = g[col].mean().reindex(variants)
        std = g[col].std().fillna(0.0).reindex(variants)
        expected = (g[ref].mean() / g[denom].mean()).reindex(variants)
        pos = np.arange(len(variants))
        ax.bar(pos, mean, yerr=std, capsize=3, color=[_colour(v, variants) for v in variants])
        ax.scatter(pos, expected, marker="_", s=400, color="black", zorder=3,
                   label="random-mask expectation")
        if col == "cma_frac_area" and "cma_frac_budget" in overlap:
            budget = float((overlap.cma / overlap.cma_frac_budget / overlap.area).mean())
            ax.axhline(budget, color="grey", ls=":", label="ρ (budget)")
        ax.set_xticks(pos, variants, rotation=30, ha="right", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pairwise_overlap_figure(masks: torch.Tensor, title: str = "") -> Figure:
    """Eq. (3): mean overlap ``E_j ‖m̄_i ⊙ m̄_n‖₀`` between every two iterations' masks.

    Args:
        masks: bool ``(T, B, *S)`` removal masks of one chain.
        title: panel title (e.g. the variant).
    """
    matrix = pairwise_overlap(masks).numpy()
    fig = Figure(figsize=(4.6, 3.9))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(matrix, cmap="viridis")
    fig.colorbar(im, ax=ax, label="mean overlapping pixels")
    ax.set_xlabel("iteration n")
    ax.set_ylabel("iteration i")
    ax.set_title(title or "pairwise mask overlap (Eq. 3)", fontsize=9)
    fig.tight_layout()
    return fig


def mask_sequence_figure(masks: torch.Tensor, samples: int = 4, title: str = "") -> Figure:
    """Example mask sequences: one row per sample, one column per iteration, each mask drawn in
    yellow over the union of the earlier ones (grey); red = re-marked (already occluded) pixels.

    Args:
        masks: bool ``(T, B, H, W)`` (or ``(T, B, C, H, W)``, reduced by "any" over channels).
        samples: rows to draw (the first ``samples`` images).
        title: figure title.
    """
    if masks.dim() == 5:
        masks = masks.any(2)
    steps, n = masks.shape[:2]
    rows = min(samples, n)
    colours = np.array([[1.0, 1.0, 1.0], [0.75, 0.75, 0.75], [1.0, 0.85, 0.1], [0.85, 0.1, 0.1]])
    cells: list[list[Panel | None]] = [[] for _ in range(rows)]
    earlier = torch.zeros_like(masks[0])
    for i in range(steps):
        code = earlier.long() + 2 * masks[i].long()  # 0 none, 1 earlier, 2 new, 3 re-marked
        for j in range(rows):
            cells[j].append(Panel(colours[code[j].numpy()].transpose(2, 0, 1), "image"))
        earlier = earlier | masks[i]
    return map_grid(cells, column_titles=[f"i={i}" for i in range(steps)], cell_inches=1.1,
                    title=title or "mask sequences (yellow new, grey earlier, red re-marked)")
