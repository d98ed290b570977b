"""Reporting shared by the four benchmarks (FPA, ROAR / IteROAR, robustness, BAM).

Built only from stored results: the page builder (:class:`~attrbench.reporting.page.Page`, one
offline HTML file), the map-grid renderer (:func:`~attrbench.reporting.map_grid.map_grid`) and the
figure / number formats (:mod:`attrbench.reporting.format`: PNG rendering, fixed margins, p-values
and paired-difference cells). What goes on each page stays with its benchmark:
:mod:`attrbench.fpa.report`, :mod:`attrbench.roar.report`, :mod:`attrbench.robustness.report` and
:mod:`attrbench.bam.report`.
"""

from attrbench.reporting.format import (
    DPI,
    figure_png,
    format_cell,
    format_p,
    format_signed,
    margins,
    save_figure,
)
from attrbench.reporting.map_grid import Panel, map_grid
from attrbench.reporting.page import Page

__all__ = [
    "DPI",
    "Page",
    "Panel",
    "figure_png",
    "format_cell",
    "format_p",
    "format_signed",
    "map_grid",
    "margins",
    "save_figure",
]
