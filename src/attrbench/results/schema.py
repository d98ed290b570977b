"""The tidy long-format schema of perturbation-curve results (one row per image x order x step).

Every table the reports show is computed from these rows, so they carry everything needed to
recompute a score: the raw logit, the fraction masked and the importance of the pixels masked at
that step (for the FPA paper's Fig. 4).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from attrbench.results.store import TableSpec, read_table

#: Columns of a curve shard, in order.
CURVE_SCHEMA = pa.schema([
    ("run", pa.string()),            # name of the evaluation run (the results folder's name)
    ("model", pa.string()),          # architecture, e.g. small_cnn
    ("augmentation", pa.string()),   # training augmentation: none / fpa / rectangle / user label
    ("method", pa.string()),         # registered method, e.g. integrated_gradients
    ("postprocess", pa.string()),    # channel reduction, e.g. sum, input_abs_sum
    ("variant", pa.string()),        # paper alias, e.g. IG_sum (falls back to method|postprocess)
    ("image_id", pa.int64()),        # the dataset's id of the image (stable across runs)
    ("label", pa.int64()),           # true class
    ("target", pa.int64()),          # class whose logit is tracked (predicted on the clean image)
    ("order", pa.string()),          # "MIF" or "LIF"
    ("step", pa.int32()),            # 0 = unperturbed
    ("fraction", pa.float64()),      # fraction of pixels masked at this step, in [0, 1]
    ("logit", pa.float64()),         # pre-softmax logit of `target`
    ("score", pa.float64()),         # mean importance of the pixels newly masked at this step (NaN at 0)
])

ORDERS = ("MIF", "LIF")

#: The FPA curve table: shards in ``shards/`` (its folder since the first results folders), one per
#: (augmentation, model, image chunk); read back in an order independent of the writing order.
CURVES = TableSpec("curves", CURVE_SCHEMA, folder="shards",
                   sort=("augmentation", "model", "variant", "image_id", "order", "step"))


def read_curves(root: str | Path) -> pd.DataFrame:
    """Every curve shard of a results folder (read-only) as one DataFrame of
    :data:`CURVE_SCHEMA` columns, sorted by :data:`CURVES`'s row order."""
    return read_table(root, CURVES)
