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
from attrbench.fpa.folder import SampleSet
from attrbench.fpa.paper import AUGMENT_LABELS, AUGMENT_ORDER, ordered
from attrbench.reporting.format import save_figure
from attrbench.reporting.map_grid import Panel, map_grid

__all__ = ["heatmaps_figure", "plot_heatmaps", "truncate_maps"]


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


def heatmaps_figure(samples: Mapping[str, SampleSet], variants: Sequence[str] = ("IG_sum",),
                    augmentations: Sequence[str] | None = None, n_images: int = 4,
                    truncate_percentile: float | None = 98.0,
                    clip_percentile: float = 99.0) -> Figure:
    """Fig. 5(c) style grid: rows = images, columns = the image and one map per (augmentation,
    variant), each map truncated and clipped on its own and drawn as a signed panel of
    :func:`~attrbench.reporting.map_grid.map_grid` (red = evidence, blue = counter-evidence).

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
    shown = {(a, v): (truncate_maps(samples[a].maps[v], truncate_percentile, clip_percentile)[0],
                      {int(i): k for k, i in enumerate(samples[a].image_ids)})
             for a, v in columns}
    cells: list[list[Panel | None]] = []
    for r, image_id in enumerate(ids):
        row: list[Panel | None] = [Panel(first.images[r], "image")]
        for key in columns:
            maps, index = shown[key]
            # each map on its own symmetric scale: +-max|truncated and clipped map|
            row.append(Panel(maps[index[int(image_id)]], "signed")
                       if int(image_id) in index else None)
        cells.append(row)
    return map_grid(cells, column_titles=["image"] + [f"{AUGMENT_LABELS.get(a, a)}\n{v}"
                                                      for a, v in columns],
                    row_labels=[f"id {int(i)}\nlabel {int(first.labels[r])}"
                                for r, i in enumerate(ids)])


def plot_heatmaps(samples: Mapping[str, SampleSet], path: str | Path,
                  variants: Sequence[str] = ("IG_sum",), augmentations: Sequence[str] | None = None,
                  n_images: int = 4, truncate_percentile: float | None = 98.0,
                  clip_percentile: float = 99.0) -> Path:
    """Save :func:`heatmaps_figure` as a PNG (dpi 110) and return its path."""
    fig = heatmaps_figure(samples, variants, augmentations, n_images, truncate_percentile,
                          clip_percentile)
    return save_figure(fig, path)
