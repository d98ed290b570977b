"""Each attack vs random_sign, paired by image over label-kept images (issue 15 item 6)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.paired import holm, paired_comparison
from attrbench.robustness.compare import COMPARE_COLUMNS, compare_to_baseline
from attrbench.robustness.report import comparison_table, write_robustness_report
from attrbench.results import ResultStore
from attrbench.robustness.results import ROBUSTNESS_ROWS


def _rows(attack: str, values: list[float], kept: list[bool] | None = None, *, eps: float = 0.1,
          measure: str = "topk_intersection", method: str = "vanilla_gradient",
          ids: list[int] | None = None) -> pd.DataFrame:
    n = len(values)
    kept = [True] * n if kept is None else kept
    return pd.DataFrame({
        "run": "r", "model": "m", "method": method, "attack": attack, "eps": eps,
        "image_id": np.arange(n) if ids is None else ids, "label": 0, "target": 0,
        "kept_label": kept, "restart": 1, "iteration": 1, "measure": measure,
        "value": [v if k else math.nan for v, k in zip(values, kept)],
    })


def test_hand_computed_all_images_lower_than_random_sign() -> None:
    # d = topk - random_sign = -0.1, -0.2, ..., -0.5: every image lower, ranks 1..5 all negative
    base = [0.9, 0.8, 0.9, 0.8, 0.9]
    topk = [b - d for b, d in zip(base, [0.1, 0.2, 0.3, 0.4, 0.5])]
    rows = pd.concat([_rows("random_sign", base), _rows("topk", topk)], ignore_index=True)
    out = compare_to_baseline(rows, min_images=2, n_boot=2000)
    assert list(out.columns) == COMPARE_COLUMNS and len(out) == 1
    r = out.iloc[0]
    assert (r["attack"], r["baseline"], r["n"], r["n_images"]) == ("topk", "random_sign", 5, 5)
    assert r["diff"] == pytest.approx(-0.3)
    assert r["p"] == pytest.approx(2 / 32)  # exact Wilcoxon: only 1 of 32 sign patterns as extreme
    assert r["p_adj"] == pytest.approx(2 / 32)  # a family of one
    assert r["rank_biserial"] == pytest.approx(-1.0)
    assert (r["wins"], r["losses"]) == (0.0, 1.0)
    assert not r["significant"]  # 0.0625 >= 0.05: five images cannot reach 5 %
    assert r["ci_low"] < -0.3 < r["ci_high"] < 0


def test_only_images_both_attacks_kept_and_matches_paired_py() -> None:
    rng = np.random.default_rng(3)
    n = 30
    base = rng.uniform(0.5, 1.0, n)
    topk = base - rng.uniform(0.0, 0.3, n)
    kept_b = rng.uniform(size=n) > 0.2
    kept_t = rng.uniform(size=n) > 0.2
    lens_b = rng.uniform(0.4, 1.0, n)
    lens_t = lens_b + rng.normal(0.0, 0.05, n)
    rows = pd.concat([
        _rows("random_sign", list(base), list(kept_b)),
        _rows("topk", list(topk), list(kept_t)),
        _rows("random_sign", list(lens_b), list(kept_b), measure="lens_recall_w1"),
        _rows("topk", list(lens_t), list(kept_t), measure="lens_recall_w1"),
        _rows("random_sign", [1.0] * n, eps=0.0), _rows("topk", [1.0] * n, eps=0.0),
    ], ignore_index=True)
    out = compare_to_baseline(rows, min_images=5).set_index("measure")
    assert set(out["eps"]) == {0.1}  # eps = 0 is left out
    both = kept_b & kept_t
    expected = {"topk_intersection": paired_comparison(topk[both], base[both]),
                "lens_recall_w1": paired_comparison(lens_t[both], lens_b[both])}
    p_holm = holm([expected["lens_recall_w1"].p_value, expected["topk_intersection"].p_value])
    for (measure, res), p_adj in zip(sorted(expected.items()), p_holm):
        r = out.loc[measure]
        assert (r["n"], r["n_images"]) == (int(both.sum()), n)
        assert r["diff"] == pytest.approx(res.mean_diff)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((res.ci_low, res.ci_high))
        assert r["p"] == pytest.approx(res.p_value)
        assert r["p"] == pytest.approx(stats.wilcoxon(
            (topk if measure == "topk_intersection" else lens_t)[both]
            - (base if measure == "topk_intersection" else lens_b)[both]).pvalue)
        assert r["rank_biserial"] == pytest.approx(res.rank_biserial)
        assert r["p_adj"] == pytest.approx(p_adj)
        assert r["significant"] == (p_adj < 0.05)
    assert out.loc["topk_intersection", "significant"]  # topk lowers by 0.15 on average
    bh = compare_to_baseline(rows, min_images=5, correction="bh").set_index("measure")
    assert bh.loc["topk_intersection", "p"] == pytest.approx(out.loc["topk_intersection", "p"])


def test_not_enough_images_is_explicit_and_leaves_the_family() -> None:
    rows = pd.concat([
        _rows("random_sign", [0.9, 0.8, 0.7, 0.6], [True, True, False, True]),
        _rows("topk", [0.5, 0.4, 0.3, 0.2], [True, False, True, False]),
        _rows("random_sign", [0.9] * 6, measure="kendall", ids=list(range(6))),
        _rows("topk", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], measure="kendall", ids=list(range(6))),
    ], ignore_index=True)
    out = compare_to_baseline(rows, min_images=3).set_index("measure")
    few = out.loc["topk_intersection"]
    assert (few["n"], few["n_images"]) == (1, 4)
    assert few["note"].startswith("not enough data: 1 of 4 image(s) kept the label")
    assert math.isnan(few["diff"]) and math.isnan(few["p_adj"]) and not few["significant"]
    ok = out.loc["kendall"]
    assert ok["p"] == pytest.approx(2 / 64) and ok["p_adj"] == pytest.approx(2 / 64)
    assert ok["significant"]  # alone in its family, since the other has no test


def test_identical_values_say_so() -> None:
    rows = pd.concat([_rows("random_sign", [0.5, 0.6, 0.7]), _rows("topk", [0.5, 0.6, 0.7])],
                     ignore_index=True)
    r = compare_to_baseline(rows, min_images=2).iloc[0]
    assert r["note"] == "identical on every image; nothing to test"
    assert r["diff"] == 0.0 and math.isnan(r["p"]) and not r["significant"]


def test_bad_input_is_refused_with_what_to_do() -> None:
    topk = _rows("topk", [0.5, 0.4])
    with pytest.raises(AttrbenchError, match=r"No random_sign rows.*--attack random_sign"):
        compare_to_baseline(topk)
    with pytest.raises(AttrbenchError, match=r"not enough data: only random_sign was run"):
        compare_to_baseline(_rows("random_sign", [0.5, 0.4]))
    with pytest.raises(AttrbenchError, match=r"repeat .*mix two runs"):
        compare_to_baseline(pd.concat([topk, topk, _rows("random_sign", [0.5, 0.4])]))
    with pytest.raises(AttrbenchError, match=r"lack columns \['kept_label'\]"):
        compare_to_baseline(topk.drop(columns=["kept_label"]))
    ok = pd.concat([topk, _rows("random_sign", [0.5, 0.4])], ignore_index=True)
    with pytest.raises(AttrbenchError, match=r"Unknown correction"):
        compare_to_baseline(ok, correction="bonferroni")
    with pytest.raises(AttrbenchError, match=r"min_images must be an integer >= 1"):
        compare_to_baseline(ok, min_images=0)


def test_report_section_table_and_csv(tmp_path: Path) -> None:
    rows = pd.concat([
        _rows("random_sign", [0.9] * 6), _rows("topk", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        _rows("random_sign", [0.9] * 6, eps=0.2), _rows("topk", [0.9, 0.8] + [math.nan] * 4,
                                                       [True, True] + [False] * 4, eps=0.2),
    ], ignore_index=True)
    ResultStore(tmp_path, {"test": 1}, 0).table(ROBUSTNESS_ROWS).write("a", rows)
    report = write_robustness_report(tmp_path, min_images=3)
    assert report == tmp_path / "report.html"
    csv = pd.read_csv(tmp_path / "robustness_vs_random_sign.csv")
    assert list(csv.columns) == COMPARE_COLUMNS and list(csv["n"]) == [6, 2]
    res = paired_comparison([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.9] * 6)
    cell = f"-0.55 [{res.ci_low:+.2f}, {res.ci_high:+.2f}] * (n=6)"  # p = 2/64 < 0.05
    wide = comparison_table(compare_to_baseline(rows, min_images=3))
    assert list(wide.index) == ["m / vanilla_gradient / topk / topk_intersection"]
    assert list(wide.columns) == ["ε=25.5/255", "ε=51/255"]
    assert list(wide.iloc[0]) == [cell, "not enough data (n=2)"]
    html = report.read_text()
    assert "Attacks against random_sign, paired by image" in html
    assert cell in html and "not enough data (n=2)" in html


def test_report_without_random_sign_says_how_to_get_it(tmp_path: Path) -> None:
    ResultStore(tmp_path, {"test": 1}, 0).table(ROBUSTNESS_ROWS).write(
        "a", _rows("topk", [0.5, 0.4, 0.3]))
    report = write_robustness_report(tmp_path, min_images=1)
    assert not (tmp_path / "robustness_vs_random_sign.csv").exists()
    assert "No random_sign rows in these results" in report.read_text()
