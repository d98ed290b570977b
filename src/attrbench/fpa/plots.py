"""Perturbation-curve figures in the style of the FPA paper's Figs. 2, 3, 4 and App. C.1-C.3.

Built from stored curve rows only. Figures are made with :class:`matplotlib.figure.Figure` directly
(no ``pyplot``), so rendering needs no display, uses the Agg canvas and changes no global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from attrbench.errors import unknown_name_error
from attrbench.fpa.aggregate import mean_curves
from attrbench.fpa.paper import AUGMENT_LABELS, AUGMENT_ORDER, VARIANT_ORDER, ordered
from attrbench.reporting.format import margins, save_figure

__all__ = [
    "curves_figure",
    "fidelity_area_figure",
    "lif_scores_figure",
    "plot_curves",
    "plot_fidelity_area",
    "plot_lif_scores",
]

_ORDER_COLOURS = {"MIF": "#1f77b4", "LIF": "#ff7f0e"}  # the paper's Fig. 2: MIF blue, LIF orange
_AUG_COLOURS = {"none": "#1f77b4", "fpa": "#d62728", "rectangle": "#2ca02c"}
_EXTRA_COLOURS = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _lines(means: pd.DataFrame, augment_order: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """(model, augmentation, legend label, colour) of each line, in display order."""
    pairs = means[["model", "augmentation"]].drop_duplicates()
    augs = ordered(list(pairs["augmentation"]), tuple(augment_order))
    several_models = pairs["model"].nunique() > 1
    out = []
    extra = iter(_EXTRA_COLOURS * 10)
    for model in sorted(pairs["model"].unique()):
        for aug in augs:
            if not ((pairs["model"] == model) & (pairs["augmentation"] == aug)).any():
                continue
            label = AUGMENT_LABELS.get(aug, aug) + (f" ({model})" if several_models else "")
            colour = _AUG_COLOURS.get(aug) if not several_models else None
            out.append((model, aug, label, colour or next(extra)))
    return out


def _pick(means: pd.DataFrame, model: str, aug: str, variant: str, order: str) -> pd.DataFrame:
    sel = ((means["model"] == model) & (means["augmentation"] == aug)
           & (means["variant"] == variant) & (means["order"] == order))
    return means[sel].sort_values("step")


def _check_variant(means: pd.DataFrame, variant: str) -> None:
    if variant not in set(means["variant"]):
        raise unknown_name_error("variant", variant, set(means["variant"]))


def curves_figure(curves: pd.DataFrame, variants: Sequence[str] | None = None,
                  augment_order: Sequence[str] = AUGMENT_ORDER, *,
                  means: pd.DataFrame | None = None) -> Figure:
    """Fig. 3 / App. C.1-C.2 style grid: mean normalised logit vs % pixels masked.

    One column per variant (Random included), MIF in the top row and LIF in the bottom row, one
    line per augmentation. Each mean curve is divided by its own first value, as in the authors'
    plots (NOTES §1.7).

    Args:
        curves: tidy rows with the columns of ``CURVE_SCHEMA``.
        variants: the panels, in order; default all stored variants in the paper's order.
        augment_order: line order (and colours none = blue, FPA = red, Rectangle = green).
        means: ``mean_curves(curves)`` if already computed (saves time on large results).
    """
    means = mean_curves(curves) if means is None else means
    panels = list(variants) if variants else ordered(list(means["variant"]), VARIANT_ORDER)
    for v in panels:
        _check_variant(means, v)
    lines = _lines(means, augment_order)
    fig = Figure(figsize=(1.9 * len(panels) + 1.0, 4.8))
    axes = fig.subplots(2, len(panels), sharex=True, sharey="row", squeeze=False,
                        gridspec_kw=margins(fig, left=0.85, right=0.12, bottom=0.5, top=0.7,
                                            wspace=0.08, hspace=0.1))
    for col, variant in enumerate(panels):
        for row, order in enumerate(("MIF", "LIF")):
            ax: Axes = axes[row, col]
            for model, aug, _label, colour in lines:
                m = _pick(means, model, aug, variant, order)
                if not m.empty:
                    ax.plot(m["percent"], m["normalised"], color=colour, lw=1.4)
            ax.axhline(1.0, color="0.75", lw=0.6, zorder=0)
            ax.grid(alpha=0.25)
            if row == 0:
                ax.set_title(variant, fontsize=10)
            else:
                ax.set_xlabel("% pixels masked", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{order}\nnormalised logit", fontsize=9)
            ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color=c, lw=2, label=lab) for _, _, lab, c in lines]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9,
               frameon=False)
    return fig


def fidelity_area_figure(curves: pd.DataFrame, variant: str = "IG_sum",
                         augment_order: Sequence[str] = AUGMENT_ORDER,
                         table: pd.DataFrame | None = None, *,
                         means: pd.DataFrame | None = None) -> Figure:
    """Fig. 2 style: MIF (blue) and LIF (orange) mean normalised curves of one variant, the area
    between them shaded, one panel per augmentation; the panel title gives A ± CI from ``table``.

    Args:
        curves: tidy rows with the columns of ``CURVE_SCHEMA``.
        variant: the estimator variant shown (default ``IG_sum``).
        augment_order: panel order.
        table: optional :func:`~attrbench.fpa.tables.fidelity_table` output for the titles.
        means: ``mean_curves(curves)`` if already computed.
    """
    means = mean_curves(curves) if means is None else means
    _check_variant(means, variant)
    means = means[means["variant"] == variant]
    lines = _lines(means, augment_order)
    fig = Figure(figsize=(2.9 * len(lines) + 0.8, 3.2))
    axes = fig.subplots(1, len(lines), sharey=True, squeeze=False,
                        gridspec_kw=margins(fig, left=0.7, right=0.12, bottom=0.5, top=0.5,
                                            wspace=0.06))[0]
    for ax, (model, aug, label, _c) in zip(axes, lines, strict=True):
        mif = _pick(means, model, aug, variant, "MIF")
        lif = _pick(means, model, aug, variant, "LIF")
        ax.fill_between(mif["percent"], mif["normalised"], lif["normalised"].to_numpy(),
                        color="0.85", label="A")
        ax.plot(mif["percent"], mif["normalised"], color=_ORDER_COLOURS["MIF"], label="MIF")
        ax.plot(lif["percent"], lif["normalised"], color=_ORDER_COLOURS["LIF"], label="LIF")
        title = f"{label}: {variant}"
        if table is not None:
            row = table[(table["model"] == model) & (table["augmentation"] == aug)
                        & (table["variant"] == variant)]
            if not row.empty:
                title += f"\nA = {row['A'].iloc[0]:.1f} ± {row['ci'].iloc[0]:.1f}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("% pixels masked", fontsize=8)
        ax.grid(alpha=0.25)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("normalised logit", fontsize=9)
    axes[-1].legend(fontsize=8, loc="best")
    return fig


def lif_scores_figure(curves: pd.DataFrame, variant: str = "IG_sum",
                      augment_order: Sequence[str] = AUGMENT_ORDER, *,
                      means: pd.DataFrame | None = None) -> Figure:
    """Fig. 4 / App. C.3 style: LIF mean normalised logit (top) and the mean importance of the
    pixels masked at each LIF step (bottom, bars coloured by sign), one column per augmentation.

    With a signed variant, LIF masks the most negative scores (counter-evidence) first; with FPA
    the logit rises while they are masked (paper Sec. 4.2). The stored score is the mean over the
    pixels of each step, so the bottom row is a per-step summary of the paper's per-pixel curve.

    Args:
        curves: tidy rows with the columns of ``CURVE_SCHEMA``.
        variant: a (preferably signed) variant; default ``IG_sum``.
        augment_order: column order.
        means: ``mean_curves(curves)`` if already computed.
    """
    means = mean_curves(curves) if means is None else means
    _check_variant(means, variant)
    means = means[(means["variant"] == variant) & (means["order"] == "LIF")]
    lines = _lines(means, augment_order)
    fig = Figure(figsize=(2.9 * len(lines) + 1.0, 4.6))
    axes = fig.subplots(2, len(lines), sharex=True, squeeze=False,
                        gridspec_kw=margins(fig, left=0.95, right=0.12, bottom=0.5, top=0.35,
                                            wspace=0.3, hspace=0.1))
    top_axes = list(axes[0])
    for ax in top_axes[1:]:
        ax.sharey(top_axes[0])
    for col, (model, aug, label, colour) in enumerate(lines):
        m = _pick(means, model, aug, variant, "LIF")
        top, bottom = axes[0, col], axes[1, col]
        top.plot(m["percent"], m["normalised"], color=colour, lw=1.5)
        top.axhline(1.0, color="0.75", lw=0.6, zorder=0)
        top.set_title(f"{label}: {variant} (LIF)", fontsize=9)
        pct = m["percent"].to_numpy()
        score = m["mean_score"].to_numpy()[1:]
        widths = np.diff(pct)
        bottom.bar(pct[:-1], score, width=widths, align="edge",
                   color=np.where(score < 0, "#2166ac", "#b2182b"), edgecolor="white", lw=0.3)
        bottom.axhline(0.0, color="0.3", lw=0.6)
        bottom.set_xlabel("% pixels masked (LIF order)", fontsize=8)
        for ax in (top, bottom):
            ax.grid(alpha=0.25)
            ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("normalised logit", fontsize=9)
    axes[1, 0].set_ylabel("mean importance\nof masked pixels", fontsize=9)
    return fig


def plot_curves(curves: pd.DataFrame, path: str | Path, variants: Sequence[str] | None = None,
                augment_order: Sequence[str] = AUGMENT_ORDER) -> Path:
    """Save :func:`curves_figure` as a PNG (dpi 110) and return its path."""
    return save_figure(curves_figure(curves, variants, augment_order), path)


def plot_fidelity_area(curves: pd.DataFrame, path: str | Path, variant: str = "IG_sum",
                       augment_order: Sequence[str] = AUGMENT_ORDER,
                       table: pd.DataFrame | None = None) -> Path:
    """Save :func:`fidelity_area_figure` as a PNG (dpi 110) and return its path."""
    return save_figure(fidelity_area_figure(curves, variant, augment_order, table), path)


def plot_lif_scores(curves: pd.DataFrame, path: str | Path, variant: str = "IG_sum",
                    augment_order: Sequence[str] = AUGMENT_ORDER) -> Path:
    """Save :func:`lif_scores_figure` as a PNG (dpi 110) and return its path."""
    return save_figure(lif_scores_figure(curves, variant, augment_order), path)
