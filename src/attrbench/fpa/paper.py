"""The FPA paper's published CIFAR-10 numbers and display orders, for side-by-side comparison.

Source: Brocki & Chung, "Feature perturbation augmentation for reliable evaluation of importance
estimators", Table Appendix D.2 (ResNet-18 on CIFAR-10, all 10,000 test images) and Sec. 4.1
(accuracies); transcribed in ``papers/NOTES.md`` §1.8. The paper gives no table for Rectangle.
"""

from __future__ import annotations

__all__ = [
    "AUGMENT_LABELS",
    "AUGMENT_ORDER",
    "PAPER_CIFAR10_ACCURACY",
    "PAPER_CIFAR10_FIDELITY",
    "PAPER_SOURCE_LABEL",
    "VARIANT_ORDER",
    "ordered",
]

VARIANT_ORDER: tuple[str, ...] = (
    "Random", "IG_sum", "IG_abs", "VG_abs", "VG'_sum", "VG'_abs",
    "SG_abs", "SG'_sum", "SG'_abs", "SQ-SG_sum",
)
"""Column order of the paper's fidelity tables (the ``fpa-table`` variant set)."""

AUGMENT_ORDER: tuple[str, ...] = ("none", "fpa", "rectangle")
"""Row order: no augmentation, FPA ("Proposed" in the paper), Rectangle (random erasing)."""

AUGMENT_LABELS: dict[str, str] = {"none": "None", "fpa": "FPA", "rectangle": "Rectangle"}
"""Display names of the registered augmentations."""

PAPER_SOURCE_LABEL = "paper (ResNet-18, full CIFAR-10 test set)"
"""How the published numbers are labelled wherever they are shown beside ours."""

PAPER_CIFAR10_FIDELITY: dict[str, dict[str, tuple[float, float]]] = {
    "none": {
        "Random": (0.0, 0.7), "IG_sum": (14.0, 0.8), "IG_abs": (21.9, 0.6), "VG_abs": (5.6, 0.6),
        "VG'_sum": (8.0, 0.7), "VG'_abs": (16.1, 0.6), "SG_abs": (18.5, 0.6),
        "SG'_sum": (34.6, 0.8), "SG'_abs": (27.0, 0.6), "SQ-SG_sum": (27.9, 0.6),
    },
    "fpa": {
        "Random": (0.0, 0.5), "IG_sum": (59.6, 0.7), "IG_abs": (34.9, 0.5), "VG_abs": (16.9, 0.5),
        "VG'_sum": (47.0, 0.7), "VG'_abs": (25.8, 0.5), "SG_abs": (35.4, 0.5),
        "SG'_sum": (80.5, 0.6), "SG'_abs": (39.2, 0.5), "SQ-SG_sum": (41.1, 0.5),
    },
}
"""Table Appendix D.2: augmentation -> variant -> (A, 95 % CI half-width), percent units."""

PAPER_CIFAR10_ACCURACY: dict[str, float] = {"none": 0.930, "fpa": 0.927, "rectangle": 0.931}
"""Sec. 4.1: test accuracy (fraction) of the three CIFAR-10 ResNet-18 models."""


def ordered(present: list[str] | tuple[str, ...], preferred: tuple[str, ...]) -> list[str]:
    """``present`` sorted by ``preferred``; names not in ``preferred`` follow in first-seen order.

    Args:
        present: names found in the results (duplicates are dropped).
        preferred: the display order.
    """
    seen = list(dict.fromkeys(present))
    return [p for p in preferred if p in seen] + [p for p in seen if p not in preferred]
