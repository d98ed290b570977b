"""Mean perturbation curves and mean importance per step, as the FPA paper's figures show them.

The authors' plots (``perturb.ipynb``; ``papers/NOTES.md`` §1.7) average the raw logits over images
and divide the *mean* curve by its own first value, which differs slightly from the per-image
normalisation used for the fidelity A (:mod:`attrbench.fpa.tables`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from attrbench.errors import AttrbenchError

__all__ = ["CURVE_KEYS", "mean_curves"]

CURVE_KEYS = ["model", "augmentation", "variant", "order"]


def mean_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Average the stored curves over images, per (model, augmentation, variant, order, step).

    Args:
        curves: tidy rows with the columns of ``CURVE_SCHEMA``.

    Returns:
        DataFrame with columns ``model, augmentation, variant, order, step`` and

        * ``percent``: mean fraction masked x 100 (the exact percentage; the authors' plots use
          ``linspace(0, 100, S+1)``, which differs by < 0.5 % on 32x32 images);
        * ``mean_logit``: mean raw logit of the tracked class;
        * ``normalised``: ``mean_logit / mean_logit[step 0]`` (NaN where the mean step-0 logit is
          <= 0, which cannot be normalised);
        * ``mean_score``: mean importance of the pixels newly masked at that step (NaN at step 0),
          in the map's own units, in that curve's order (FPA paper Fig. 4 / App. C.3);
        * ``n``: images averaged.

    Raises:
        AttrbenchError: no rows.
    """
    if curves.empty:
        raise AttrbenchError("No curve rows to plot; run the evaluation first.")
    agg = (curves.groupby(CURVE_KEYS + ["step"], sort=True)
           .agg(percent=("fraction", "mean"), mean_logit=("logit", "mean"),
                mean_score=("score", "mean"), n=("image_id", "nunique"))
           .reset_index())
    agg["percent"] *= 100.0
    first = agg.groupby(CURVE_KEYS, sort=False)["mean_logit"].transform("first")
    agg["normalised"] = np.where(first > 0, agg["mean_logit"] / first.where(first > 0), np.nan)
    return agg[CURVE_KEYS + ["step", "percent", "mean_logit", "normalised", "mean_score", "n"]]
