"""Thin metric classes: metadata, config validation, same results as the functional code."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.metrics import Fidelity, PixelFlipping
from attrbench.metrics.functional import fidelity, perturbation_curves, step_schedule


def test_metadata() -> None:
    assert PixelFlipping.name == "pixel_flipping" and PixelFlipping.higher_is_better is None
    assert Fidelity.name == "fidelity" and Fidelity.higher_is_better is True


def test_pixel_flipping_matches_functional(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    metric = PixelFlipping(num_steps=9, mask_value=(0.1, 0.2, 0.3), max_batch=11)
    got = metric(cnn, images, maps, generator=torch.Generator().manual_seed(4))
    want = perturbation_curves(
        cnn,
        images,
        maps,
        counts=step_schedule(36, num_steps=9),
        mask_value=(0.1, 0.2, 0.3),
        generator=torch.Generator().manual_seed(4),
    )
    torch.testing.assert_close(got.mif, want.mif)
    torch.testing.assert_close(got.lif, want.lif)
    assert (
        PixelFlipping(step=4)(cnn, images, maps).counts.tolist()
        == step_schedule(36, step=4).tolist()
    )


def test_fidelity_matches_functional(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    curves = PixelFlipping()(cnn, images, maps)
    r = Fidelity(ci="paired")(curves)  # default axis: the true fraction masked
    assert r == fidelity(
        curves.mif, curves.lif, curves.x(), ci="paired"
    )  # per-image AUC tensors excluded from ==
    authors = Fidelity(x_axis="linspace")(curves)
    assert authors.a == pytest.approx(fidelity(curves.mif, curves.lif).a)  # functional x=None
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
