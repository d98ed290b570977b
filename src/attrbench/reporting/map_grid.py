"""One grid renderer for images and attribution maps, used by every benchmark's report.

A grid is rows x columns of :class:`Panel` s (typically images x methods, the image itself in the
first column). Each panel says what it holds:

- ``"image"``: pixels ``(C, H, W)``, ``C`` = 1 (grey) or 3 (RGB), values in [0, 1] (clipped).
- ``"signed"``: a map ``(H, W)`` whose sign matters (evidence vs counter-evidence), drawn with the
  diverging :data:`SIGNED_CMAP` (red > 0, white = 0, blue < 0) on ``[-vmax, vmax]``.
- ``"unsigned"``: a map ``(H, W)`` of magnitudes, drawn with :data:`UNSIGNED_CMAP` (black = 0) on
  ``[0, vmax]``.

``vmax`` defaults to the panel's own largest magnitude (1 for an all-zero map), so each map is on
its own scale; pass one ``vmax`` to put several maps on a common scale. NaN is drawn as 0.
What goes into the panels (which images, which maps, any truncation such as the FPA paper's
Fig. 5 percentiles) is the calling report's choice; this module only draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from matplotlib.figure import Figure

from attrbench.errors import AttrbenchError
from attrbench.reporting.format import margins

__all__ = ["SIGNED_CMAP", "UNSIGNED_CMAP", "Panel", "map_grid"]

SIGNED_CMAP = "bwr"  # diverging, white at 0
UNSIGNED_CMAP = "gray"  # black = 0, as the BAM paper's saliency figures

PanelKind = Literal["image", "signed", "unsigned"]


@dataclass(frozen=True)
class Panel:
    """One cell of a :func:`map_grid`.

    Attributes:
        data: ``(C, H, W)`` pixels in [0, 1] for ``kind="image"``; ``(H, W)`` scores otherwise.
        kind: ``"image"``, ``"signed"`` or ``"unsigned"`` (see the module docstring).
        vmax: colour limit of a map (> 0); ``None``: the map's own largest magnitude.
        title: a title above this panel (e.g. per image when a grid wraps); over a column title.
    """

    data: np.ndarray
    kind: PanelKind = "signed"
    vmax: float | None = None
    title: str = ""

    def __post_init__(self) -> None:
        data = np.asarray(self.data, dtype=np.float64)
        if self.kind == "image":
            if data.ndim != 3 or data.shape[0] not in (1, 3):
                raise AttrbenchError(f"An image panel needs pixels (C, H, W) with C = 1 or 3; "
                                     f"got shape {data.shape}.")
        elif self.kind in ("signed", "unsigned"):
            if data.ndim != 2:
                raise AttrbenchError(f"A {self.kind} map panel needs shape (H, W); got "
                                     f"{data.shape}. Reduce the channels first.")
        else:
            raise AttrbenchError(f"Unknown panel kind {self.kind!r}; use image, signed or "
                                 "unsigned.")
        if self.vmax is not None and not self.vmax > 0:
            raise AttrbenchError(f"vmax must be > 0; got {self.vmax}.")
        object.__setattr__(self, "data", data)

    def draw_args(self) -> tuple[np.ndarray, dict[str, object]]:
        """The array for ``imshow`` and its keyword arguments (colour map and limits)."""
        if self.kind == "image":
            img = np.clip(np.nan_to_num(self.data), 0.0, 1.0)
            if img.shape[0] == 1:
                return img[0], {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
            return np.transpose(img, (1, 2, 0)), {"vmin": 0.0, "vmax": 1.0}
        values = np.nan_to_num(self.data)
        vmax = self.vmax
        if vmax is None:
            peak = float(np.abs(values).max()) if values.size else 0.0
            vmax = peak if peak > 0 else 1.0
        if self.kind == "signed":
            return values, {"cmap": SIGNED_CMAP, "vmin": -vmax, "vmax": vmax}
        return values, {"cmap": UNSIGNED_CMAP, "vmin": 0.0, "vmax": vmax}


def map_grid(cells: Sequence[Sequence[Panel | None]], *,
             column_titles: Sequence[str] | None = None,
             row_labels: Sequence[str] | None = None, title: str = "",
             cell_inches: float = 1.4, missing: str = "not stored") -> Figure:
    """Draw ``cells`` (rows of panels) as one figure, one axes per cell, no ticks.

    Args:
        cells: ``R`` rows of ``K`` panels each; ``None`` draws the text ``missing`` instead
            (``missing=""``: a blank cell without a frame).
        column_titles: ``K`` titles above the first row.
        row_labels: ``R`` labels left of each row.
        title: a figure title above everything.
        cell_inches: side of one cell in inches.
        missing: text of an empty (``None``) cell.

    Returns:
        A :class:`matplotlib.figure.Figure` (no pyplot state), axes row-major: ``fig.axes[r * K
        + k]`` is cell ``(r, k)``; each drawn panel is its axes' ``images[0]``.

    Raises:
        AttrbenchError: no cells, rows of different lengths, or titles/labels of the wrong count.
    """
    rows = [list(r) for r in cells]
    if not rows or not rows[0]:
        raise AttrbenchError("A map grid needs at least one row with one panel.")
    ncols, nrows = len(rows[0]), len(rows)
    if any(len(r) != ncols for r in rows):
        raise AttrbenchError(f"Every row of a map grid needs {ncols} panels; got "
                             f"{[len(r) for r in rows]}.")
    if column_titles is not None and len(column_titles) != ncols:
        raise AttrbenchError(f"{len(column_titles)} column titles for {ncols} columns.")
    if row_labels is not None and len(row_labels) != nrows:
        raise AttrbenchError(f"{len(row_labels)} row labels for {nrows} rows.")
    titled = [any(p is not None and p.title for p in row) for row in rows]
    top = (0.5 if column_titles is not None or titled[0] else 0.1) + (0.35 if title else 0.0)
    left = 0.5 if row_labels is not None else 0.1
    gaps = 0.3 * (nrows - 1) if any(titled[1:]) else 0.0  # room for later rows' titles
    hspace = 0.3 if gaps else 0.06
    fig = Figure(figsize=(cell_inches * ncols + left + 0.1,
                          cell_inches * (nrows + gaps) + top + 0.1))
    axes = fig.subplots(nrows, ncols, squeeze=False,
                        gridspec_kw=margins(fig, left=left, right=0.1, bottom=0.1, top=top,
                                            wspace=0.06, hspace=hspace))
    for r, row in enumerate(rows):
        for k, panel in enumerate(row):
            ax = axes[r, k]
            if panel is None:
                if not missing:
                    ax.set_axis_off()
                ax.text(0.5, 0.5, missing, ha="center", va="center", fontsize=7)
            else:
                data, kwargs = panel.draw_args()
                ax.imshow(data, interpolation="nearest", **kwargs)
            ax.set_xticks([])
            ax.set_yticks([])
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    for k, text in enumerate(column_titles or ()):
        axes[0, k].set_title(text, fontsize=9)
    for r, row in enumerate(rows):
        for k, panel in enumerate(row):
            if panel is not None and panel.title:
                axes[r, k].set_title(panel.title, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 - 0.08 / fig.get_size_inches()[1], va="top")
    return fig
