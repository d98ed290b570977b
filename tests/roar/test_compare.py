"""Estimators vs random per threshold across retraining repeats (issue 15 item 6)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.paired import holm
from attrbench.roar.compare import (
    compare_columns,
    compare_to_random,
    min_permutation_p,
    repeats_needed,
    two_sample_test,
)
from attrbench.roar.report import write_roar_report
from attrbench.results import ResultStore


def _acc(cells: dict[tuple[str, float], list[float]], x: str = "threshold",
         benchmark: str = "roar") -> pd.DataFrame:
    rows = [{"benchmark": benchmark, "variant": v, x: t, "repeat": r, "test_accuracy": a}
            for (v, t), accs in cells.items() for r, a in enumerate(accs)]
    return pd.DataFrame(rows)


def _welch_by_hand(a: list[float], b: list[float], level: float = 0.95):
    a_, b_ = np.asarray(a), np.asarray(b)
    va, vb = a_.var(ddof=1) / a_.size, b_.var(ddof=1) / b_.size
    df = (va + vb) ** 2 / (va**2 / (a_.size - 1) + vb**2 / (b_.size - 1))
    diff, se = a_.mean() - b_.mean(), math.sqrt(va + vb)
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return diff, df, 2 * stats.t.sf(abs(diff) / se, df), diff - half, diff + half


def _perm_by_hand(a: list[float], b: list[float]) -> float:
    pooled, n_a = np.asarray(a + b), len(a)
    observed = np.mean(a) - np.mean(b)
    diffs = []
    for idx in itertools.combinations(range(pooled.size), n_a):
        mask = np.zeros(pooled.size, bool)
        mask[list(idx)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    d = np.asarray(diffs)
    tol = 1e-12
    return min(1.0, 2 * min(np.mean(d >= observed - tol), np.mean(d <= observed + tol)))


def test_smallest_permutation_p_and_repeats_needed() -> None:
    assert [min_permutation_p(n, n) for n in (2, 3, 4, 5)] == pytest.approx(
        [2 / 6, 2 / 20, 2 / 70, 2 / 252])
    assert min_permutation_p(1, 1) == 1.0
    assert repeats_needed(0.05) == 4 and repeats_needed(0.01) == 5 and repeats_needed(0.2) == 3


def test_separated_four_repeats_hand_computed() -> None:
    a, b = [0.30, 0.32, 0.31, 0.29], [0.40, 0.41, 0.42, 0.43]
    res = two_sample_test(a, b)
    assert res["p_perm"] == pytest.approx(2 / 70)  # only the observed split is as extreme
    diff, df, p, lo, hi = _welch_by_hand(a, b)
    assert res["diff"] == pytest.approx(-0.11) and res["diff"] == pytest.approx(diff)
    assert (res["df"], res["p_welch"]) == pytest.approx((df, p))
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((lo, hi))
    assert res["sd_a"] == pytest.approx(np.std(a, ddof=1))
    out = compare_to_random(_acc({("random", 50.0): b, ("grad", 50.0): a,
                                  ("none", 0.0): [0.9] * 4}))
    assert list(out.columns) == compare_columns("threshold") and len(out) == 1
    r = out.iloc[0]
    assert (r["variant"], r["baseline"], r["threshold"], r["repeats"]) == ("grad", "random", 50, 4)
    assert r["p_adj"] == pytest.approx(2 / 70) and r["significant"] and r["note"] == ""


def test_overlapping_samples_match_full_enumeration() -> None:
    a, b = [0.30, 0.35, 0.41], [0.33, 0.40, 0.45, 0.44]
    res = two_sample_test(a, b)
    assert res["p_perm"] == pytest.approx(_perm_by_hand(a, b))
    assert res["p_perm_min"] == pytest.approx(2 / 35)
    assert res["p_welch"] == pytest.approx(_welch_by_hand(a, b)[2])


def test_many_repeats_use_a_seeded_monte_carlo_test() -> None:
    a = [0.30 + 0.001 * i for i in range(9)]
    b = [0.40 + 0.001 * i for i in range(9)]  # C(18, 9) = 48620 splits > 20000
    res = two_sample_test(a, b, seed=1)
    assert res["p_perm"] == pytest.approx(2 / 20_000)  # (0 + 1) / (19999 + 1), two-sided
    assert res["p_perm_min"] == pytest.approx(2 / math.comb(18, 9))
    assert two_sample_test(a, b, seed=1) == res


def test_three_repeats_are_not_enough_and_say_so() -> None:
    a, b = [0.30, 0.31, 0.29], [0.40, 0.41, 0.42]
    r = compare_to_random(_acc({("random", 30.0): b, ("grad", 30.0): a})).iloc[0]
    assert r["p_perm"] == pytest.approx(0.1) and not r["significant"]
    assert r["note"].startswith("not enough repeats: with 3 and 3 repeats the exact permutation "
                                "test cannot go below p = 0.1")
    assert "run at least 4 repeats of each" in r["note"]
    assert r["p_welch"] == pytest.approx(_welch_by_hand(a, b)[2])  # shown, but not deciding
    assert r["p_welch"] < 0.05


def test_one_repeat_has_no_spread_and_no_welch() -> None:
    r = compare_to_random(_acc({("random", 10.0): [0.4], ("grad", 10.0): [0.3]})).iloc[0]
    assert r["diff"] == pytest.approx(-0.1)
    assert math.isnan(r["sd"]) and math.isnan(r["p_welch"]) and math.isnan(r["ci_low"])
    assert math.isnan(r["p_perm"]) and math.isnan(r["p_adj"]) and not r["significant"]
    assert r["note"] == ("not enough repeats: 1 and 1; no spread, no test (both tests need 2 of "
                         "each; p < 0.05 needs at least 4 of each)")


def test_holm_across_estimators_at_each_threshold() -> None:
    rnd = [0.40, 0.41, 0.42, 0.43, 0.44]
    g = [0.30, 0.32, 0.31, 0.29, 0.28]   # below every random repeat: p = 2/252
    s = [0.41, 0.40, 0.45, 0.39, 0.42]   # overlapping
    cells = {("random", 50.0): rnd, ("grad", 50.0): g, ("smooth", 50.0): s,
             ("random", 90.0): rnd, ("grad", 90.0): g}
    out = compare_to_random(_acc(cells)).set_index(["threshold", "variant"])
    p_g, p_s = 2 / 252, _perm_by_hand(s, rnd)
    assert out.loc[(50.0, "smooth"), "p_perm"] == pytest.approx(p_s)
    adj = holm([p_g, p_s])
    assert out.loc[(50.0, "grad"), "p_adj"] == pytest.approx(adj[0])
    assert out.loc[(50.0, "smooth"), "p_adj"] == pytest.approx(adj[1])
    assert out.loc[(90.0, "grad"), "p_adj"] == pytest.approx(p_g)  # its own family of one
    bh = compare_to_random(_acc(cells), correction="bh").set_index(["threshold", "variant"])
    assert bh.loc[(50.0, "grad"), "p_adj"] == pytest.approx(min(1.0, 2 * p_g))


def test_identical_repeats_and_iteroar_iterations() -> None:
    acc = _acc({("none", 0): [0.9, 0.9], ("random", 1): [0.5, 0.5], ("grad", 1): [0.5, 0.5],
                ("random", 2): [0.5, 0.6], ("grad", 2): [0.3, 0.35]},
               x="iteration", benchmark="iteroar")
    out = compare_to_random(acc)
    assert list(out.columns) == compare_columns("iteration")
    assert list(out["iteration"]) == [1, 2]
    assert out.iloc[0]["note"] == "identical on every repeat; nothing to test"
    assert math.isnan(out.iloc[0]["p_perm"]) and not out.iloc[0]["significant"]
    assert out.iloc[1]["p_perm"] == pytest.approx(2 / 6)


def test_bad_input_is_refused_with_what_to_do() -> None:
    with pytest.raises(AttrbenchError, match=r"No 'random' variant.*--method random"):
        compare_to_random(_acc({("grad", 10.0): [0.3, 0.4]}))
    with pytest.raises(AttrbenchError, match=r"not enough data: only 'random' was run"):
        compare_to_random(_acc({("random", 10.0): [0.3, 0.4]}))
    dup = _acc({("random", 10.0): [0.3], ("grad", 10.0): [0.4]})
    with pytest.raises(AttrbenchError, match=r"repeats .* rows .*mixes two runs"):
        compare_to_random(pd.concat([dup, dup]))
    nan = _acc({("random", 10.0): [0.3, 0.4], ("grad", 10.0): [0.4, math.nan]})
    with pytest.raises(AttrbenchError, match=r"roar grad threshold 10: .*NaN"):
        compare_to_random(nan)
    with pytest.raises(AttrbenchError, match=r"not enough data: no accuracy rows"):
        compare_to_random(pd.DataFrame())
    with pytest.raises(AttrbenchError, match=r"Unknown correction"):
        compare_to_random(dup, correction="bonferroni")


def test_report_section_and_csv(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, {"test": 1}, seed=0).table("accuracy")
    cells = {("none", 0.0): [0.9, 0.88, 0.91], ("random", 50.0): [0.40, 0.41, 0.42],
             ("grad", 50.0): [0.30, 0.31, 0.29]}
    for (v, t), accs in cells.items():
        for r, a in enumerate(accs):
            store.write(f"{v}_t{t:g}_r{r}", [{
                "benchmark": "roar", "variant": v, "threshold": t, "repeat": r,
                "test_accuracy": a}])
    report = write_roar_report(tmp_path)
    assert report == tmp_path / "report.html"
    csv = pd.read_csv(tmp_path / "accuracy_vs_random.csv")
    assert list(csv.columns) == compare_columns() and list(csv["variant"]) == ["grad"]
    html = report.read_text()
    assert "Estimators against random across retraining repeats" in html
    assert "<td>-11.0</td>" in html and "not enough repeats (smallest p 0.1)" in html


def test_report_without_random_says_how_to_get_it(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, {"test": 1}, seed=0).table("accuracy")
    store.write("g", [{"benchmark": "roar", "variant": "grad", "threshold": 50.0,
                       "repeat": 0, "test_accuracy": 0.3}])
    report = write_roar_report(tmp_path)
    assert not (tmp_path / "accuracy_vs_random.csv").exists()
    assert "No &#x27;random&#x27; variant in these results" in report.read_text()
