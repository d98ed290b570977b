"""Thin metric classes: metadata, config validation, results against a literal reference and a
hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.metrics import Fidelity, PixelFlipping

from .conftest import literal_curves


def test_metadata() -> None:
    assert PixelFlipping.name == "pixel_flipping" and PixelFlipping.higher_is_better is None
    assert Fidelity.name == "fidelity" and Fidelity.higher_is_better is True


@pytest.mark.parametrize("mask_value", [0.25, (0.1, 0.2, 0.3)])
def test_pixel_flipping_matches_the_literal_curves(cnn: nn.Module, batch: tuple,
                                                   mask_value) -> None:
    images, maps = batch  # 6 x 6 = 36 pixels, tie-free maps
    metric = PixelFlipping(num_steps=9, mask_value=mask_value, max_batch=11)
    got = metric(cnn, images, maps, generator=torch.Generator().manual_seed(4))
    assert got.counts.tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]  # 9 even steps of 4
    fill = torch.tensor(mask_value).view(-1)  # one number or one per channel, as literal_curves
    for order, curves in (("mif", got.mif), ("lif", got.lif)):
        want = literal_curves(cnn, images, maps, got.counts.tolist(), order, fill)
        torch.testing.assert_close(curves.double(), want.double(), rtol=1e-5, atol=1e-5)
    # the authors' rule arange(0, H*W, step): the last point stops short of every pixel
    assert PixelFlipping(step=4)(cnn, images, maps).counts.tolist() == [0, 4, 8, 12, 16, 20, 24,
                                                                          28, 32]
    # default: 20 steps, floor(k * 36 / 20) pixels
    assert PixelFlipping()(cnn, images, maps).counts.tolist() == [
        36 * k // 20 for k in range(21)]


def _fidelity_by_hand(mif: np.ndarray, lif: np.ndarray, x: np.ndarray, paired: bool):
    """FPA Sec. 3 / NOTES 1.7 in numpy: per-curve normalisation, trapezoid, z * sd / sqrt(n)."""
    keep = (mif[:, 0] > 0) & (lif[:, 0] > 0)
    a_mif = np.trapezoid(mif[keep] / mif[keep, :1], x, axis=1)
    a_lif = np.trapezoid(lif[keep] / lif[keep, :1], x, axis=1)
    sd = np.std(a_lif - a_mif) if paired else np.sqrt(np.var(a_mif) + np.var(a_lif))
    half = stats.norm.ppf(0.975) * sd / np.sqrt(keep.sum())
    return a_lif.mean() - a_mif.mean(), half, tuple(np.flatnonzero(~keep).tolist())


def test_fidelity_matches_a_hand_computation(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    curves = PixelFlipping()(cnn, images, maps)
    mif, lif = curves.mif.double().numpy(), curves.lif.double().numpy()
    true_x = 100.0 * curves.counts.double().numpy() / 36  # % of the 36 pixels masked
    r = Fidelity(ci="paired")(curves)  # default axis: the true fraction masked
    a, half, excluded = _fidelity_by_hand(mif, lif, true_x, paired=True)
    assert r.a == pytest.approx(a, rel=1e-9) and r.ci_half_width == pytest.approx(half, rel=1e-9)
    assert r.excluded == excluded and r.n_used == 5 - len(excluded) and r.ci == "paired"
    authors = Fidelity(x_axis="linspace")(curves)  # the authors' axis: 21 equal steps
    a_lin, half_lin, _ = _fidelity_by_hand(mif, lif, np.linspace(0, 100, 21), paired=False)
    assert authors.a == pytest.approx(a_lin, rel=1e-9)
    assert authors.ci_half_width == pytest.approx(half_lin, rel=1e-9)
    assert abs(authors.a - r.a) > 1e-6  # floor(k * 36 / 20) is not evenly spread: the axis counts
    with pytest.raises(AttrbenchError, match="needs both MIF and LIF"):
        Fidelity()(PixelFlipping(orders=("mif",))(cnn, images, maps))


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (PixelFlipping, {"tie_break": "stable"}, "Unknown tie_break"),
        (PixelFlipping, {"orders": ()}, "non-empty subset"),
        (PixelFlipping, {"num_steps": 3, "step": 2}, "either num_steps or step"),
        (PixelFlipping, {"max_batch": 0}, "max_batch must be >= 1"),
        (Fidelity, {"ci": "boot"}, "Unknown ci"),
        (Fidelity, {"x_axis": "log"}, "Unknown x_axis"),
        (Fidelity, {"nonpositive": "keep"}, "Unknown nonpositive rule"),
        (Fidelity, {"level": 1.0}, "level must lie strictly"),
    ],
)
def test_bad_config_raises(cls: type, kwargs: dict, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        cls(**kwargs)


def test_step_count_larger_than_pixels_raises(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    with pytest.raises(
        AttrbenchError, match="num_steps=40 is impossible for an image of 36 pixels"
    ):
        PixelFlipping(num_steps=40)(cnn, images, maps)
