"""The summary every benchmark prints: mean, standard deviation and count of a value per group."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def summarise(frame: pd.DataFrame, by: Sequence[str], value: str = "value") -> pd.DataFrame:
    """Mean, standard deviation (ddof 1, NaN for one value) and count of ``value`` per group.

    NaN values are left out of all three (``n`` counts the values used).

    Args:
        frame: tidy rows.
        by: grouping columns (groups sorted by them).
        value: the column summarised.

    Returns:
        Columns ``*by, mean, std, n``.

    Example:
        >>> rows = pd.DataFrame({"g": ["a", "a", "b"], "value": [1.0, 3.0, 5.0]})
        >>> summarise(rows, ["g"]).to_dict("list")
        {'g': ['a', 'b'], 'mean': [2.0, 5.0], 'std': [1.4142135623730951, nan], 'n': [2, 1]}
    """
    grouped = frame.groupby(list(by), sort=True)[value]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()
