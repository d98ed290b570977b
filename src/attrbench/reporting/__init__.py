"""Reporting: tables, figures and self-contained HTML reports, built only from stored results.

Shared by the four benchmarks: the page builder (:class:`~attrbench.reporting.page.Page`), the
map-grid renderer (:func:`~attrbench.reporting.map_grid.map_grid`) and the PNG writer
(:func:`~attrbench.reporting.plots.figure_png`). The rest is the FPA report (Brocki & Chung,
Sec. 4 and Appendices C-D): the fidelity table in the paper's layout, perturbation-curve figures
(Figs. 2-4), sample heatmaps (Fig. 5), claims and paired comparisons.
"""

from attrbench.reporting.aggregate import mean_curves
from attrbench.reporting.folder import ResultsFolder, SampleSet, load_results, load_samples
from attrbench.reporting.fpa_report import build_all, write_fpa_report
from attrbench.reporting.heatmaps import heatmaps_figure, plot_heatmaps, truncate_maps
from attrbench.reporting.map_grid import Panel, map_grid
from attrbench.reporting.page import Page
from attrbench.reporting.paper import (
    AUGMENT_ORDER,
    PAPER_CIFAR10_ACCURACY,
    PAPER_CIFAR10_FIDELITY,
    VARIANT_ORDER,
)
from attrbench.reporting.plots import (
    curves_figure,
    fidelity_area_figure,
    lif_scores_figure,
    plot_curves,
    plot_fidelity_area,
    plot_lif_scores,
)
from attrbench.reporting.tables import (
    best_per_row,
    fidelity_table,
    layout_to_markdown,
    paper_layout,
    write_csv,
    write_markdown,
)

__all__ = [
    "AUGMENT_ORDER",
    "PAPER_CIFAR10_ACCURACY",
    "PAPER_CIFAR10_FIDELITY",
    "Page",
    "Panel",
    "VARIANT_ORDER",
    "ResultsFolder",
    "SampleSet",
    "best_per_row",
    "build_all",
    "curves_figure",
    "fidelity_area_figure",
    "fidelity_table",
    "heatmaps_figure",
    "layout_to_markdown",
    "lif_scores_figure",
    "load_results",
    "load_samples",
    "map_grid",
    "mean_curves",
    "paper_layout",
    "plot_curves",
    "plot_fidelity_area",
    "plot_heatmaps",
    "plot_lif_scores",
    "truncate_maps",
    "write_csv",
    "write_markdown",
    "write_fpa_report",
]
