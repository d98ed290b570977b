"""Fidelity table and paper layout on synthetic curves whose A and CI are known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrbench.errors import AttrbenchError
from attrbench.fpa.tables import (
    TABLE_COLUMNS,
    best_per_row,
    fidelity_table,
    layout_to_markdown,
    paper_layout,
    write_csv,
    write_markdown,
)

Z = 1.959963984540054  # norm.ppf(0.975): the exact 95 % quantile, fidelity()'s default


def _row(table: pd.DataFrame, aug: str, variant: str) -> pd.Series:
    sel = table[(table["augmentation"] == aug) & (table["variant"] == variant)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_linear_curves_give_a_50_exactly(make_rows):
    rows = make_rows(np.ones(6), np.zeros(6))  # MIF falls linearly to 0, LIF stays at logit0
    table = fidelity_table(rows)
    assert list(table.columns) == TABLE_COLUMNS
    r = table.iloc[0]
    assert r["A"] == pytest.approx(50.0, abs=1e-12)
    assert r["ci"] == pytest.approx(0.0, abs=1e-12)
    assert r["auc_mif"] == pytest.approx(50.0) and r["auc_lif"] == pytest.approx(100.0)
    assert (r["n"], r["n_excluded"]) == (6, 0)
    assert (r["method"], r["postprocess"]) == ("integrated_gradients", "sum")


@pytest.mark.parametrize("ci", ["independent", "paired"])
def test_a_and_ci_match_hand_computation(curves, spec, ci):
    table = fidelity_table(curves, ci=ci)
    assert len(table) == len(spec)
    for (aug, variant), (d, e) in spec.items():
        if (aug, variant) == ("rectangle", "VG_abs"):
            d, e = d[1:], e[1:]  # image 0 has a negative step-0 logit: excluded
        auc_mif, auc_lif = 100.0 - 50.0 * d, 100.0 + 50.0 * e  # exact for linear curves
        n = len(d)
        if ci == "independent":  # the paper's: populations variances, MIF and LIF independent
            half = Z * np.sqrt(np.var(auc_mif) + np.var(auc_lif)) / np.sqrt(n)
        else:
            half = Z * np.std(auc_lif - auc_mif) / np.sqrt(n)
        r = _row(table, aug, variant)
        assert r["A"] == pytest.approx(auc_lif.mean() - auc_mif.mean(), abs=1e-9)
        assert r["ci"] == pytest.approx(half, rel=1e-9, abs=1e-12)
        assert r["n"] == n and r["ci_kind"] == ci


def test_excluded_images_are_counted(curves, excluded_group):
    table = fidelity_table(curves)
    r = _row(table, *excluded_group)
    assert (r["n"], r["n_excluded"]) == (5, 1)
    assert int(table["n_excluded"].sum()) == 1


def test_rows_follow_the_paper_orders(curves):
    table = fidelity_table(curves.sample(frac=1.0, random_state=0))
    assert list(table["augmentation"].unique()) == ["none", "fpa", "rectangle"]
    assert list(table["variant"][:3]) == ["Random", "IG_sum", "VG_abs"]


def test_fraction_axis_equals_linspace_when_fractions_are_uniform(curves):
    a = fidelity_table(curves, x_axis="linspace")
    b = fidelity_table(curves, x_axis="fraction")
    np.testing.assert_allclose(a["A"], b["A"], atol=1e-9)


def test_paper_layout_strings_order_and_accuracy(curves, accuracy):
    extra = curves[(curves["augmentation"] == "fpa") & (curves["variant"] == "IG_sum")].assign(
        variant="My_method")
    table = fidelity_table(pd.concat([curves, extra], ignore_index=True))
    layout = paper_layout(table, accuracy={k: {"test_accuracy": v} for k, v in accuracy.items()})
    assert list(layout.index) == ["none", "fpa", "rectangle"]
    assert layout.index.name == "augmentation"
    assert list(layout.columns) == ["Random", "IG_sum", "VG_abs", "My_method", "accuracy"]
    assert layout.loc["fpa", "IG_sum"] == "50.00 ± 0.00"
    assert layout.loc["none", "IG_sum"] == "25.00 ± 0.00"
    assert layout.loc["fpa", "My_method"] == "50.00 ± 0.00"
    assert layout.loc["none", "My_method"] == ""  # not evaluated there
    assert layout.loc["none", "Random"].startswith("0.00 ± ")  # never "-0.00"
    assert layout.loc["fpa", "accuracy"] == "58.0 %"
    short = paper_layout(table, augment_order=["rectangle", "none"], digits=1)
    assert list(short.index) == ["rectangle", "none", "fpa"]
    assert short.loc["fpa", "IG_sum"] == "50.0 ± 0.0"
    assert "accuracy" not in short.columns


def test_several_models_get_labelled_rows(make_rows):
    rows = pd.concat([make_rows(np.ones(6), np.zeros(6), model="a"),
                      make_rows(np.full(6, 0.5), np.zeros(6), model="b")])
    layout = paper_layout(fidelity_table(rows))
    assert list(layout.index) == ["fpa (a)", "fpa (b)"]
    assert layout.loc["fpa (b)", "IG_sum"] == "25.00 ± 0.00"


def test_markdown_and_csv(curves, tmp_path):
    table = fidelity_table(curves)
    layout = paper_layout(table)
    best = best_per_row(table)
    assert best == {"none": "IG_sum", "fpa": "IG_sum", "rectangle": "VG_abs"}
    md = layout_to_markdown(layout, best)
    lines = md.splitlines()
    assert lines[0] == "| augmentation | Random | IG_sum | VG_abs |"
    assert lines[1] == "|---|---:|---:|---:|"
    assert "| fpa | 0.00 ± 5.66 | **50.00 ± 0.00** | 37.50 ± 9.17 |" in lines
    path = write_markdown(layout, tmp_path / "t.md", title="T", bold=best, notes=["n1"])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# T\n") and "- n1" in text
    back = pd.read_csv(write_csv(layout, tmp_path / "t.csv"), index_col=0, keep_default_na=False)
    pd.testing.assert_frame_equal(back, layout, check_names=False)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp file


def test_errors(curves, make_rows):
    with pytest.raises(AttrbenchError, match="No curve rows"):
        fidelity_table(curves.iloc[:0])
    with pytest.raises(AttrbenchError, match="Unknown ci"):
        fidelity_table(curves, ci="bootstrap")
    with pytest.raises(AttrbenchError, match="Unknown x_axis"):
        fidelity_table(curves, x_axis="log")
    rows = make_rows(np.ones(6), np.zeros(6))
    with pytest.raises(AttrbenchError, match="duplicate .* fresh --out"):
        fidelity_table(pd.concat([rows, rows]))
    with pytest.raises(AttrbenchError, match="needs both MIF and LIF"):
        fidelity_table(rows[rows["order"] == "MIF"])
    partial = rows[~((rows["order"] == "LIF") & (rows["image_id"] == 0))]
    with pytest.raises(AttrbenchError, match="different images; resume"):
        fidelity_table(partial)
    gap = rows[~((rows["image_id"] == 0) & (rows["step"] == 3))]
    with pytest.raises(AttrbenchError, match="miss steps; resume"):
        fidelity_table(gap)
    negative = make_rows(np.ones(6), np.zeros(6), -np.ones(6))
    with pytest.raises(AttrbenchError, match="tiny / fpa / IG_sum: No image has a positive"):
        fidelity_table(negative)
    with pytest.raises(AttrbenchError, match="empty"):
        paper_layout(fidelity_table(rows).iloc[:0])


def test_default_axis_is_the_true_masked_fraction():
    """Steps at 0, 25 and 100 % masked: MIF [1, .5, 0] has area 37.5 over the true fractions
    (50 over the authors' evenly spaced axis); LIF [1, 1, 1] has 100."""
    rows = [{"model": "m", "augmentation": "none", "variant": "IG_sum", "method": "ig",
             "postprocess": "sum", "order": order, "image_id": 0, "step": s, "fraction": f,
             "logit": v}
            for order, values in (("MIF", (2.0, 1.0, 0.0)), ("LIF", (2.0, 2.0, 2.0)))
            for s, (f, v) in enumerate(zip((0.0, 0.25, 1.0), values))]
    curves = pd.DataFrame(rows)
    assert fidelity_table(curves)["A"].iloc[0] == pytest.approx(62.5)
    assert fidelity_table(curves, x_axis="linspace")["A"].iloc[0] == pytest.approx(50.0)
