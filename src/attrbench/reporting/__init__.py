"""Reporting: tables, figures and a self-contained HTML report, built only from stored results.

FPA paper (Brocki & Chung), Sec. 4 and Appendices C-D: the fidelity table in the paper's layout,
perturbation-curve figures (Figs. 2-4) and sample heatmaps (Fig. 5).
"""

from attrbench.reporting.aggregate import mean_curves
from attrbench.reporting.folder import ResultsFolder, SampleSet, load_results, load_samples
from attrbench.reporting.heatmaps import heatmaps_figure, plot_heatmaps, truncate_maps
from attrbench.reporting.html import build_all, write_report
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
    "mean_curves",
    "paper_layout",
    "plot_curves",
    "plot_fidelity_area",
    "plot_heatmaps",
    "plot_lif_scores",
    "truncate_maps",
    "write_csv",
    "write_markdown",
    "write_report",
]
