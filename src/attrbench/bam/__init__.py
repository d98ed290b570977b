"""BAM: benchmark with known relative feature importance (Yang & Kim 2019).

``build`` pastes object crops into scenes (four labellings + commonality sets), ``manifest`` reads
a built folder back (masks, boxes, per-labelling datasets), ``models`` trains f_o / f_s / X^k
models and verifies them (Fig. 2), ``evaluate`` computes MCS / IDR / IIR per method (+ TCAV via
``tcav``), ``pipeline`` runs it all and ``report`` draws the figures and HTML page. The metric
maths lives in :mod:`attrbench.metrics.functional.bam`.

Names are resolved lazily so that ``attrbench bam build`` does not import matplotlib or Captum.
"""

from __future__ import annotations

from attrbench.lazy import lazy_exports


_EXPORTS = {
    "BamBuildConfig": "attrbench.bam.build",
    "build_bam": "attrbench.bam.build",
    "extract_coco_crops": "attrbench.bam.coco",
    "BamFolder": "attrbench.bam.manifest",
    "bam_mini_path": "attrbench.bam.manifest",
    "train_bam_models": "attrbench.bam.models",
    "load_bam_models": "attrbench.bam.models",
    "verify": "attrbench.bam.models",
    "BAM_METHODS": "attrbench.bam.evaluate",
    "BamRunConfig": "attrbench.bam.evaluate",
    "BamResults": "attrbench.bam.evaluate",
    "run_bam_metrics": "attrbench.bam.evaluate",
    "BamTrainOptions": "attrbench.bam.pipeline",
    "run_bam": "attrbench.bam.pipeline",
    "write_bam_report": "attrbench.bam.report",
    "tcav_score": "attrbench.bam.tcav",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
