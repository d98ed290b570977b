"""Paired statistics: against SciPy, Demšar's tables, hand-computed cases and simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.paired import (
    IDENTICAL_NOTE,
    adjust_pvalues,
    benjamini_hochberg,
    bootstrap_mean_ci,
    cd_cliques,
    critical_difference,
    friedman,
    holm,
    kendalls_w,
    mean_ranks,
    nemenyi,
    paired_comparison,
    rank_biserial,
    two_level_bootstrap_ci,
)


def _pair(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-image A of two estimators on the same images: a shared image effect (the images
    differ a lot) plus skewed estimator noise; X is better by ``shift`` noise SDs."""
    image = rng.normal(40.0, 15.0, n)
    return (image + rng.exponential(5.0, n) + 5.0 * shift, image + rng.exponential(5.0, n))


# --- against SciPy -----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [20, 100])  # exact and normal-approximation p-values
def test_wilcoxon_matches_scipy(n):
    rng = np.random.default_rng(n)
    x, y = _pair(rng, n, 0.3)
    res = paired_comparison(x, y, n_boot=200)
    ref = stats.wilcoxon(x - y)
    assert res.statistic == ref.statistic and res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.n == n and res.mean_diff == pytest.approx(float(np.mean(x - y)))
    assert res.wins == pytest.approx(np.mean(x > y)) and res.losses == pytest.approx(np.mean(x < y))
    assert res.d_z == pytest.approx(np.mean(x - y) / np.std(x - y, ddof=1))


def test_rank_biserial_hand_case_and_scipy_rank_sums():
    # |d| ranks: 0.5->1, 1->2, 2->3, 3->4, 4->5, 5->6, 6->7; R+ = 1+2+4+5+7 = 19, R- = 3+6 = 9
    r, r_plus, r_minus = rank_biserial([1.0, -2.0, 3.0, 4.0, -5.0, 6.0, 0.5, 0.0])
    assert (r_plus, r_minus) == (19.0, 9.0) and r == pytest.approx(10.0 / 28.0)
    d = np.round(np.random.default_rng(3).normal(0.2, 1.0, 80), 1)  # ties and zeros
    r, r_plus, r_minus = rank_biserial(d)
    assert r_plus == stats.wilcoxon(d, alternative="greater").statistic
    m = np.count_nonzero(d)
    assert r_plus + r_minus == m * (m + 1) / 2  # SciPy reports R+ for either one-sided test
    assert r == pytest.approx((r_plus - r_minus) / (r_plus + r_minus))
    assert rank_biserial(np.ones(5))[0] == 1.0 and rank_biserial(-np.ones(5))[0] == -1.0


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_bootstrap_ci_matches_scipy(method):
    d = np.random.default_rng(7).lognormal(0.0, 1.2, 30)  # skewed: BCa != percentile
    lo, hi = bootstrap_mean_ci(d, n_boot=40_000, seed=1, method=method)
    ref = stats.bootstrap((d,), np.mean, n_resamples=40_000, method=method.replace("bca", "BCa"),
                          rng=np.random.default_rng(2)).confidence_interval
    width = ref.high - ref.low
    # Monte Carlo error of each end is about 0.005 widths at 40,000 resamples
    assert abs(lo - ref.low) < 0.03 * width and abs(hi - ref.high) < 0.03 * width
    other = bootstrap_mean_ci(d, n_boot=40_000, seed=1,
                              method="percentile" if method == "bca" else "bca")
    assert abs(other[1] - hi) > 0.1 * width  # the two methods really differ on skewed data


def test_bootstrap_is_seeded_and_chunked():
    d = np.random.default_rng(0).normal(size=3000)  # 3000 x 1000 resamples > one chunk
    assert bootstrap_mean_ci(d, n_boot=1000, seed=5) == bootstrap_mean_ci(d, n_boot=1000, seed=5)
    lo, hi = bootstrap_mean_ci(d, n_boot=1000, seed=5, method="percentile")
    half = 1.96 * d.std() / math.sqrt(d.size)  # normal theory for the mean
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)


def test_friedman_matches_scipy_and_the_rank_formula():
    rng = np.random.default_rng(11)
    values = rng.normal(size=(30, 4)) + np.array([0.8, 0.4, 0.0, 0.0])
    res = friedman(values)
    ref = stats.friedmanchisquare(*values.T)
    assert res.statistic == pytest.approx(ref.statistic) and res.p_value == pytest.approx(
        ref.pvalue)
    n, k = values.shape
    ranks = np.array([stats.rankdata(-row) for row in values]).mean(axis=0)
    chi2 = 12.0 * n / (k * (k + 1)) * np.sum(ranks**2) - 3.0 * n * (k + 1)  # tie-free data
    assert res.statistic == pytest.approx(chi2)
    np.testing.assert_allclose(res.mean_ranks, ranks)
    assert res.n == 30 and res.k == 4 and res.note == ""


def test_mean_ranks_rank_one_is_best_with_average_ties():
    np.testing.assert_allclose(mean_ranks([[3.0, 2.0, 2.0], [5.0, 1.0, 0.0]]), [1.0, 2.25, 2.75])


# --- Nemenyi against Demšar (2006) Table 5 -------------------------------------------------------

DEMSAR_Q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
DEMSAR_Q10 = [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]


@pytest.mark.parametrize(("alpha", "table"), [(0.05, DEMSAR_Q05), (0.10, DEMSAR_Q10)])
def test_critical_difference_matches_demsar_table(alpha, table):
    for k, q in zip(range(2, 11), table, strict=True):
        cd = critical_difference(k, 6, alpha)
        assert cd / math.sqrt(k * (k + 1) / 36.0) == pytest.approx(q, abs=1.5e-3)


def test_nemenyi_pvalues_closed_form_and_cd_boundary():
    values = np.random.default_rng(4).normal(size=(50, 2)) + [0.3, 0.0]
    res = nemenyi(values)
    ranks = mean_ranks(values)
    z = abs(ranks[0] - ranks[1]) / math.sqrt(2 * 3 / (6.0 * 50))
    # k = 2: the studentized range of two normals is |N(0, 2)|, so p = 2 (1 - Phi(z))
    assert res.p_values[0, 1] == pytest.approx(2 * stats.norm.sf(z), rel=1e-6)
    assert res.p_values[0, 0] == 1.0 and res.p_values[1, 0] == res.p_values[0, 1]
    # a rank gap of exactly CD has p = alpha
    k, n = 5, 40
    cd = critical_difference(k, n, 0.05)
    q = cd / math.sqrt(k * (k + 1) / (6.0 * n)) * math.sqrt(2.0)
    assert stats.studentized_range.sf(q, k, np.inf) == pytest.approx(0.05, rel=1e-6)


def test_cd_cliques_hand_cases():
    assert cd_cliques([1.0, 1.5, 2.6, 3.0, 4.5], 1.2) == [(0, 1), (1, 2), (2, 3)]
    assert cd_cliques([1.4, 1.0, 1.2], 1.0) == [(1, 2, 0)]  # one bar holding all three
    assert cd_cliques([1.0, 3.0, 5.0], 1.0) == []


# --- corrections against a hand-computed case ---------------------------------------------------

def test_holm_and_bh_hand_computed():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04: Holm 4x, 3x, 2x, 1x -> 0.02, 0.03, 0.06, 0.04 -> cummax
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    # BH m p / j: 0.02, 0.02, 0.04, 0.04 -> cummin from the top
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.3, 0.5]), [0.6, 0.6])
    np.testing.assert_allclose(holm([0.6, 0.9]), [1.0, 1.0])
    np.testing.assert_allclose(adjust_pvalues(p, "none"), p)


def test_bh_matches_scipy():
    p = np.random.default_rng(9).uniform(0, 0.2, 25)
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))


# --- planted effect and null false-positive rate -------------------------------------------------

def test_planted_better_estimator_is_detected_at_n_100():
    x, y = _pair(np.random.default_rng(21), 100, 0.5)
    res = paired_comparison(x, y)
    assert res.p_value < 0.001 and res.ci_low > 0 and res.rank_biserial > 0.3 and res.wins > 0.6
    values = np.column_stack([x, y, y - np.random.default_rng(22).exponential(5.0, 100)])
    fr = friedman(values)
    assert fr.p_value < 0.001 and np.argmin(fr.mean_ranks) == 0


def test_null_false_positive_rate_is_nominal():
    rng = np.random.default_rng(2024)
    sims, alpha = 400, 0.05
    rejected_w = rejected_ci = 0
    for i in range(sims):
        x, y = _pair(rng, 100, 0.0)
        res = paired_comparison(x, y, n_boot=1000 if i < 200 else 100, seed=i)
        rejected_w += res.p_value < alpha
        if i < 200:
            rejected_ci += res.ci_low > 0 or res.ci_high < 0
    for rejected, m in ((rejected_w, sims), (rejected_ci, 200)):
        se = math.sqrt(alpha * (1 - alpha) / m)
        assert abs(rejected / m - alpha) <= 2 * se, (rejected, m)


# --- bad input -----------------------------------------------------------------------------------

def test_bad_input_is_refused_clearly():
    with pytest.raises(AttrbenchError, match="not enough data.*at least 2"):
        paired_comparison([1.0], [2.0])
    with pytest.raises(AttrbenchError, match="NaN or infinite per-image.*rows \\[1\\]"):
        paired_comparison([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(AttrbenchError, match="same images"):
        paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(AttrbenchError, match="not enough data: 1 estimator"):
        friedman(np.ones((5, 1)))
    with pytest.raises(AttrbenchError, match="not enough data: 1 image"):
        friedman(np.ones((1, 4)))
    with pytest.raises(AttrbenchError, match="NaN or infinite entries"):
        friedman([[1.0, 2.0, np.inf], [1.0, 2.0, 3.0]])
    with pytest.raises(AttrbenchError, match="Unknown correction"):
        adjust_pvalues([0.1], "bonferoni")
    with pytest.raises(AttrbenchError, match="Unknown CI method"):
        bootstrap_mean_ci([1.0, 2.0], method="bc")
    with pytest.raises(AttrbenchError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


def test_all_equal_values_give_explicit_not_enough_data():
    same = np.arange(10.0)
    res = paired_comparison(same, same.copy())
    assert math.isnan(res.p_value) and res.note == IDENTICAL_NOTE
    assert (res.mean_diff, res.ci_low, res.ci_high) == (0.0, 0.0, 0.0)
    shifted = paired_comparison(same + 2.0, same)  # constant non-zero difference: testable
    assert shifted.p_value < 0.01 and (shifted.ci_low, shifted.ci_high) == (2.0, 2.0)
    fr = friedman(np.full((6, 3), 7.0))
    assert math.isnan(fr.p_value) and "every image ties all estimators" in fr.note
    assert "at least 3 estimators" in friedman(np.ones((6, 2)) * [1.0, 2.0]).note


# --- seeds: two-level bootstrap and Kendall's W ------------------------------------------------

def test_two_level_bootstrap_matches_its_closed_form_variance():
    rng = np.random.default_rng(8)
    groups = [rng.normal(mu, 10.0, n) for mu, n in zip([30, 34, 29, 40, 36, 31], range(30, 90, 10),
                                                         strict=True)]
    est, lo, hi, reps = two_level_bootstrap_ci(groups, n_boot=20_000, seed=3,
                                               return_replicates=True)
    seed_means = np.array([g.mean() for g in groups])
    assert est == pytest.approx(seed_means.mean()) and lo < est < hi
    # Var = (1/m) [var0(seed means) + mean(var0(seed values) / N_s)]: seed draw, then image draw
    within = np.mean([g.var() / g.size for g in groups])
    sd = math.sqrt((seed_means.var() + within) / len(groups))
    assert reps.std() == pytest.approx(sd, rel=0.03)
    assert np.percentile(reps, 2.5) == pytest.approx(lo)
    # one-level image bootstrap of the pooled images ignores the seeds and is much narrower
    pooled = bootstrap_mean_ci(np.concatenate(groups), method="percentile")
    assert pooled[1] - pooled[0] < 0.7 * (hi - lo)


def test_kendalls_w_hand_cases_and_scipy_friedman():
    assert kendalls_w([[3.0, 2.0, 1.0]] * 4).w == pytest.approx(1.0)
    assert kendalls_w([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]]).w == pytest.approx(0.0)
    # m = 3, k = 4; ranks (1 = largest) 1234, 1324, 2134 -> rank sums 4, 6, 8, 12, mean 7.5
    # -> S = 3.5^2 + 1.5^2 + 0.5^2 + 4.5^2 = 35 -> W = 12 * 35 / (3^2 * (4^3 - 4)) = 0.7778
    w = kendalls_w([[4.0, 3.0, 2.0, 1.0], [4.0, 2.0, 3.0, 1.0], [3.0, 4.0, 2.0, 1.0]])
    assert w.w == pytest.approx(12 * 35 / 540)
    values = np.round(np.random.default_rng(1).normal(size=(7, 5)) + np.arange(5) * 0.4, 1)
    values[0, 1] = values[0, 2]  # a tie
    res = kendalls_w(values)
    ref = stats.friedmanchisquare(*values.T)  # seeds are the blocks
    assert res.chi2 == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    assert res.w == pytest.approx(ref.statistic / (7 * 4))


def test_seed_statistics_refuse_too_little_data():
    with pytest.raises(AttrbenchError, match="not enough data: 1 seed"):
        two_level_bootstrap_ci([np.arange(5.0)])
    with pytest.raises(AttrbenchError, match="seed 1 values has 1 NaN"):
        two_level_bootstrap_ci([np.arange(5.0), np.array([1.0, np.nan])])
    with pytest.raises(AttrbenchError, match="not enough data: Kendall"):
        kendalls_w([[1.0, 2.0]])
    assert math.isnan(kendalls_w(np.ones((3, 4))).w)  # every seed ties every estimator
