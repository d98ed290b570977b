"""Figures: valid PNGs, the right aggregates drawn (closed forms of the conftest curves), clear
errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from attrbench.errors import AttrbenchError
from attrbench.fpa.aggregate import mean_curves
from attrbench.fpa.folder import load_results
from attrbench.fpa.heatmaps import heatmaps_figure, plot_heatmaps, truncate_maps
from attrbench.fpa.plots import (
    curves_figure,
    fidelity_area_figure,
    lif_scores_figure,
    plot_curves,
    plot_fidelity_area,
    plot_lif_scores,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
S = 20  # steps of the conftest curves


def _check_png(path, min_width=200):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        assert img.width >= min_width and img.height >= 100


def test_mean_curves_normalise_the_mean_curve(make_rows):
    rows = make_rows(np.ones(6), np.zeros(6))
    rows.loc[(rows["order"] == "MIF") & (rows["step"] == 20), "logit"] = 3.5  # mean logit0 = 3.5
    means = mean_curves(rows)
    mif = means[means["order"] == "MIF"].set_index("step")
    assert mif.loc[0, "normalised"] == pytest.approx(1.0)
    assert mif.loc[20, "normalised"] == pytest.approx(1.0)  # mean of 3.5 / mean logit0 3.5
    assert mif.loc[10, "normalised"] == pytest.approx(0.5)
    assert mif.loc[20, "percent"] == pytest.approx(100.0)
    assert np.isnan(mif.loc[0, "mean_score"]) and mif.loc[20, "mean_score"] == pytest.approx(0.0)
    assert (means["n"] == 6).all()


def _plotted(ax) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) of the data lines of ``ax`` (reference lines such as axhline left out)."""
    return [(np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float))
            for ln in ax.get_lines() if len(ln.get_xdata()) == S + 1]


def _weight(curves, aug: str, variant: str, d: np.ndarray) -> float:
    """Mean normalised linear curve 1 - w k/S: w = sum(l_i d_i) / sum(l_i) (conftest docstring)."""
    first = curves[(curves["augmentation"] == aug) & (curves["variant"] == variant)
                   & (curves["order"] == "MIF") & (curves["step"] == 0)].sort_values("image_id")
    logit0 = first["logit"].to_numpy()
    return float((logit0 * d).sum() / logit0.sum())


def test_curve_figures_are_valid_pngs(curves, tmp_path):
    paths = [plot_curves(curves, tmp_path / "curves.png"),
             plot_fidelity_area(curves, tmp_path / "area.png", variant="VG_abs"),
             plot_lif_scores(curves, tmp_path / "lif.png")]
    for p in paths:
        _check_png(p)


def test_curves_figure_plots_the_closed_form_means(curves, spec):
    fig = curves_figure(curves, variants=["IG_sum"])
    assert len(fig.axes) == 2  # MIF and LIF panels of one variant
    mif_ax, lif_ax = fig.axes
    k = np.arange(S + 1) / S
    for ax, order in ((mif_ax, "MIF"), (lif_ax, "LIF")):
        lines = _plotted(ax)
        assert len(lines) == 3  # none, FPA, Rectangle in the paper's order
        for (x, y), aug in zip(lines, ("none", "fpa", "rectangle")):
            d, e = spec[(aug, "IG_sum")]
            np.testing.assert_allclose(x, 100 * k)
            w = _weight(curves, aug, "IG_sum", d if order == "MIF" else e)
            np.testing.assert_allclose(y, 1 - w * k if order == "MIF" else 1 + w * k, atol=1e-12)
    # FPA, d = 1 for every image: the MIF mean falls linearly from 1 to 0
    np.testing.assert_allclose(_plotted(mif_ax)[1][1], 1 - k, atol=1e-12)


def test_fidelity_area_shades_exactly_the_area_between_the_curves(curves, spec):
    fig = fidelity_area_figure(curves, variant="IG_sum")
    assert len(fig.axes) == 3  # one panel per augmentation
    for ax, aug in zip(fig.axes, ("none", "fpa", "rectangle")):
        (x_mif, mif), (x_lif, lif) = _plotted(ax)
        d, e = spec[(aug, "IG_sum")]
        k = x_mif / 100
        np.testing.assert_allclose(mif, 1 - _weight(curves, aug, "IG_sum", d) * k, atol=1e-12)
        np.testing.assert_allclose(lif, 1 + _weight(curves, aug, "IG_sum", e) * k, atol=1e-12)
        (shade,) = ax.collections
        xy = shade.get_paths()[0].vertices
        shoelace = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1))
                             - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
        assert shoelace == pytest.approx(np.trapezoid(lif - mif, x_mif), rel=1e-9)
    # FPA row of the conftest: A = 50 exactly (MIF 1 -> 0, LIF flat at 1)
    assert ax.get_title().startswith("Rectangle") and fig.axes[1].get_title().startswith("FPA")
    (x, mif), (_, lif) = _plotted(fig.axes[1])
    assert np.trapezoid(lif - mif, x) == pytest.approx(50.0)


def test_lif_scores_bars_are_the_mean_step_scores_coloured_by_sign(curves):
    fig = lif_scores_figure(curves, variant="IG_sum")
    bottom = fig.axes[3:]  # row 2 of the 2 x 3 grid
    assert len(fig.axes) == 6 and len(bottom) == 3
    k = np.arange(1, S + 1) / S
    expected = -1.0 + 2.0 * k  # the LIF score of the conftest rows at step k
    for ax in bottom:
        heights = np.array([b.get_height() for b in ax.patches])
        np.testing.assert_allclose(heights, expected, atol=1e-12)
        lefts = np.array([b.get_x() for b in ax.patches])
        np.testing.assert_allclose(lefts, 100 * (k - 1 / S), atol=1e-9)
        colours = [to_hex(b.get_facecolor()) for b in ax.patches]
        assert colours == ["#2166ac" if h < 0 else "#b2182b" for h in expected]


def test_heatmaps(results_root, tmp_path):
    folder = load_results(results_root)
    path = plot_heatmaps(folder.samples, tmp_path / "h.png", variants=("IG_sum", "VG_abs"),
                         n_images=2)
    _check_png(path)
    fig = heatmaps_figure(folder.samples, variants=("IG_sum",), augmentations=["fpa"], n_images=3)
    assert len(fig.axes) == 3 * 2  # 3 images x (image + 1 map)
    fpa = folder.samples["fpa"]
    shown, _ = truncate_maps(fpa.maps["IG_sum"])
    assert fig.axes[1].get_title() == "FPA\nIG_sum"
    for r in range(3):  # each row: the image, then its truncated map on its own symmetric scale
        label = f"id {int(fpa.image_ids[r])}\nlabel {int(fpa.labels[r])}"
        assert fig.axes[2 * r].get_ylabel() == label
        drawn = fig.axes[2 * r + 1].images[0]
        np.testing.assert_allclose(drawn.get_array(), shown[r])
        peak = np.abs(shown[r]).max()
        assert drawn.get_clim() == pytest.approx((-peak, peak)) and drawn.get_cmap().name == "bwr"


def test_truncate_maps_keeps_the_top_two_percent_per_map():
    maps = np.stack([np.arange(100.0).reshape(10, 10) - 50.0, np.zeros((10, 10))])
    shown, vmax = truncate_maps(maps, truncate_percentile=98.0, clip_percentile=99.0)
    mags = np.abs(maps[0])
    assert (shown[0] != 0).sum() == (mags >= np.percentile(mags, 98)).sum()
    assert shown[0].min() == -vmax[0] and vmax[0] == pytest.approx(np.percentile(mags, 99))
    assert vmax[1] == 1.0 and not shown[1].any()
    kept, _ = truncate_maps(maps, truncate_percentile=None, clip_percentile=100.0)
    np.testing.assert_allclose(kept, maps)


def test_plot_errors(curves, results_root):
    with pytest.raises(AttrbenchError, match="Unknown variant 'IG_summ'. Did you mean 'IG_sum'"):
        curves_figure(curves, variants=["IG_summ"])
    with pytest.raises(AttrbenchError, match="No curve rows"):
        curves_figure(curves.iloc[:0])
    with pytest.raises(AttrbenchError, match="No curve rows"):
        plot_lif_scores(curves.iloc[:0], "unused.png")
    samples = load_results(results_root).samples
    with pytest.raises(AttrbenchError, match="None of the variants .* stored"):
        heatmaps_figure(samples, variants=("SG'_sum",))
    with pytest.raises(AttrbenchError, match="No samples for augmentation"):
        heatmaps_figure(samples, augmentations=["mixup"])
    with pytest.raises(AttrbenchError, match="No sample maps stored"):
        heatmaps_figure({})
    with pytest.raises(AttrbenchError, match="truncate_percentile must lie in"):
        truncate_maps(np.zeros((1, 2, 2)), truncate_percentile=120.0)
