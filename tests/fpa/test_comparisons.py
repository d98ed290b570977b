"""Paired comparisons from stored curves: per-image A, pairwise tables, CD diagram, report section.

The synthetic curves of ``conftest.py`` have per-image areas ``A_i = 50 (d_i + e_i)`` exactly, so
with N = 6 images every number below is computed by hand:

- Random: ``d + e = 0`` on every image, so ``A_i = 0`` (all three augmentations);
- IG_sum: FPA ``A_i = 50``, None ``A_i = 25``;
- VG_abs: FPA ``d + e = 0.3 + 0.9 i/5`` -> ``A_i = 15 + 9 i`` (15..60, mean 37.5);
  None ``d + e = 0.1 + 0.7 i/5`` -> ``A_i = 5 + 7 i`` (mean 22.5).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import attrbench
from attrbench.errors import AttrbenchError
from attrbench.fpa.comparisons import (
    PAIR_COLUMNS,
    PER_IMAGE_COLUMNS,
    cd_diagram_figure,
    compare_estimators,
    compare_models,
    paired_report,
    per_image_fidelity,
    seed_summary,
)
from attrbench.fpa.tables import fidelity_table
from attrbench.metrics.functional.paired import cd_cliques, nemenyi, two_level_bootstrap_ci

# exact two-sided Wilcoxon p for n = 6: all differences one sign -> 2/64; IG - VG on FPA has
# d = 35, 26, 17, 8, -1, -10 -> R- = 1 + 3 = 4, P(W <= 4) = 7/64 one-sided -> 14/64
P_ALL_ONE_SIGN = 2 / 64
P_IG_VG_FPA = 14 / 64


def test_per_image_fidelity_closed_form_and_table_agreement(curves, excluded_group):
    pi = per_image_fidelity(curves)
    assert list(pi.columns) == PER_IMAGE_COLUMNS
    fpa_vg = pi[(pi["augmentation"] == "fpa") & (pi["variant"] == "VG_abs")]
    np.testing.assert_allclose(fpa_vg["A"], 15 + 9 * np.arange(6), atol=1e-9)
    np.testing.assert_allclose(fpa_vg["A"], fpa_vg["auc_lif"] - fpa_vg["auc_mif"])
    aug, var = excluded_group
    ex = pi[(pi["augmentation"] == aug) & (pi["variant"] == var)]
    assert list(ex["image_id"]) == [1, 2, 3, 4, 5]  # image 0's step-0 logit is negative
    means = pi.groupby(["model", "augmentation", "variant"])["A"].mean()
    for row in fidelity_table(curves).itertuples():
        assert means[(row.model, row.augmentation, row.variant)] == pytest.approx(row.A, abs=1e-9)
    warped = curves.assign(fraction=curves["fraction"] ** 1.5)  # the two x axes now differ
    for axis in ("linspace", "fraction"):
        means = per_image_fidelity(warped, x_axis=axis).groupby(
            ["model", "augmentation", "variant"])["A"].mean()
        for row in fidelity_table(warped, x_axis=axis).itertuples():
            key = (row.model, row.augmentation, row.variant)
            assert means[key] == pytest.approx(row.A, abs=1e-9)
    default = per_image_fidelity(warped).groupby(["augmentation", "variant"])["A"].mean()
    assert default[("fpa", "VG_abs")] == pytest.approx(
        fidelity_table(warped).set_index(["augmentation", "variant"]).at[("fpa", "VG_abs"), "A"])
    assert attrbench.per_image_fidelity is per_image_fidelity
    assert attrbench.compare_estimators is compare_estimators


def test_pairwise_table_hand_computed(curves):
    comps = compare_estimators(curves, n_boot=2000)
    assert list(comps) == ["none", "fpa", "rectangle"]
    fpa = comps["fpa"]
    assert fpa.variants == ("Random", "IG_sum", "VG_abs")
    assert list(fpa.pairs.columns) == PAIR_COLUMNS
    rand_ig = fpa.pair("Random", "IG_sum")
    assert rand_ig["diff"] == pytest.approx(-50.0) and rand_ig["n"] == 6
    assert (rand_ig["ci_low"], rand_ig["ci_high"]) == pytest.approx((-50.0, -50.0))
    assert rand_ig["p"] == pytest.approx(P_ALL_ONE_SIGN) and rand_ig["rank_biserial"] == -1.0
    ig_vg = fpa.pair("IG_sum", "VG_abs")
    assert ig_vg["diff"] == pytest.approx(12.5) and ig_vg["p"] == pytest.approx(P_IG_VG_FPA)
    assert ig_vg["rank_biserial"] == pytest.approx((17 - 4) / 21) and ig_vg["wins"] == 4 / 6
    # Holm over the model's 3 pairs: 3 x 2/64, 2 x 2/64 -> cummax, 1 x 14/64
    holm = dict(zip(zip(fpa.pairs["x"], fpa.pairs["y"]), fpa.pairs["p_adj"]))
    assert holm[("Random", "IG_sum")] == pytest.approx(3 * P_ALL_ONE_SIGN)
    assert holm[("Random", "VG_abs")] == pytest.approx(3 * P_ALL_ONE_SIGN)
    assert holm[("IG_sum", "VG_abs")] == pytest.approx(P_IG_VG_FPA)
    assert fpa.n_significant() == 0  # n = 6 cannot reach 0.05 after Holm
    # the flipped view and the matrix are antisymmetric
    vg_ig = fpa.pair("VG_abs", "IG_sum")
    assert vg_ig["diff"] == pytest.approx(-12.5) and vg_ig["wins"] == ig_vg["losses"]
    assert vg_ig["ci_low"] == pytest.approx(-ig_vg["ci_high"])
    m = fpa.matrix()
    assert m.at["IG_sum", "Random"].startswith("+50.0 [+50.0, +50.0]") and m.at["IG_sum",
                                                                                "IG_sum"] == "—"
    assert fpa.friedman is not None and fpa.friedman.n == 6 and fpa.nemenyi is not None
    # images 0-3: IG 1st, VG 2nd, Random 3rd; images 4-5 (VG = 51, 60): VG 1st, IG 2nd
    np.testing.assert_allclose(fpa.friedman.mean_ranks, [3.0, 8 / 6, 10 / 6])
    text = fpa.sentence()
    assert "IG_sum beats VG_abs on 67 % of images" in text
    assert "not significant after Holm correction (p = 0.22)" in text
    assert "0 of 3 estimator pairs differ significantly" in text


def test_bh_correction_option(curves):
    fpa = compare_estimators(curves, correction="bh", n_boot=500)["fpa"]
    # BH: 3/1 x 2/64, 3/2 x 2/64 -> cummin from the top = 3/64 each; 14/64 stays
    p_adj = dict(zip(zip(fpa.pairs["x"], fpa.pairs["y"]), fpa.pairs["p_adj"]))
    assert p_adj[("Random", "IG_sum")] == pytest.approx(3 / 64)
    assert fpa.n_significant() == 2  # 3/64 < 0.05
    assert "Benjamini-Hochberg" in fpa.sentence()


def test_compare_models_paired_by_image(curves):
    table = compare_models(curves, "none", "fpa", n_boot=500)
    rows = table.set_index("variant")
    assert list(rows.index) == ["Random", "IG_sum", "VG_abs"]
    assert rows.at["IG_sum", "diff"] == pytest.approx(25.0)  # 50 - 25 on every image
    assert rows.at["VG_abs", "diff"] == pytest.approx(15.0)  # (15 + 9i) - (5 + 7i) = 10 + 2i
    assert rows.at["VG_abs", "p"] == pytest.approx(P_ALL_ONE_SIGN)
    # Random is identical in both models: not tested, left out of the Holm family (m = 2)
    assert math.isnan(rows.at["Random", "p"]) and "identical" in rows.at["Random", "note"]
    assert rows.at["IG_sum", "p_adj"] == pytest.approx(2 * P_ALL_ONE_SIGN)
    # images are paired by id, not by position: shuffle one model's rows
    pi = per_image_fidelity(curves)
    shuffled = pd.concat([pi[pi["augmentation"] != "none"],
                          pi[pi["augmentation"] == "none"].sample(frac=1.0, random_state=1)])
    again = compare_models(shuffled, "none", "fpa", n_boot=500).set_index("variant")
    assert again.at["VG_abs", "diff"] == pytest.approx(15.0)
    assert again.at["VG_abs", "wins"] == 1.0


def _per_image(values: dict[str, np.ndarray], aug: str = "fpa") -> pd.DataFrame:
    frames = [pd.DataFrame({"model": "m", "augmentation": aug, "variant": v,
                            "image_id": np.arange(len(a)), "auc_mif": 0.0, "auc_lif": a, "A": a})
              for v, a in values.items()]
    return pd.concat(frames, ignore_index=True)


def test_planted_better_estimator_detected_and_ranked_first():
    rng = np.random.default_rng(5)
    image = rng.normal(40.0, 15.0, 100)
    values = {name: image + rng.exponential(5.0, 100) for name in ("Random", "VG_abs", "SG_abs")}
    values["IG_sum"] = image + rng.exponential(5.0, 100) + 3.0  # better by construction
    comp = compare_estimators(_per_image(values), n_boot=2000)["fpa"]
    for other in ("Random", "VG_abs", "SG_abs"):
        row = comp.pair("IG_sum", other)
        assert row["significant"] and row["ci_low"] > 0 and row["diff"] > 0
    assert not comp.pair("VG_abs", "SG_abs")["significant"]  # same distribution
    ranks = dict(zip(comp.variants, comp.nemenyi.mean_ranks, strict=True))
    assert min(ranks, key=ranks.get) == "IG_sum" and comp.friedman.p_value < 1e-6
    assert "significant after Holm correction" in comp.sentence()


def test_cd_diagram_figure_draws_every_name_and_clique():
    values = np.random.default_rng(0).normal(size=(60, 5)) + np.array([1.0, 0.9, 0.5, 0.0, -0.2])
    nm = nemenyi(values)
    names = ["a", "b", "c", "d", "e"]
    fig = cd_diagram_figure(names, nm.mean_ranks, nm.cd, title="t")
    assert isinstance(fig, Figure)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(f" {n}" in texts or f"{n} (" in texts for n in names) and "CD = " in texts
    bars = [ln for ln in fig.axes[0].lines if (ln.get_gid() or "").startswith("clique-")]
    assert len(bars) == len(cd_cliques(nm.mean_ranks, nm.cd)) >= 1
    with pytest.raises(AttrbenchError, match=">= 2 estimators"):
        cd_diagram_figure(["a"], [1.0], 0.5)


def test_report_section_and_files(results_root):
    from attrbench.fpa.report import build_all

    out = build_all(results_root)
    for key in ("per_image_csv", "comparisons_csv", "model_comparisons_csv", "cd_none", "cd_fpa",
                "cd_rectangle"):
        assert out[key].is_file()
    page = out["report"].read_text(encoding="utf-8")
    assert "<h2>Paired comparisons</h2>" in page and "Between models, on the same images" in page
    assert 'alt="CD diagram fpa"' in page and "IG_sum beats VG_abs on 67 % of images" in page
    md = out["fidelity_md"].read_text(encoding="utf-8")
    assert "## Paired comparisons" in md and "![CD diagram fpa](figures/cd_fpa.png)" in md
    pairs = pd.read_csv(out["comparisons_csv"])
    assert len(pairs) == 9 and set(pairs["augmentation"]) == {"none", "fpa", "rectangle"}
    assert len(pd.read_csv(out["per_image_csv"])) == 9 * 6 - 1


# --- bad input -----------------------------------------------------------------------------------

def test_bad_input_gives_clear_errors(curves):
    pi = per_image_fidelity(curves)
    nan = pi.copy()
    nan.loc[3, "A"] = np.nan
    with pytest.raises(AttrbenchError, match="1 per-image A value\\(s\\) are NaN"):
        compare_estimators(nan)
    with pytest.raises(AttrbenchError, match="repeats"):
        compare_estimators(pd.concat([pi, pi.iloc[:1]]))
    one = pi[pi["variant"] == "IG_sum"]
    with pytest.raises(AttrbenchError, match="not enough data: none has 1 estimator"):
        compare_estimators(one)
    with pytest.raises(AttrbenchError, match="not enough data: .*share 1 scored image"):
        compare_estimators(pi[pi["image_id"] == 2])
    with pytest.raises(AttrbenchError, match="Unknown correction"):
        compare_estimators(pi, correction="bonferroni")
    with pytest.raises(AttrbenchError, match="no per-image A for \\['SG_abs'\\]"):
        compare_estimators(pi, variants=["IG_sum", "SG_abs"])
    with pytest.raises(AttrbenchError, match="No results for augmentation 'rect'"):
        compare_models(pi, "none", "rect")
    with pytest.raises(AttrbenchError, match="lacks columns"):
        compare_estimators(pi.drop(columns=["A"]))


def test_report_says_not_enough_data_instead_of_failing(curves):
    pi_rows = curves[(curves["variant"] == "IG_sum") | (curves["augmentation"] == "fpa")]
    rep = paired_report(pi_rows, n_boot=500)
    assert list(rep.comparisons) == ["fpa"]
    assert rep.not_enough["none"].startswith("not enough data: none has 1 estimator")
    assert "not enough data" in rep.html() and "not enough data" in rep.markdown()
    rep_empty = paired_report(curves.iloc[:0])
    assert "not enough data" in rep_empty.not_enough["all models"]


def test_all_equal_values_are_explicit():
    same = {"IG_sum": np.arange(8.0), "VG_abs": np.arange(8.0), "Random": np.zeros(8)}
    comp = compare_estimators(_per_image(same), n_boot=500)["fpa"]
    row = comp.pair("IG_sum", "VG_abs")
    assert math.isnan(row["p"]) and not row["significant"] and "identical" in row["note"]
    assert comp.matrix().at["IG_sum", "VG_abs"] == "="
    flat = {v: np.full(5, 3.0) for v in ("IG_sum", "VG_abs", "Random")}
    comp = compare_estimators(_per_image(flat), n_boot=500)["fpa"]
    assert "every image ties all estimators" in comp.friedman.note and comp.nemenyi is None
    assert "identical on every image" in comp.sentence()


# --- training seeds ------------------------------------------------------------------------------

def _seed_runs() -> dict[int, pd.DataFrame]:
    rng = np.random.default_rng(12)
    runs = {}
    for s in range(4):
        values = {v: 10.0 * j + s + rng.normal(0.0, 3.0, 30)
                  for j, v in enumerate(("Random", "IG_sum", "VG_abs"))}
        runs[s] = pd.concat([_per_image(values, "none"), _per_image(values, "fpa")])
    return runs


def test_seed_summary_numbers():
    runs = _seed_runs()
    summary = seed_summary(runs, n_boot=2000)
    row = summary.table.set_index(["augmentation", "variant"]).loc[("fpa", "IG_sum")]
    seed_a = [runs[s].query("augmentation == 'fpa' and variant == 'IG_sum'")["A"].mean()
              for s in range(4)]
    assert row["seeds"] == 4 and row["A"] == pytest.approx(np.mean(seed_a))
    assert row["between_seed_sd"] == pytest.approx(np.std(seed_a, ddof=1))
    groups = [runs[s].query("augmentation == 'fpa' and variant == 'IG_sum'")["A"].to_numpy()
              for s in range(4)]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        two_level_bootstrap_ci(groups, n_boot=2000)[1:])
    rank = summary.ranking.set_index("augmentation").loc["fpa"]
    assert rank["seeds"] == 4 and rank["kendall_w"] == pytest.approx(1.0)  # 10-point gaps
    assert rank["note"] == ""


def test_seed_summary_partial_seeds_are_explicit():
    runs = _seed_runs()
    runs[3] = runs[3][runs[3]["augmentation"] == "none"]           # fpa finished for 3 seeds
    runs[2] = runs[2][~((runs[2]["augmentation"] == "fpa") & (runs[2]["variant"] == "VG_abs"))]
    runs[5] = _seed_runs()[0].query("augmentation == 'none'").assign(augmentation="rectangle")
    summary = seed_summary(runs, n_boot=500)
    table = summary.table.set_index(["augmentation", "variant"])
    assert table.at[("fpa", "IG_sum"), "seeds"] == 3
    assert table.at[("fpa", "IG_sum"), "note"] == "seeds [3, 5] missing"
    assert table.at[("fpa", "VG_abs"), "seeds"] == 2
    assert table.at[("rectangle", "IG_sum"), "note"].startswith("not enough data: 1 finished")
    rank = summary.ranking.set_index("augmentation")
    assert rank.at["fpa", "seeds"] == 2 and "incomplete" in rank.at["fpa", "note"]
    assert rank.at["rectangle", "note"].startswith("not enough data")
    bad = _seed_runs()
    bad[1] = bad[1].assign(A=np.where(np.arange(len(bad[1])) == 4, np.nan, bad[1]["A"]))
    with pytest.raises(AttrbenchError, match="seed 1: 1 per-image A value"):
        seed_summary(bad)
    with pytest.raises(AttrbenchError, match="no seed runs"):
        seed_summary({})
