"""Each attack against the random-sign baseline, paired by image (issue 15 item 6).

Kamath et al. (2024) and Ghorbani et al. (2019) show an attack's measure curve beside the
random-noise curve and compare them by eye. Here, per (model, method, ε > 0), every measure of
every other attack is compared with ``random_sign`` at the same ε on the same images: per image
``d_i = value(attack) - value(random_sign)`` (1 = the map did not move, so ``d < 0`` means the
attack moved the map more than random noise of the same budget), its mean with a paired bootstrap
CI, the Wilcoxon signed-rank p and the rank-biserial effect, all from
:func:`attrbench.metrics.functional.paired.paired_comparison`; p-values are corrected (Holm by
default) across the (attack, measure) comparisons of one (model, method, ε).

Only images where *both* attacks kept the predicted label count (``kept_label``, issue 17); a
comparison with fewer than ``min_images`` such images (at least 2) gets the note "not enough
data: ..." and no statistics. ε = 0 is left out (nothing is perturbed, so both measures are 1).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.paired import (
    adjust_pvalues,
    check_options,
    paired_comparison,
)
from attrbench.robustness.results import DEFAULT_MIN_IMAGES, check_min_images

__all__ = ["BASELINE", "COMPARE_COLUMNS", "compare_to_baseline"]

BASELINE = "random_sign"
"""The baseline attack every other attack is compared with."""

COMPARE_COLUMNS = ["model", "method", "eps", "attack", "baseline", "measure", "n", "n_images",
                   "diff", "ci_low", "ci_high", "p", "p_adj", "significant", "rank_biserial",
                   "d_z", "wins", "losses", "note"]
"""Columns of :func:`compare_to_baseline`. ``eps`` in [0, 1] pixel units; ``n`` images where both
attacks kept the label (and both values are finite), ``n_images`` images both attacked;
``diff = mean(value_attack - value_baseline)`` over the ``n`` images (units of the measure),
``ci_low``/``ci_high`` its paired bootstrap CI, ``p`` two-sided Wilcoxon, ``p_adj`` corrected
across the (model, method, ε) family, ``significant = p_adj < 1 - level``; ``wins``/``losses``
shares of the ``n`` images with ``value_attack >`` / ``<`` ``value_baseline``."""

_KEYS = ["model", "method", "attack", "eps", "image_id", "measure"]


def _check_rows(rows: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(rows, pd.DataFrame):
        raise AttrbenchError("Pass the robustness rows as a DataFrame (read_robustness(folder)).")
    missing = [c for c in [*_KEYS, "kept_label", "value"] if c not in rows.columns]
    if missing:
        raise AttrbenchError(
            f"Robustness rows lack columns {missing}; pass read_robustness(folder) (rows written "
            "before kept_label existed cannot be compared: rerun `attrbench robustness`).")
    if rows.empty:
        raise AttrbenchError("not enough data: no robustness rows; run `attrbench robustness`.")
    dup = rows.duplicated(_KEYS)
    if dup.any():
        first = rows.loc[dup, _KEYS].iloc[0].tolist()
        raise AttrbenchError(
            f"{int(dup.sum())} robustness rows repeat (model, method, attack, eps, image_id, "
            f"measure) (first: {' / '.join(map(str, first))}); the rows mix two runs. Read one "
            "results folder.")
    return rows


def compare_to_baseline(rows: pd.DataFrame, *, baseline: str = BASELINE,
                        min_images: int = DEFAULT_MIN_IMAGES, level: float = 0.95,
                        correction: str = "holm", n_boot: int = 10_000, seed: int = 0,
                        ci_method: str = "bca") -> pd.DataFrame:
    """Every attack's measures against ``baseline`` at the same ε, paired by image.

    Args:
        rows: tidy robustness rows (:data:`~attrbench.robustness.results.ROBUSTNESS_SCHEMA`).
        baseline: the reference attack (``"random_sign"``).
        min_images: fewest images where both attacks kept the label for a comparison to be run
            (at least 2 are always needed); fewer give the note "not enough data: ...".
        level: bootstrap CI level; significant when the corrected p < ``1 - level``.
        correction: ``"holm"`` (default), ``"bh"`` or ``"none"``, across the (attack, measure)
            comparisons of each (model, method, ε).
        n_boot: bootstrap resamples per comparison.
        seed: bootstrap seed.
        ci_method: ``"bca"`` or ``"percentile"``.

    Returns:
        DataFrame with :data:`COMPARE_COLUMNS`, one row per (model, method, ε > 0, attack,
        measure) where both the attack and the baseline were run, sorted by those keys.
        Comparisons without enough data have NaN statistics, ``significant`` False and a note;
        identical values on every image give p = NaN and the note of ``paired_comparison``.

    Raises:
        AttrbenchError: the baseline or any other attack is missing, duplicated rows, missing
            columns, bad options.
    """
    rows = _check_rows(rows)
    check_min_images(min_images)
    check_options(level, correction, ci_method)
    attacks = sorted(set(rows["attack"]))
    if baseline not in attacks:
        raise AttrbenchError(
            f"No {baseline} rows in these results (attacks: {', '.join(attacks)}); rerun "
            f"`attrbench robustness` with --attack {baseline} to compare each attack with it.")
    if len(attacks) < 2:
        raise AttrbenchError(
            f"not enough data: only {baseline} was run; add another attack (e.g. --attack "
            "topk) to compare it with the baseline.")
    need = max(2, int(min_images))
    perturbed = rows[rows["eps"] > 0]
    usable = perturbed["kept_label"].astype(bool) & np.isfinite(
        pd.to_numeric(perturbed["value"], errors="coerce").to_numpy(np.float64))
    data = perturbed.assign(_use=usable.to_numpy())
    out: list[dict[str, object]] = []
    for (model, method, eps), unit in data.groupby(["model", "method", "eps"], sort=True):
        base = unit[unit["attack"] == baseline]
        if base.empty:
            continue
        family: list[dict[str, object]] = []
        for (attack, measure), cell in unit[unit["attack"] != baseline].groupby(
                ["attack", "measure"], sort=True):
            ref = base[base["measure"] == measure]
            if ref.empty:
                continue
            both = cell.merge(ref, on="image_id", suffixes=("", "_b"))
            kept = both[both["_use"] & both["_use_b"]]
            row: dict[str, object] = {
                "model": model, "method": method, "eps": float(eps), "attack": attack,
                "baseline": baseline, "measure": measure, "n": len(kept),
                "n_images": len(both), "diff": math.nan, "ci_low": math.nan,
                "ci_high": math.nan, "p": math.nan, "rank_biserial": math.nan,
                "d_z": math.nan, "wins": math.nan, "losses": math.nan, "note": ""}
            if len(kept) < need:
                row["note"] = (f"not enough data: {len(kept)} of {len(both)} image(s) kept the "
                               f"label under both attacks; fewer than {need}")
            else:
                res = paired_comparison(kept["value"].to_numpy(np.float64),
                                        kept["value_b"].to_numpy(np.float64), level=level,
                                        n_boot=n_boot, seed=seed, ci_method=ci_method)
                row.update(n=res.n, diff=res.mean_diff, ci_low=res.ci_low, ci_high=res.ci_high,
                           p=res.p_value, rank_biserial=res.rank_biserial, d_z=res.d_z,
                           wins=res.wins, losses=res.losses, note=res.note)
            family.append(row)
        if not family:
            continue
        adjusted = adjust_pvalues([float(r["p"]) for r in family],  # type: ignore[arg-type]
                                  correction)
        for r, p_adj in zip(family, adjusted, strict=True):
            r["p_adj"] = float(p_adj)
            r["significant"] = bool(p_adj < 1.0 - float(level))  # NaN (untested) is False
        out.extend(family)
    return pd.DataFrame(out, columns=COMPARE_COLUMNS)
