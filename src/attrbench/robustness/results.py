"""Tidy robustness results: one row per (model, method, attack, ε, image, measure), in Parquet.

Stored with the project's :class:`~attrbench.results.ResultStore` (atomic shards, configuration
refusal, resume by skipping written shards); only the schema differs from the curve results, so
:class:`RobustnessStore` overrides the shard writer and reader.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attrbench.atomic import atomic_path
from attrbench.errors import AttrbenchError
from attrbench.results import ResultStore

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

_SORT = ["model", "method", "attack", "eps", "image_id", "measure"]


class RobustnessStore(ResultStore):
    """A :class:`~attrbench.results.ResultStore` whose shards follow :data:`ROBUSTNESS_SCHEMA`."""

    def write_shard(self, key: str, frame: pd.DataFrame) -> None:
        """Atomically write ``frame`` (columns of :data:`ROBUSTNESS_SCHEMA`) as shard ``key``."""
        table = pa.Table.from_pandas(frame[ROBUSTNESS_SCHEMA.names], schema=ROBUSTNESS_SCHEMA,
                                     preserve_index=False)
        with atomic_path(self.shard_path(key)) as tmp:
            pq.write_table(table, tmp)

    def read_curves(self) -> pd.DataFrame:  # the base class's name for "all rows"
        """All rows; see :func:`read_robustness`."""
        return read_robustness(self.root)


def read_robustness(root: str | Path) -> pd.DataFrame:
    """Every robustness shard of a results folder as one DataFrame, in a fixed row order."""
    files = sorted((Path(root) / "shards").glob("*.parquet"))
    if not files:
        return ROBUSTNESS_SCHEMA.empty_table().to_pandas()
    for f in files:
        missing = [n for n in ROBUSTNESS_SCHEMA.names if n not in pq.read_schema(f).names]
        if missing:
            raise AttrbenchError(
                f"{f} was written by an older attrbench (no {', '.join(missing)} column: it cannot "
                "tell attacks that kept the label from those that did not); rerun `attrbench "
                "robustness` with a new --out folder."
            )
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    return frame.sort_values(_SORT, kind="stable").reset_index(drop=True)


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
    grouped = rows.assign(value=used).groupby(keys, sort=True)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["n_images"] = rows.groupby(keys, sort=True)["image_id"].nunique().to_numpy()
    out["failed"] = 1.0 - out["n"] / out["n_images"]
    few = out["n"] < min_images
    out["status"] = ["too few" if f else "ok" for f in few]
    out.loc[few, ["mean", "std"]] = float("nan")
    return out
