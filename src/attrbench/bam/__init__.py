"""BAM: benchmark with known relative feature importance (Yang & Kim 2019).

``build`` pastes object crops into scenes (four labellings + commonality sets), ``manifest`` reads
a built folder back (masks, boxes, per-labelling datasets), ``pipeline`` trains f_o / f_s / X^k
models, verifies them (Fig. 2) and computes MCS / IDR / IIR per method. The metric maths lives in
:mod:`attrbench.metrics.functional.bam`.
"""

from attrbench.bam.build import BamBuildConfig, build_bam

__all__ = ["BamBuildConfig", "build_bam"]
