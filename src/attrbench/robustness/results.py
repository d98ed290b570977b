"""Tidy robustness results: one row per (model, method, attack, ε, image, measure), in Parquet.

Stored in the project's one :class:`~attrbench.results.ResultStore` (atomic shards, identity
refusal, resume by skipping written shards) as the table :data:`ROBUSTNESS_ROWS`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from attrbench.errors import AttrbenchError
from attrbench.results.store import TableSpec, read_table
from attrbench.results.summary import summarise as summarise_groups

#: Columns of a robustness shard, in order.
ROBUSTNESS_SCHEMA = pa.schema([
    ("run", pa.string()),        # name of the results folder
    ("model", pa.string()),      # label of the model, e.g. natural / pgd
    ("method", pa.string()),     # attribution method under attack
    ("attack", pa.string()),     # random / topk / mass_center / lens_topk
    ("eps", pa.float64()),       # ℓ∞ budget in pixel units of [0, 1] images
    ("image_id", pa.int64()),    # the dataset's id of the image
    ("label", pa.int64()),       # true class
    ("target", pa.int64()),      # predicted class on the clean image, to be kept by the attack
    ("kept_label", pa.bool_()),  # the attack found a perturbation predicted as `target`
    ("restart", pa.int64()),     # 1-based restart of the returned example (0 at ε = 0)
    ("iteration", pa.int64()),   # 1-based iteration in it; random_sign: sign patterns drawn
    ("measure", pa.string()),    # e.g. topk_intersection, lens_recall_w3, kendall
    ("value", pa.float64()),     # the measure of the attacked map vs the clean map; NaN if not kept
])

#: Cells (model, method, attack, ε) with fewer label-kept images than this show "too few".
DEFAULT_MIN_IMAGES = 5

#: The robustness table: shards in ``shards/`` (its folder before named tables existed), one per
#: (model, method, attack, ε, image chunk), read back in a fixed row order.
ROBUSTNESS_ROWS = TableSpec("rows", ROBUSTNESS_SCHEMA, folder="shards",
                            sort=("model", "method", "attack", "eps", "image_id", "measure"))


def read_robustness(root: str | Path) -> pd.DataFrame:
    """Every robustness shard of a results folder as one DataFrame, in a fixed row order.

    Raises:
        AttrbenchError: a shard from before ``kept_label`` existed (it cannot tell attacks that
            kept the label from those that did not); rerun with a new ``--out`` folder.
    """
    return read_table(root, ROBUSTNESS_ROWS)


def check_min_images(min_images: int) -> int:
    """Return ``min_images`` if it is an integer >= 1, else raise AttrbenchError."""
    if isinstance(min_images, bool) or not isinstance(min_images, int) or min_images < 1:
        raise AttrbenchError(f"min_images must be an integer >= 1 (--min-images), got "
                             f"{min_images!r}.")
    return min_images


def summarise(rows: pd.DataFrame, min_images: int = DEFAULT_MIN_IMAGES) -> pd.DataFrame:
    """Per (model, method, attack, ε, measure): the mean over images whose attack kept the label.

    Images without a label-preserving perturbation (``kept_label`` False) are left out of the mean
    and counted in ``failed`` (Ghorbani et al. 2019 and Kamath et al. 2024 evaluate perturbations
    that keep the prediction; scoring such an image as unchanged would bias every mean upwards).

    Args:
        rows: tidy rows of :data:`ROBUSTNESS_SCHEMA`.
        min_images: a cell with fewer label-kept images gets ``mean``/``std`` NaN and status
            ``"too few"`` (>= 1).

    Returns:
        Columns ``model, method, attack, eps, measure, mean, std, n, n_images, failed, status``:
        ``n`` images used (label kept), ``n_images`` attacked, ``failed`` = 1 - n / n_images (the
        fraction where the attack could not keep the label), status ``"ok"`` or ``"too few"``.
    """
    check_min_images(min_images)
    keys = ["model", "method", "attack", "eps", "measure"]
    used = rows["value"].where(rows["kept_label"].astype(bool))
    out = summarise_groups(rows.assign(value=used), keys)
    out["n_images"] = rows.groupby(keys, sort=True)["image_id"].nunique().to_numpy()
    out["failed"] = 1.0 - out["n"] / out["n_images"]
    few = out["n"] < min_images
    out["status"] = ["too few" if f else "ok" for f in few]
    out.loc[few, ["mean", "std"]] = float("nan")
    return out
