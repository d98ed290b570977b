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
    ("target", pa.int64()),      # predicted class on the clean image, kept by the attack
    ("measure", pa.string()),    # e.g. topk_intersection, lens_recall_w3, kendall
    ("value", pa.float64()),     # the measure of the attacked map vs the clean map
])

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
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    return frame.sort_values(_SORT, kind="stable").reset_index(drop=True)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and image count of every measure per (model, method, attack, ε).

    Returns:
        Columns ``model, method, attack, eps, measure, mean, std, n``.
    """
    keys = ["model", "method", "attack", "eps", "measure"]
    grouped = rows.groupby(keys, sort=True)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    return out
