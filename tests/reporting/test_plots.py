"""Figures: valid PNGs, fast, the right aggregates, clear errors."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from attrbench.errors import AttrbenchError
from attrbench.reporting.aggregate import mean_curves
from attrbench.reporting.folder import load_results
from attrbench.reporting.heatmaps import heatmaps_figure, plot_heatmaps, truncate_maps
from attrbench.reporting.plots import (
    curves_figure,
    plot_curves,
    plot_fidelity_area,
    plot_lif_scores,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


def test_curve_figures_are_valid_pngs_and_fast(curves, tmp_path):
    start = time.perf_counter()
    paths = [plot_curves(curves, tmp_path / "curves.png"),
             plot_fidelity_area(curves, tmp_path / "area.png", variant="VG_abs"),
             plot_lif_scores(curves, tmp_path / "lif.png")]
    elapsed = time.perf_counter() - start
    for p in paths:
        _check_png(p)
    assert elapsed < 20.0  # ~2 s unloaded on 2 cores; generous for a shared machine
    fig = curves_figure(curves, variants=["IG_sum"])
    assert len(fig.axes) == 2  # MIF and LIF panels of one variant


def test_heatmaps(results_root, tmp_path):
    folder = load_results(results_root)
    path = plot_heatmaps(folder.samples, tmp_path / "h.png", variants=("IG_sum", "VG_abs"),
                         n_images=2)
    _check_png(path)
    fig = heatmaps_figure(folder.samples, variants=("IG_sum",), augmentations=["fpa"], n_images=3)
    assert len(fig.axes) == 3 * 2  # 3 images x (image + 1 map)


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
