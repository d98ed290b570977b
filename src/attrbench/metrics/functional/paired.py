"""Paired statistics on per-image scores: which estimator is better, and how sure we are.

Every function here works on *per-image* values (e.g. each image's fidelity area
``AUC_LIF - AUC_MIF`` in percent units, see
:func:`attrbench.fpa.comparisons.per_image_fidelity`), so two estimators evaluated on the same
images are compared image by image instead of by whether their intervals overlap.

- :func:`paired_comparison`: mean difference with a paired bootstrap CI (BCa by default), the
  Wilcoxon signed-rank test (``scipy.stats.wilcoxon``), the matched-pairs rank-biserial
  correlation as effect size (Kerby 2014; ``(R+ - R-) / (R+ + R-)`` over the Wilcoxon ranks, in
  [-1, 1]) plus Cohen's ``d_z`` and the share of images on which each side wins.
- :func:`holm`, :func:`benjamini_hochberg`: p-value corrections across a family of pairs.
- :func:`friedman`: Friedman test (``scipy.stats.friedmanchisquare``) and mean ranks (1 = best).
- :func:`nemenyi`: Nemenyi post-hoc p-values and the critical difference (Demšar 2006, Sec. 3.2.2)
  from ``scipy.stats.studentized_range``. scikit-posthocs / autorank would give the same numbers,
  but neither is a dependency of attrbench and the test is two lines on top of SciPy's maintained
  studentized-range distribution, so it is written here (checked against Demšar's Table 5).
- :func:`cd_cliques`: groups of estimators whose mean ranks differ by less than the CD (the bars
  of a critical-difference diagram).
- :func:`two_level_bootstrap_ci`: CI of a mean over training seeds and images (resample seeds,
  then images within each drawn seed); :func:`kendalls_w`: agreement of the estimator ranking
  across seeds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from attrbench.errors import AttrbenchError

__all__ = [
    "CORRECTIONS",
    "check_options",
    "CI_METHODS",
    "FriedmanResult",
    "KendallW",
    "NemenyiResult",
    "PairedResult",
    "adjust_pvalues",
    "benjamini_hochberg",
    "bootstrap_mean_ci",
    "cd_cliques",
    "check_per_image",
    "critical_difference",
    "friedman",
    "holm",
    "kendalls_w",
    "mean_ranks",
    "nemenyi",
    "paired_comparison",
    "rank_biserial",
    "two_level_bootstrap_ci",
]

CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")
CI_METHODS: tuple[str, ...] = ("bca", "percentile")
IDENTICAL_NOTE = "identical on every image; nothing to test"
_BOOT_CHUNK = 1_000_000  # resampled values held at once (8 MB of float64)


def check_per_image(values: object, name: str = "values", *, min_n: int = 2) -> np.ndarray:
    """Validate per-image values: 1-D, finite, at least ``min_n`` of them.

    Args:
        values: ``(N,)`` array-like, one value per image.
        name: what the values are, for the error message.
        min_n: fewest images accepted.

    Returns:
        ``(N,)`` float64 copy.

    Raises:
        AttrbenchError: wrong shape, too few images, NaN or infinite values.
    """
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 1:
        raise AttrbenchError(f"{name} must be one value per image, shape (N,); got {arr.shape}.")
    if arr.shape[0] < min_n:
        raise AttrbenchError(
            f"not enough data: {name} has {arr.shape[0]} image(s); a paired comparison needs at "
            f"least {min_n}. Evaluate more images.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise AttrbenchError(
            f"{name} has {bad.size} NaN or infinite per-image value(s) (rows "
            f"{bad[:10].tolist()}); drop those images (or rerun their evaluation) first.")
    return arr


def bootstrap_mean_ci(d: object, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0,
                      method: str = "bca") -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of ``d`` (resampling images with replacement).

    For a paired comparison ``d`` is the per-image difference, so resampling ``d`` resamples the
    image pairs. ``"bca"`` (default) is Efron's bias-corrected and accelerated interval, as
    ``scipy.stats.bootstrap(method="BCa")`` computes it; for the mean the jackknife acceleration
    has the closed form ``sum(c^3) / (6 sum(c^2)^1.5)`` with ``c = d - mean(d)``, so no ``N x N``
    jackknife array is built (SciPy's would need 800 MB at N = 10,000). ``"percentile"`` is the
    plain percentile interval. Memory stays bounded (resamples beyond 1e6 values are drawn in
    chunks); small problems reuse cached resamples for the same ``(N, n_boot, seed)``.

    Args:
        d: ``(N,)`` per-image values, N >= 2.
        level: two-sided confidence level in (0, 1).
        n_boot: bootstrap resamples (>= 100).
        seed: seed of the resampling (the same seed gives the same interval).
        method: ``"bca"`` or ``"percentile"``.

    Returns:
        ``(low, high)`` in the units of ``d``. If every value is equal the interval is that value.

    Raises:
        AttrbenchError: bad values or options.
    """
    x = check_per_image(d, "d")
    check_options(level, ci_method=method)
    if int(n_boot) < 100:
        raise AttrbenchError(f"n_boot must be at least 100 (e.g. 10000); got {n_boot}.")
    n, n_boot = x.shape[0], int(n_boot)
    theta = float(x.mean())
    if float(x.max() - x.min()) == 0.0:
        return theta, theta
    means = _bootstrap_means(x, n_boot, int(seed))
    alpha = (1.0 - float(level)) / 2.0
    if method == "percentile":
        lo_q, hi_q = alpha, 1.0 - alpha
    else:
        share_below = float(np.mean(means < theta))
        if share_below in (0.0, 1.0):  # bias correction undefined; fall back to percentiles
            lo_q, hi_q = alpha, 1.0 - alpha
        else:
            z0 = float(stats.norm.ppf(share_below))
            c = x - theta
            accel = float(np.sum(c**3) / (6.0 * np.sum(c**2) ** 1.5))
            qs = []
            for a in (alpha, 1.0 - alpha):
                za = float(stats.norm.ppf(a))
                qs.append(float(stats.norm.cdf(z0 + (z0 + za) / (1.0 - accel * (z0 + za)))))
            lo_q, hi_q = qs
    lo, hi = np.percentile(means, [100.0 * lo_q, 100.0 * hi_q])
    return float(lo), float(hi)


@functools.lru_cache(maxsize=4)
def _resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n)`` float64 counts of each image in each resample (read-only, cached).

    The same draws as one chunk of :func:`_bootstrap_means`, so cached and chunked paths agree.
    """
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    flat = (idx + n * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
    counts.setflags(write=False)
    return counts


def _bootstrap_means(x: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``x``; ``(n_boot,)``.

    Up to ``_BOOT_CHUNK`` resampled values the resample counts are cached, so every comparison
    on the same number of images with the same seed reuses the same resamples (common random
    numbers: one matrix-vector product per comparison); beyond that they are drawn in chunks.
    """
    n = x.shape[0]
    if n * n_boot <= _BOOT_CHUNK:
        return _resample_counts(n, n_boot, seed) @ x / n
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _BOOT_CHUNK // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, per_chunk):
        stop = min(n_boot, start + per_chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    return means


def rank_biserial(d: object) -> tuple[float, float, float]:
    """Matched-pairs rank-biserial correlation of per-image differences ``d``.

    Zero differences are dropped (as in the default Wilcoxon test); the absolute values of the
    rest are ranked (ties get their average rank); ``R+`` / ``R-`` are the rank sums of the
    positive / negative differences and ``r = (R+ - R-) / (R+ + R-)`` (Kerby 2014): +1 when every
    image favours the first estimator, -1 when every image favours the second.

    Args:
        d: ``(N,)`` per-image differences.

    Returns:
        ``(r, R+, R-)``; ``r`` is NaN when every difference is zero.
    """
    x = check_per_image(d, "d", min_n=1)
    nz = x[x != 0.0]
    if nz.size == 0:
        return math.nan, 0.0, 0.0
    ranks = stats.rankdata(np.abs(nz))
    r_plus, r_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
    return (r_plus - r_minus) / (r_plus + r_minus), r_plus, r_minus


@dataclass(frozen=True)
class PairedResult:
    """Paired comparison of estimator X against Y on the same N images (``d = x - y``).

    Attributes:
        n: images compared.
        mean_diff: ``mean(x - y)`` (units of the inputs, e.g. percent for fidelity A).
        ci_low: lower end of the bootstrap CI of ``mean_diff``.
        ci_high: upper end.
        level: confidence level of the CI.
        statistic: Wilcoxon ``W = min(R+, R-)``; NaN when every difference is zero.
        p_value: two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, zeros
            dropped, exact for N <= 50 without ties, else the normal approximation); NaN when
            every difference is zero.
        rank_biserial: effect size in [-1, 1], positive when X tends to be larger.
        d_z: Cohen's ``d_z = mean(d) / std(d, ddof=1)``; NaN when ``d`` is constant.
        wins: share of images with ``x > y`` (0..1).
        losses: share of images with ``x < y`` (ties are the rest).
        note: empty, or why no test was possible (e.g. identical on every image).
    """

    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    level: float
    statistic: float
    p_value: float
    rank_biserial: float
    d_z: float
    wins: float
    losses: float
    note: str = ""


def paired_comparison(x: object, y: object, *, level: float = 0.95, n_boot: int = 10_000,
                      seed: int = 0, ci_method: str = "bca") -> PairedResult:
    """Compare two estimators' per-image values on the same images, image by image.

    Args:
        x: ``(N,)`` per-image values of estimator X (e.g. per-image fidelity A, percent).
        y: ``(N,)`` per-image values of Y on the same images in the same order.
        level: confidence level of the bootstrap CI.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        ci_method: ``"bca"`` or ``"percentile"``.

    Returns:
        :class:`PairedResult` of ``d = x - y``. Identical inputs give p = NaN and
        ``note = "identical on every image; nothing to test"``.

    Raises:
        AttrbenchError: shapes differ, fewer than 2 images, NaN or infinite values.
    """
    a = check_per_image(x, "x")
    b = check_per_image(y, "y")
    if a.shape != b.shape:
        raise AttrbenchError(
            f"x has {a.shape[0]} images and y {b.shape[0]}; pass both estimators' values on the "
            "same images in the same order.")
    d = a - b
    n = d.shape[0]
    lo, hi = bootstrap_mean_ci(d, level=level, n_boot=n_boot, seed=seed, method=ci_method)
    r, _, _ = rank_biserial(d)
    sd = float(d.std(ddof=1))
    wins, losses = float(np.mean(d > 0)), float(np.mean(d < 0))
    common = dict(n=n, mean_diff=float(d.mean()), ci_low=lo, ci_high=hi, level=float(level),
                  rank_biserial=r, d_z=float(d.mean()) / sd if sd > 0 else math.nan,
                  wins=wins, losses=losses)
    if not np.any(d != 0.0):
        return PairedResult(statistic=math.nan, p_value=math.nan, note=IDENTICAL_NOTE, **common)
    res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return PairedResult(statistic=float(res.statistic), p_value=float(res.pvalue), **common)


def _check_p(p: object) -> np.ndarray:
    arr = np.array(p, dtype=np.float64, copy=True)
    if arr.ndim != 1:
        raise AttrbenchError(f"p-values must be a flat list, shape (m,); got {arr.shape}.")
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        raise AttrbenchError("p-values must lie in [0, 1] (NaN = not tested).")
    return arr


def _tested_ascending(p: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, all-NaN output, positions of the non-NaN p in ascending order (stable))``."""
    arr = _check_p(p)
    idx = np.flatnonzero(~np.isnan(arr))
    return arr, np.full_like(arr, np.nan), idx[np.argsort(arr[idx], kind="stable")]


def holm(p: object) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate).

    ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` over the ascending order; NaN entries
    (pairs that could not be tested) are left NaN and do not count towards ``m``.

    Args:
        p: ``(m,)`` raw p-values.

    Returns:
        ``(m,)`` adjusted p-values in the input order.
    """
    arr, out, order = _tested_ascending(p)
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * arr[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(p: object) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (controls the false discovery rate).

    ``p_adj(i) = min_{j >= i} min(1, m p_(j) / j)`` over the ascending order; NaN entries are left
    NaN and do not count towards ``m``.

    Args:
        p: ``(m,)`` raw p-values.

    Returns:
        ``(m,)`` adjusted p-values in the input order.
    """
    arr, out, order = _tested_ascending(p)
    m = order.size
    scaled = m * arr[order] / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust_pvalues(p: object, correction: str = "holm") -> np.ndarray:
    """``holm`` (default), ``bh`` (Benjamini-Hochberg) or ``none`` correction of ``p``."""
    check_options(correction=correction)
    if correction == "holm":
        return holm(p)
    if correction == "bh":
        return benjamini_hochberg(p)
    return _check_p(p)


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test over N images (blocks) and k estimators.

    Attributes:
        n: images with a value for every estimator.
        k: estimators.
        statistic: Friedman chi-square (tie-corrected, as SciPy computes it); NaN if untestable.
        p_value: its chi-square (k - 1 df) p-value; NaN if untestable.
        mean_ranks: ``(k,)`` mean rank of each estimator over the images, 1 = largest value.
        note: empty, or why the test could not be run ("not enough data: ...").
    """

    n: int
    k: int
    statistic: float
    p_value: float
    mean_ranks: np.ndarray = field(repr=False, compare=False)
    note: str = ""


def _check_matrix(values: object) -> np.ndarray:
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 2:
        raise AttrbenchError(
            f"Per-image values must be a matrix (N images, k estimators); got shape {arr.shape}.")
    n, k = arr.shape
    if k < 2:
        raise AttrbenchError(
            f"not enough data: {k} estimator(s); ranking needs at least 2 (3 for Friedman).")
    if n < 2:
        raise AttrbenchError(f"not enough data: {n} image(s); ranking needs at least 2.")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        raise AttrbenchError(
            f"Per-image values hold {len(bad)} NaN or infinite entries (first at image row "
            f"{int(bad[0, 0])}, estimator column {int(bad[0, 1])}); keep only images every "
            "estimator scored.")
    return arr


def mean_ranks(values: object) -> np.ndarray:
    """Mean rank of each estimator: ``values`` ``(N, k)`` ranked within each image, 1 = largest
    value, ties get their average rank. Returns ``(k,)``."""
    arr = _check_matrix(values)
    return stats.rankdata(-arr, axis=1).mean(axis=0)


def friedman(values: object) -> FriedmanResult:
    """Friedman test of whether k estimators rank alike across N images.

    Args:
        values: ``(N, k)`` per-image values, one column per estimator (larger = better).

    Returns:
        :class:`FriedmanResult`. With k = 2 (use :func:`paired_comparison` instead) or when every
        image ties all estimators the statistic and p-value are NaN and ``note`` says why.

    Raises:
        AttrbenchError: fewer than 2 images or estimators, NaN or infinite values.
    """
    arr = _check_matrix(values)
    n, k = arr.shape
    ranks = mean_ranks(arr)
    if k < 3:
        return FriedmanResult(n, k, math.nan, math.nan, ranks,
                              "not enough data: Friedman needs at least 3 estimators; "
                              "the paired test compares two")
    if np.all(arr.max(axis=1) == arr.min(axis=1)):
        return FriedmanResult(n, k, math.nan, math.nan, ranks,
                              "not enough data: every image ties all estimators")
    res = stats.friedmanchisquare(*arr.T)
    return FriedmanResult(n, k, float(res.statistic), float(res.pvalue), ranks)


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of mean ranks (Demšar 2006, Eq. after Table 5).

    ``CD = q_alpha sqrt(k (k + 1) / (6 N))`` with ``q_alpha = Q_{1-alpha}(k, inf) / sqrt(2)``,
    ``Q`` the studentized range quantile (``scipy.stats.studentized_range``).

    Args:
        k: estimators (>= 2).
        n: images (>= 1).
        alpha: family-wise significance level in (0, 1).

    Returns:
        The CD in rank units: two mean ranks further apart than this differ at level ``alpha``.
    """
    if k < 2 or n < 1:
        raise AttrbenchError(f"The CD needs k >= 2 estimators and n >= 1 images; got {k}, {n}.")
    if not 0.0 < float(alpha) < 1.0:
        raise AttrbenchError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05); got {alpha}.")
    q = float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


@dataclass(frozen=True)
class NemenyiResult:
    """Nemenyi post-hoc test after Friedman.

    Attributes:
        p_values: ``(k, k)`` symmetric matrix of pairwise p-values (diagonal 1).
        cd: critical difference of mean ranks at ``alpha``.
        alpha: family-wise level of the CD.
        mean_ranks: ``(k,)`` mean ranks (1 = best).
        n: images.
    """

    p_values: np.ndarray = field(repr=False)
    cd: float
    alpha: float
    mean_ranks: np.ndarray = field(repr=False)
    n: int


def nemenyi(values: object, alpha: float = 0.05) -> NemenyiResult:
    """Nemenyi all-pairs test on mean ranks (Demšar 2006, Sec. 3.2.2).

    For estimators i, j: ``q = |R_i - R_j| / sqrt(k (k + 1) / (6 N)) * sqrt(2)`` and
    ``p = P(Q(k, inf) > q)``; the family-wise error is controlled by the studentized range itself,
    so these p-values need no further correction.

    Args:
        values: ``(N, k)`` per-image values, one column per estimator (larger = better).
        alpha: level of the critical difference.

    Returns:
        :class:`NemenyiResult`.
    """
    arr = _check_matrix(values)
    n, k = arr.shape
    ranks = mean_ranks(arr)
    se = math.sqrt(k * (k + 1) / (6.0 * n))
    q = np.abs(ranks[:, None] - ranks[None, :]) / se * math.sqrt(2.0)
    p = np.asarray(stats.studentized_range.sf(q, k, np.inf), dtype=np.float64)
    np.fill_diagonal(p, 1.0)
    return NemenyiResult(p_values=np.clip(p, 0.0, 1.0), cd=critical_difference(k, n, alpha),
                         alpha=float(alpha), mean_ranks=ranks, n=n)


def cd_cliques(ranks: object, cd: float) -> list[tuple[int, ...]]:
    """Maximal groups of estimators whose mean ranks all lie within ``cd`` of each other.

    These are the bars of a critical-difference diagram: estimators joined by a bar are not
    significantly different. Groups of one are omitted.

    Args:
        ranks: ``(k,)`` mean ranks.
        cd: critical difference.

    Returns:
        Groups as tuples of indices into ``ranks``, in ascending rank order, sorted by their best
        member.
    """
    r = np.asarray(ranks, dtype=np.float64).reshape(-1)
    order = np.argsort(r, kind="stable")
    groups: list[tuple[int, ...]] = []
    last_end = -1
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and r[order[j + 1]] - r[order[i]] < cd:
            j += 1
        if j > i and j > last_end:
            groups.append(tuple(int(v) for v in order[i:j + 1]))
            last_end = j
    return groups


def two_level_bootstrap_ci(per_seed: Sequence[object], *, level: float = 0.95,
                           n_boot: int = 10_000, seed: int = 0,
                           return_replicates: bool = False) -> tuple[float, float, float]:
    """Two-level bootstrap CI of the grand mean over training seeds and images.

    The estimate is the mean over seeds of each seed's mean over its images. Each replicate draws
    ``m`` seeds with replacement, then, independently for every draw, that seed's images with
    replacement; the interval is the percentile interval of the replicates. It covers both the
    training-seed and the image sampling (a one-level image bootstrap covers only the latter).
    With few seeds (m < 5) it is too narrow, as any bootstrap over m units.

    Args:
        per_seed: ``m`` arrays, one per seed, of per-image values (``(N_s,)`` each, N_s >= 1;
            e.g. per-image fidelity A of one estimator under each training seed).
        level: two-sided confidence level.
        n_boot: replicates (>= 100).
        seed: resampling seed.
        return_replicates: also return the ``(n_boot,)`` replicates (4th element).

    Returns:
        ``(estimate, low, high)`` in the units of the values.

    Raises:
        AttrbenchError: fewer than 2 seeds, an empty seed, NaN values, bad options.
    """
    groups = [check_per_image(g, f"seed {i} values", min_n=1) for i, g in enumerate(per_seed)]
    if len(groups) < 2:
        raise AttrbenchError(
            f"not enough data: {len(groups)} seed(s); a between-seed interval needs at least 2 "
            "finished seeds.")
    check_options(level)
    if int(n_boot) < 100:
        raise AttrbenchError(f"n_boot must be at least 100 (e.g. 10000); got {n_boot}.")
    m, n_boot = len(groups), int(n_boot)
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, m, size=(n_boot, m))
    slot_means = np.empty((n_boot, m))
    for s_idx, values in enumerate(groups):
        mask = chosen == s_idx
        count = int(mask.sum())
        if count == 0:
            continue
        n = values.shape[0]
        means = np.empty(count)
        per_chunk = max(1, _BOOT_CHUNK // n)
        for start in range(0, count, per_chunk):
            stop = min(count, start + per_chunk)
            means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
        slot_means[mask] = means
    replicates = slot_means.mean(axis=1)
    alpha = (1.0 - float(level)) / 2.0
    lo, hi = np.percentile(replicates, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    estimate = float(np.mean([g.mean() for g in groups]))
    if return_replicates:
        return estimate, float(lo), float(hi), replicates  # type: ignore[return-value]
    return estimate, float(lo), float(hi)


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance of k estimators ranked by m seeds.

    Attributes:
        w: W in [0, 1] (1 = every seed ranks the estimators the same), tie-corrected; NaN if
            every seed ties all estimators.
        chi2: the equivalent Friedman statistic ``m (k - 1) W``.
        p_value: its chi-square (k - 1 df) p-value (H0: the rankings are unrelated).
        m: seeds.
        k: estimators.
    """

    w: float
    chi2: float
    p_value: float
    m: int
    k: int


def kendalls_w(values: object) -> KendallW:
    """Kendall's W of the estimator ranking across seeds.

    Each seed (row) ranks the estimators (columns) by value, 1 = largest, ties averaged;
    ``W = 12 S / (m^2 (k^3 - k) - m sum T)`` with ``S`` the sum of squared deviations of the rank
    sums from their mean and ``T = sum(t^3 - t)`` over each seed's tie groups (Kendall & Babington
    Smith 1939). ``m (k - 1) W`` is the tie-corrected Friedman statistic with seeds as blocks.

    Args:
        values: ``(m, k)`` per-seed values (e.g. A of each estimator under each training seed).

    Returns:
        :class:`KendallW`.

    Raises:
        AttrbenchError: fewer than 2 seeds or estimators, NaN values.
    """
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise AttrbenchError(
            f"not enough data: Kendall's W needs (m seeds >= 2, k estimators >= 2) values; got "
            f"shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise AttrbenchError("Kendall's W: NaN or infinite values; keep only finished seeds.")
    m, k = arr.shape
    ranks = stats.rankdata(-arr, axis=1)
    sums = ranks.sum(axis=0)
    s_dev = float(np.sum((sums - sums.mean()) ** 2))
    ties = 0.0
    for row in arr:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts.astype(np.float64) ** 3 - counts))
    denom = m**2 * (k**3 - k) - m * ties
    if denom <= 0:
        return KendallW(math.nan, math.nan, math.nan, m, k)
    w = 12.0 * s_dev / denom
    chi2 = m * (k - 1) * w
    return KendallW(w, chi2, float(stats.chi2.sf(chi2, k - 1)), m, k)


def check_options(level: float | None = None, correction: str | None = None,
                  ci_method: str | None = None) -> None:
    """Check whichever is given: a CI ``level``, a p-value ``correction``, a ``ci_method``.

    Raises:
        AttrbenchError: level outside (0, 1), or a name not in :data:`CORRECTIONS` /
            :data:`CI_METHODS`.
    """
    if level is not None and not 0.0 < float(level) < 1.0:
        raise AttrbenchError(f"level must lie strictly between 0 and 1 (e.g. 0.95); got {level}.")
    if correction is not None and correction not in CORRECTIONS:
        raise AttrbenchError(
            f"Unknown correction {correction!r}; use one of: {', '.join(CORRECTIONS)}.")
    if ci_method is not None and ci_method not in CI_METHODS:
        raise AttrbenchError(f"Unknown CI method {ci_method!r}; use one of: "
                             f"{', '.join(CI_METHODS)}.")
