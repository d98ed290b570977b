"""Sample heatmaps in the style of the FPA paper's Fig. 5(c): truncated, sign-preserving maps.

Paper, Fig. 5 caption: "pixels with IG_sum scores lower than the 98th percentile are set to zero,
and the importance scores are clipped at the 99th percentile"; percentiles are taken of ``|map|``
per map so that both the strongest evidence (red) and counter-evidence (blue) remain visible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from attrbench.errors import AttrbenchError
from attrbench.reporting.folder import SampleSet
from attrbench.reporting.paper import AUGMENT_LABELS, AUGMENT_ORDER, ordered
from attrbench.reporting.plots import margins, save_figure

__all__ = ["heatmaps_figure", "plot_heatmaps", "truncate_maps"]

_CMAP = "bwr"  # diverging, white at 0: red = evidence for the class, blue = counter-evidence


def truncate_maps(maps: np.ndarray, truncate_percentile: float | None = 98.0,
                  clip_percentile: float = 99.0) -> tuple[np.ndarray, np.ndarray]:
    """Zero the weak scores of each map and clip the strong ones, per map (vectorised).

    Args:
        maps: ``(N, H, W)`` signed importance maps.
        truncate_percentile: scores with ``|m|`` below this percentile of ``|m|`` (per map) are set
            to 0; ``None`` keeps every score.
        clip_percentile: per-map colour limit ``v = percentile(|m|, clip_percentile)``; shown values
            are clipped to ``[-v, v]``.

    Returns:
        ``(shown (N, H, W), vmax (N,))``; ``vmax`` is > 0 (1 for an all-zero map).
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise AttrbenchError(f"maps must have shape (N, H, W); got {maps.shape}.")
    limits = (("truncate_percentile", truncate_percentile), ("clip_percentile", clip_percentile))
    for name, p in limits:
        if p is not None and not 0.0 <= p <= 100.0:
            raise AttrbenchError(f"{name} must lie in [0, 100]; got {p}.")
    mag = np.abs(np.nan_to_num(maps))
    shown = np.nan_to_num(maps)
    if truncate_percentile is not None:
        thresh = np.percentile(mag, truncate_percentile, axis=(1, 2), keepdims=True)
        shown = np.where(mag >= thresh, shown, 0.0)
    vmax = np.percentile(mag, clip_percentile, axis=(1, 2))
    vmax = np.where(vmax > 0, vmax, np.where(mag.max(axis=(1, 2)) > 0, mag.max(axis=(1, 2)), 1.0))
    shown = np.clip(shown, -vmax[:, None, None], vmax[:, None, None])
    return shown, vmax


def _display_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``(C, H, W)`` in [0, 1] -> an array imshow takes, and a colormap for 1-channel images."""
    img = np.clip(image, 0.0, 1.0)
    if img.shape[0] == 1:
        return img[0], "gray"
    return np.transpose(img[:3], (1, 2, 0)), None


def heatmaps_figure(samples: Mapping[str, SampleSet], variants: Sequence[str] = ("IG_sum",),
                    augmentations: Sequence[str] | None = None, n_images: int = 4,
                    truncate_percentile: float | None = 98.0,
                    clip_percentile: float = 99.0) -> Figure:
    """Fig. 5(c) style grid: rows = images, columns = the image and one map per (augmentation,
    variant), diverging colormap symmetric around 0, each map truncated and clipped on its own.

    Args:
        samples: augmentation -> :class:`SampleSet` (``samples/<augmentation>.npz``).
        variants: variants to show, if stored (at least one must be).
        augmentations: column groups; default all stored, in the paper's order.
        n_images: rows: the first ``n_images`` images of the first augmentation's file (matched
            by image id in the others).
        truncate_percentile: see :func:`truncate_maps`.
        clip_percentile: see :func:`truncate_maps`.

    Raises:
        AttrbenchError: no samples, an unknown augmentation, or none of ``variants`` stored.
    """
    if not samples:
        raise AttrbenchError(
            "No sample maps stored (samples/*.npz); rerun the evaluation with samples.")
    augs = list(augmentations) if augmentations else ordered(list(samples), AUGMENT_ORDER)
    unknown = [a for a in augs if a not in samples]
    if unknown:
        raise AttrbenchError(
            f"No samples for augmentation(s) {unknown}; stored: {sorted(samples)}.")
    columns = [(a, v) for a in augs for v in variants if v in samples[a].maps]
    if not columns:
        stored = sorted({v for a in augs for v in samples[a].maps})
        raise AttrbenchError(
            f"None of the variants {list(variants)} has stored maps; stored: {stored}.")
    first = samples[augs[0]]
    ids = first.image_ids[: max(1, n_images)]
    shown: dict[tuple[str, str], tuple[np.ndarray, dict[int, int]]] = {}
    for a, v in columns:
        maps, _ = truncate_maps(samples[a].maps[v], truncate_percentile, clip_percentile)
        vmax = np.abs(maps).max(axis=(1, 2))
        shown[(a, v)] = (maps / np.where(vmax > 0, vmax, 1.0)[:, None, None],
                         {int(i): k for k, i in enumerate(samples[a].image_ids)})
    ncols, nrows = 1 + len(columns), len(ids)
    fig = Figure(figsize=(1.4 * ncols + 0.6, 1.4 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False,
                        gridspec_kw=margins(fig, left=0.5, right=0.1, bottom=0.1, top=0.5,
                                            wspace=0.06, hspace=0.06))
    for r, image_id in enumerate(ids):
        img, cmap = _display_image(first.images[r])
        axes[r, 0].imshow(img, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        axes[r, 0].set_ylabel(f"id {int(image_id)}\nlabel {int(first.labels[r])}", fontsize=8)
        for c, key in enumerate(columns, start=1):
            maps, index = shown[key]
            ax = axes[r, c]
            if int(image_id) in index:
                # Maps are pre-scaled to [-1, 1] per map, so one symmetric colour range fits all.
                ax.imshow(maps[index[int(image_id)]], cmap=_CMAP, vmin=-1.0, vmax=1.0,
                          interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "not stored", ha="center", va="center", fontsize=7)
    axes[0, 0].set_title("image", fontsize=9)
    for c, (a, v) in enumerate(columns, start=1):
        axes[0, c].set_title(f"{AUGMENT_LABELS.get(a, a)}\n{v}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_heatmaps(samples: Mapping[str, SampleSet], path: str | Path,
                  variants: Sequence[str] = ("IG_sum",), augmentations: Sequence[str] | None = None,
                  n_images: int = 4, truncate_percentile: float | None = 98.0,
                  clip_percentile: float = 99.0) -> Path:
    """Save :func:`heatmaps_figure` as a PNG (dpi 110) and return its path."""
    fig = heatmaps_figure(samples, variants, augmentations, n_images, truncate_percentile,
                          clip_percentile)
    return save_figure(fig, path)
