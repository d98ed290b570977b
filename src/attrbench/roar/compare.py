"""Each estimator against the random baseline per threshold, across retraining repeats.

ROAR / KAR (Hooker et al. 2019) and IteROAR retrain a model from scratch for every (variant,
threshold or iteration, repeat); the papers compare an estimator's accuracy curve with the random
baseline's by eye (mean ± std over 5 repeats). Here, at each threshold (IteROAR: iteration), each
estimator's test accuracies over its repeats are compared with ``random``'s at the same point
(issue 15 item 6):

- ``diff = mean(acc_variant) - mean(acc_random)`` (accuracy as a fraction; ROAR: negative = the
  estimator's top features matter more than random ones; KAR: positive = better) with the spread
  of each side over repeats (SD, ddof 1).
- Welch's t-test and its CI of ``diff`` (``scipy.stats.ttest_ind(equal_var=False)``): defined from
  2 repeats per side, but it assumes normally distributed accuracies across retrains, which so few
  repeats cannot check; shown for information.
- The exact two-sample permutation test of ``diff`` (``scipy.stats.permutation_test``, every one
  of the ``C(n_v + n_r, n_v)`` splits of the pooled repeats; beyond 20,000 splits, i.e. more than
  8 repeats per side, 19,999 seeded random splits): valid at any n without a
  distributional assumption, and the test that decides significance, with Holm (default) across
  the estimators at that point. With distinct values its smallest two-sided p is
  ``2 / C(n_v + n_r, n_v)``: 0.33 with 2 repeats per side, 0.1 with 3, 0.029 with 4, 0.0079 with
  5, so below 4 repeats of each nothing can be significant at α = 0.05. Such rows say "not
  enough repeats: ..." and are never significant.

The repeats are not paired in the test: repeat r of every variant trains with the same seed, but on
different (masked) data, so the pairing shares only initialisation and batch order; an unpaired
test ignores it (conservative if repeats correlate positively), and a paired sign-flip test could
not go below p = 2 / 2^n = 0.0625 at n = 5.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.paired import adjust_pvalues, check_options, check_per_image

__all__ = ["BASELINE", "compare_columns", "compare_to_random", "min_permutation_p",
           "repeats_needed", "two_sample_test"]

BASELINE = "random"
"""The variant every estimator is compared with."""

_EXACT_LIMIT = 20_000  # splits enumerated exactly; beyond, a seeded Monte Carlo permutation test
_SKIP = ("none",)  # the unmodified data (t = 0 / iteration 0): no random counterpart


def compare_columns(x: str = "threshold") -> list[str]:
    """Columns of :func:`compare_to_random`; ``x`` is ``"threshold"`` (ROAR / KAR) or
    ``"iteration"`` (IteROAR).

    ``repeats`` / ``repeats_baseline``: retrains of each side; ``accuracy`` / ``accuracy_baseline``:
    their mean test accuracy (fraction), ``sd`` / ``sd_baseline`` their SD over repeats (NaN below
    2); ``diff`` = difference of the means, ``ci_low`` / ``ci_high`` its Welch CI, ``df`` Welch's
    degrees of freedom, ``p_welch`` Welch's two-sided p; ``p_perm`` the exact permutation p,
    ``p_perm_min`` its smallest possible value at these repeat counts, ``p_adj`` ``p_perm``
    corrected across the estimators at this point, ``significant = p_adj < 1 - level``.
    """
    return ["benchmark", x, "variant", "baseline", "repeats", "repeats_baseline", "accuracy",
            "accuracy_baseline", "sd", "sd_baseline", "diff", "ci_low", "ci_high", "df",
            "p_welch", "p_perm", "p_perm_min", "p_adj", "significant", "note"]


def min_permutation_p(n_a: int, n_b: int) -> float:
    """Smallest two-sided p of the exact two-sample permutation test: ``2 / C(n_a + n_b, n_a)``
    (capped at 1), reached when the two samples do not overlap and hold distinct values."""
    return min(1.0, 2.0 / math.comb(int(n_a) + int(n_b), int(n_a)))


def repeats_needed(alpha: float = 0.05) -> int:
    """Fewest repeats per side (equal on both) for which :func:`min_permutation_p` <= ``alpha``."""
    if not 0.0 < float(alpha) < 1.0:
        raise AttrbenchError(f"alpha must lie strictly between 0 and 1; got {alpha}.")
    n = 1
    while min_permutation_p(n, n) > alpha:
        n += 1
    return n


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def two_sample_test(a: object, b: object, *, level: float = 0.95,
                    seed: int = 0) -> dict[str, float]:
    """Welch's t-test and the exact permutation test of ``mean(a) - mean(b)``.

    Args:
        a: ``(n_a,)`` values of one side (e.g. test accuracies of an estimator's repeats), n_a >= 1.
        b: ``(n_b,)`` values of the other side (the random baseline's repeats), n_b >= 1.
        level: level of Welch's CI.
        seed: seed of the Monte Carlo permutation test (19,999 resamples), used only beyond
            20,000 splits (more than 8 repeats per side).

    Returns:
        ``diff, sd_a, sd_b, ci_low, ci_high, df, p_welch, p_perm, p_perm_min`` (units of the
        inputs). Welch's entries are NaN with fewer than 2 values on a side or no spread on either;
        ``p_perm`` is NaN with fewer than 2 values on a side (SciPy's test needs 2) or when every
        value is equal.

    Raises:
        AttrbenchError: empty sides, NaN values.
    """
    x = check_per_image(a, "accuracies of the estimator", min_n=1)
    y = check_per_image(b, "accuracies of the baseline", min_n=1)
    n_a, n_b = x.size, y.size
    sd_a = float(x.std(ddof=1)) if n_a > 1 else math.nan
    sd_b = float(y.std(ddof=1)) if n_b > 1 else math.nan
    out = {"diff": float(x.mean() - y.mean()), "sd_a": sd_a, "sd_b": sd_b, "ci_low": math.nan,
           "ci_high": math.nan, "df": math.nan, "p_welch": math.nan, "p_perm": math.nan,
           "p_perm_min": min_permutation_p(n_a, n_b)}
    if n_a >= 2 and n_b >= 2 and (sd_a > 0 or sd_b > 0):
        with warnings.catch_warnings():  # "precision loss" when one side is (nearly) constant
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ttest_ind(x, y, equal_var=False)
            ci = res.confidence_interval(confidence_level=float(level))
        out.update(ci_low=float(ci.low), ci_high=float(ci.high), df=float(res.df),
                   p_welch=float(res.pvalue))
    if n_a >= 2 and n_b >= 2 and float(np.ptp(np.concatenate([x, y]))) > 0:
        splits = math.comb(n_a + n_b, n_a)
        res = stats.permutation_test(
            (x, y), _mean_diff, permutation_type="independent", vectorized=True,
            alternative="two-sided",
            n_resamples=np.inf if splits <= _EXACT_LIMIT else 19_999,
            rng=np.random.default_rng(seed))
        out["p_perm"] = float(res.pvalue)
    return out


def _x_column(acc: pd.DataFrame) -> str:
    if "iteration" in acc.columns:
        return "iteration"
    if "threshold" in acc.columns:
        return "threshold"
    raise AttrbenchError(
        "The accuracy table has neither a threshold nor an iteration column; pass "
        "read_table(folder, 'accuracy') of a ROAR / KAR or IteROAR results folder.")


def compare_to_random(acc: pd.DataFrame, *, baseline: str = BASELINE, level: float = 0.95,
                      correction: str = "holm", seed: int = 0) -> pd.DataFrame:
    """Each estimator's test accuracy against the random baseline's, per threshold, over repeats.

    Args:
        acc: the ``accuracy`` table of a ROAR / KAR or IteROAR results folder (columns
            ``benchmark, variant, repeat, test_accuracy`` and ``threshold`` or ``iteration``).
        baseline: the reference variant (``"random"``).
        level: Welch CI level; significant when the corrected permutation p < ``1 - level``.
        correction: ``"holm"`` (default), ``"bh"`` or ``"none"``, across the estimators at each
            (benchmark, threshold).
        seed: Monte Carlo seed for very many repeats (see :func:`two_sample_test`).

    Returns:
        DataFrame with :func:`compare_columns` (accuracies as fractions in [0, 1]), one row per
        (benchmark, threshold or iteration, estimator) where the baseline was also run, sorted
        by those keys. ``note``: empty, ``"not enough repeats: ..."`` when the permutation test
        cannot reach ``1 - level`` (then never significant), or ``"identical on every repeat;
        nothing to test"``.

    Raises:
        AttrbenchError: no rows, missing columns, no baseline or no other estimator, duplicated
            (variant, threshold, repeat) rows, NaN accuracies, bad options.
    """
    if not isinstance(acc, pd.DataFrame) or acc.empty:
        raise AttrbenchError("not enough data: no accuracy rows; run attrbench roar / iteroar.")
    x = _x_column(acc)
    missing = [c for c in ("benchmark", "variant", "repeat", "test_accuracy") if c not in acc]
    if missing:
        raise AttrbenchError(
            f"The accuracy table lacks columns {missing}; pass read_table(folder, 'accuracy').")
    check_options(level, correction)
    keys = ["benchmark", "variant", x, "repeat"]
    dup = acc.duplicated(keys)
    if dup.any():
        first = acc.loc[dup, keys].iloc[0].tolist()
        raise AttrbenchError(
            f"The accuracy table repeats (benchmark, variant, {x}, repeat) rows (first: "
            f"{' / '.join(map(str, first))}); it mixes two runs. Read one results folder.")
    variants = sorted(set(acc["variant"]) - set(_SKIP))
    if baseline not in variants:
        raise AttrbenchError(
            f"No {baseline!r} variant in these results (variants: {', '.join(variants)}); rerun "
            f"with --method {baseline} among the variants to compare the estimators with it.")
    if len(variants) < 2:
        raise AttrbenchError(
            f"not enough data: only {baseline!r} was run; add an estimator to compare with it.")
    alpha = 1.0 - float(level)
    need = repeats_needed(alpha)
    rows: list[dict[str, object]] = []
    data = acc[~acc["variant"].isin(_SKIP)]
    for (bench, at), unit in data.groupby(["benchmark", x], sort=True):
        ref = unit.loc[unit["variant"] == baseline, "test_accuracy"].to_numpy(np.float64)
        if ref.size == 0:
            continue
        family = []
        for variant, cell in unit[unit["variant"] != baseline].groupby("variant", sort=True):
            vals = cell["test_accuracy"].to_numpy(np.float64)
            label = f"{bench} {variant} {x} {at:g}"
            try:
                res = two_sample_test(vals, ref, level=level, seed=seed)
            except AttrbenchError as err:
                raise AttrbenchError(f"{label}: {err}") from err
            note = ""
            if vals.size < 2 or ref.size < 2:
                note = (f"not enough repeats: {vals.size} and {ref.size}; no spread, no test "
                        f"(both tests need 2 of each; p < {alpha:g} needs at least {need} of "
                        "each)")
            elif math.isnan(res["p_perm"]):
                note = "identical on every repeat; nothing to test"
            elif res["p_perm_min"] > alpha:
                note = (f"not enough repeats: with {vals.size} and {ref.size} repeats the exact "
                        f"permutation test cannot go below p = {res['p_perm_min']:.2g} "
                        f"(> {alpha:g}); run at least {need} repeats of each")
            family.append({
                "benchmark": bench, x: at, "variant": variant, "baseline": baseline,
                "repeats": vals.size, "repeats_baseline": ref.size,
                "accuracy": float(vals.mean()), "accuracy_baseline": float(ref.mean()),
                "sd": res["sd_a"], "sd_baseline": res["sd_b"], "diff": res["diff"],
                "ci_low": res["ci_low"], "ci_high": res["ci_high"], "df": res["df"],
                "p_welch": res["p_welch"], "p_perm": res["p_perm"],
                "p_perm_min": res["p_perm_min"], "note": note})
        if not family:
            continue
        adjusted = adjust_pvalues([float(r["p_perm"]) for r in family],  # type: ignore[arg-type]
                                  correction)
        for r, p_adj in zip(family, adjusted, strict=True):
            r["p_adj"] = float(p_adj)
            r["significant"] = bool(p_adj < alpha)  # NaN (untested) compares False
        rows.extend(family)
    return pd.DataFrame(rows, columns=compare_columns(x))
