"""Results store (atomic tables, bit-packed masks, config refusal) and the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_hex

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import overlap_summary
from attrbench.roar.plots import (
    accuracy_figure,
    mask_sequence_figure,
    overlap_bars_figure,
    pairwise_overlap_figure,
)
from attrbench.results import ResultStore
from attrbench.roar.store import mask_path, read_masks, slug, write_masks


def test_store_tables_masks_and_refusal(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, {"a": 1}, seed=0)
    accuracy = store.table("accuracy")
    assert not accuracy.has("k1")
    accuracy.write("k1", [{"variant": "v", "test_accuracy": 0.5}])
    accuracy.write("k0", [{"variant": "w", "test_accuracy": 0.25}])
    assert accuracy.has("k1") and accuracy.read().variant.tolist() == ["w", "v"]
    assert (tmp_path / "tables" / "accuracy" / "k1.parquet").is_file()  # the ROAR layout
    g = torch.Generator().manual_seed(0)
    odd = torch.rand(3, 5, 7, generator=g) < 0.3  # 105 bits: not a multiple of 8
    write_masks(store, "m", train=odd, test=odd[:1])
    back = read_masks(mask_path(store, "m"))
    assert mask_path(store, "m") == tmp_path / "masks" / "m.npz"
    assert torch.equal(back["train"], odd) and torch.equal(back["test"], odd[:1])
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(AttrbenchError, match="different configuration"):
        ResultStore(tmp_path, {"a": 2}, seed=0)
    assert slug("grad_cam|positive_sum") == "grad_cam+positive_sum"


def _chain(spans: list[tuple[int, int]]) -> torch.Tensor:
    """One sample's masks (T, 1, 4, 4): mask i covers flat pixels ``spans[i][0]:spans[i][1]``."""
    masks = torch.zeros(len(spans), 1, 16, dtype=torch.bool)
    for i, (a, b) in enumerate(spans):
        masks[i, 0, a:b] = True
    return masks.view(len(spans), 1, 4, 4)


# Hand-computed chain: 4-pixel masks {0..3}, {2..5}, {4..7} on a 16-pixel image. Each new mask
# re-marks 2 of its 4 pixels (MAMO / |m| = 0.5), the union has 8 pixels (CMA / A = 0.5), and
# O[i, n] = 4 on the diagonal, 2 for neighbours, 0 for masks 0 and 2 (Eq. 3). Random masks of
# q = k/A = 1/4: E[MAMO] = k (1 - (1 - q)^i) averaged over i = 1, 2 = 1.375, i.e. 0.34375 of k;
# E[CMA] = A (1 - (1 - q)^3) = 9.25, i.e. 0.578125 of A (IteROAR Eqs. 2, 4).
CHAIN = [(0, 4), (2, 6), (4, 8)]
DISJOINT = [(0, 4), (4, 8), (8, 12)]  # MAMO 0, CMA 12 / 16


def test_accuracy_figure_plots_mean_and_std_over_retrains() -> None:
    acc = pd.DataFrame({"benchmark": "roar", "variant": ["none", "none", "v", "v", "random"],
                        "threshold": [0, 0, 50, 50, 50], "repeat": [0, 1, 0, 1, 0],
                        "test_accuracy": [0.9, 0.8, 0.4, 0.5, 0.7]})
    fig = accuracy_figure(acc)
    (ax,) = fig.axes
    assert ax.get_title().startswith("ROAR:")
    bars = {c.get_label(): c for c in ax.containers}  # one ErrorbarContainer per variant
    assert sorted(bars) == ["random", "v"]
    lines = {v: c.lines[0] for v, c in bars.items()}
    # the shared t = 0 point (variant none, mean of 0.9 and 0.8) starts every curve
    np.testing.assert_allclose(np.asarray(lines["v"].get_xdata(), float), [0, 50])
    np.testing.assert_allclose(np.asarray(lines["v"].get_ydata(), float), [0.85, 0.45])
    np.testing.assert_allclose(np.asarray(lines["random"].get_ydata(), float), [0.85, 0.7])
    assert lines["random"].get_linestyle() == "--" and lines["v"].get_linestyle() == "-"
    assert to_hex(lines["random"].get_color()) == "#555555"
    # error bars: +- the sample std over retrains (ddof 1), 0 for a single retrain
    sd = float(np.std([0.4, 0.5], ddof=1))
    for v, means, sds in (("v", [0.85, 0.45], [sd, sd]), ("random", [0.85, 0.7], [sd, 0.0])):
        (segments,) = [c.get_segments() for c in bars[v].lines[2]]
        spans = np.array([seg[:, 1] for seg in segments])
        np.testing.assert_allclose(spans, np.c_[np.subtract(means, sds), np.add(means, sds)])
    with pytest.raises(AttrbenchError, match="No accuracy rows"):
        accuracy_figure(acc.iloc[:0])


def test_overlap_figures_show_the_hand_computed_chain() -> None:
    masks = _chain(CHAIN)
    rows = [{"variant": "v", "repeat": r, **overlap_summary(masks, rho=0.5)} for r in (0, 1)]
    rows.append({"variant": "random", "repeat": 0, **overlap_summary(_chain(DISJOINT))})
    overlap = pd.DataFrame(rows)
    fig = overlap_bars_figure(overlap)
    mamo_ax, cma_ax = fig.axes
    assert [t.get_text() for t in mamo_ax.get_xticklabels()] == ["random", "v"]
    assert [b.get_height() for b in mamo_ax.patches] == pytest.approx([0.0, 0.5])
    assert [b.get_height() for b in cma_ax.patches] == pytest.approx([0.75, 0.5])
    ticks = mamo_ax.collections[-1].get_offsets()[:, 1]  # the random-mask expectation marks
    assert list(ticks) == pytest.approx([0.34375, 0.34375])
    assert list(cma_ax.collections[-1].get_offsets()[:, 1]) == pytest.approx([0.578125] * 2)
    with pytest.raises(AttrbenchError, match="No overlap rows"):
        overlap_bars_figure(overlap.iloc[:0])

    matrix = pairwise_overlap_figure(masks).axes[0].images[0].get_array()
    np.testing.assert_array_equal(matrix, [[4, 2, 0], [2, 4, 2], [0, 2, 4]])


def test_mask_sequence_figure_colours_new_earlier_and_remarked_pixels() -> None:
    masks = _chain(CHAIN)
    fig = mask_sequence_figure(masks, samples=2)
    assert len(fig.axes) == 3  # one sample (fewer than asked) x three iterations
    white, grey, yellow, red = [1, 1, 1], [0.75] * 3, [1, 0.85, 0.1], [0.85, 0.1, 0.1]
    expected = {
        0: [yellow] * 4 + [white] * 12,
        1: [grey] * 2 + [red] * 2 + [yellow] * 2 + [white] * 10,
        2: [grey] * 4 + [red] * 2 + [yellow] * 2 + [white] * 8,
    }
    for i, ax in enumerate(fig.axes):
        assert ax.get_title() == f"i={i}"
        np.testing.assert_allclose(ax.images[0].get_array().reshape(16, 3), expected[i])
    rgb = mask_sequence_figure(masks.unsqueeze(2).expand(-1, -1, 3, -1, -1))  # (T, B, C, H, W)
    for a, b in zip(rgb.axes, fig.axes, strict=True):
        np.testing.assert_array_equal(a.images[0].get_array(), b.images[0].get_array())
