"""FPA: perturbation curves and fidelity of importance estimators (Brocki & Chung, "Feature
Perturbation Augmentation for Reliable Evaluation of Importance Estimators").

Running:

- :mod:`.runner`: :class:`EvalConfig`, :class:`ModelEntry`, :func:`run_evaluation`, the streaming
  MIF/LIF curve runner (one Parquet shard per augmentation, model and chunk; resumable).
- :mod:`.api`: :func:`evaluate`, the same for any ``nn.Module`` (``attrbench.evaluate``).
- :mod:`.reproduction`: :func:`reproduce_fpa`, the main job (train none / FPA / Rectangle ->
  accuracy -> curves -> sample maps -> report); :mod:`.seeds`: the job over several seeds.

Reporting, from a stored results folder only (on the shared :mod:`attrbench.reporting`):

- :mod:`.report`: :func:`write_fpa_report` / :func:`build_all`, the FPA page and its files.
- :mod:`.folder` (reads the folder), :mod:`.tables` (the fidelity table in the paper's layout),
  :mod:`.aggregate` (mean curves), :mod:`.plots` (Figs. 2-4), :mod:`.heatmaps` (Fig. 5),
  :mod:`.comparisons` (paired tests), :mod:`.claims` and :mod:`.beside_paper` (the paper's
  findings and numbers, kept in :mod:`.paper`).

Names are resolved lazily, so ``attrbench.evaluate`` loads neither the report modules nor the
training code.
"""

from __future__ import annotations

from attrbench.lazy import lazy_exports


_EXPORTS = {
    "EvalConfig": "attrbench.fpa.runner",
    "ModelEntry": "attrbench.fpa.runner",
    "run_evaluation": "attrbench.fpa.runner",
    "evaluate": "attrbench.fpa.api",
    "FPAReproductionConfig": "attrbench.fpa.reproduction",
    "reproduce_fpa": "attrbench.fpa.reproduction",
    "reproduce_fpa_seeds": "attrbench.fpa.seeds",
    "build_all": "attrbench.fpa.report",
    "write_fpa_report": "attrbench.fpa.report",
    "ResultsFolder": "attrbench.fpa.folder",
    "SampleSet": "attrbench.fpa.folder",
    "load_results": "attrbench.fpa.folder",
    "load_samples": "attrbench.fpa.folder",
    "mean_curves": "attrbench.fpa.aggregate",
    "best_per_row": "attrbench.fpa.tables",
    "fidelity_table": "attrbench.fpa.tables",
    "layout_to_markdown": "attrbench.fpa.tables",
    "paper_layout": "attrbench.fpa.tables",
    "write_csv": "attrbench.fpa.tables",
    "write_markdown": "attrbench.fpa.tables",
    "curves_figure": "attrbench.fpa.plots",
    "fidelity_area_figure": "attrbench.fpa.plots",
    "lif_scores_figure": "attrbench.fpa.plots",
    "plot_curves": "attrbench.fpa.plots",
    "plot_fidelity_area": "attrbench.fpa.plots",
    "plot_lif_scores": "attrbench.fpa.plots",
    "heatmaps_figure": "attrbench.fpa.heatmaps",
    "plot_heatmaps": "attrbench.fpa.heatmaps",
    "truncate_maps": "attrbench.fpa.heatmaps",
    "compare_estimators": "attrbench.fpa.comparisons",
    "compare_models": "attrbench.fpa.comparisons",
    "per_image_fidelity": "attrbench.fpa.comparisons",
    "AUGMENT_ORDER": "attrbench.fpa.paper",
    "PAPER_CIFAR10_ACCURACY": "attrbench.fpa.paper",
    "PAPER_CIFAR10_FIDELITY": "attrbench.fpa.paper",
    "VARIANT_ORDER": "attrbench.fpa.paper",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
