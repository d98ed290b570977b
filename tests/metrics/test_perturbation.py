"""Perturbation curves: closed forms, a literal reference loop, batching invariances, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.metrics import Fidelity, PixelFlipping
from attrbench.metrics.functional import (
    ConstantMapWarning,
    integration_axis,
    perturbation_curves,
    step_schedule,
)
from attrbench.metrics.functional.perturbation import authors_step

from .conftest import LinearImageModel, literal_curves, tiny_cnn


def two_by_two() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Image [[1, 2], [3, 4]], logit_0 = pixel sum (= 10), logit_1 = 0; map ranks 2 > 4 > 3 > 1."""
    model = LinearImageModel(torch.stack([torch.ones(4), torch.zeros(4)]), torch.zeros(2))
    images = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    maps = torch.tensor([[[0.1, 0.4], [0.2, 0.3]]])
    return model, images, maps


# ---------------------------------------------------------------- step schedule
SIDES = (7, 28, 32, 40, 64, 100, 224)


@pytest.mark.parametrize("side", SIDES)
def test_default_schedule_has_21_points_from_0_to_100_percent(side: int) -> None:
    n = side * side
    c = step_schedule(n)
    assert c.dtype == torch.int64 and c.numel() == 21
    assert int(c[0]) == 0 and int(c[-1]) == n and bool((c[1:] > c[:-1]).all())
    ideal = torch.arange(21, dtype=torch.float64) * n / 20
    assert float((c - ideal).abs().max()) < 1.0  # within one pixel of k * 5 %
    x = integration_axis(c, n)  # the default x-axis is the true masked fraction
    torch.testing.assert_close(x, 100.0 * c.to(torch.float64) / n, rtol=0, atol=0)
    assert float(x[0]) == 0.0 and float(x[-1]) == 100.0


@pytest.mark.parametrize("side", SIDES)
def test_linear_curve_integrates_to_its_closed_form(side: int) -> None:
    """logit = number of unmasked pixels: the normalised curve is 1 - f, whose area over 0..100 %
    is exactly 50 (the trapezoid rule is exact for a line) whatever the image size."""
    n = side * side
    model = LinearImageModel(torch.ones(1, n), torch.zeros(1))
    images = torch.ones(2, 1, side, side)
    maps = torch.randn(2, side, side, generator=torch.Generator().manual_seed(side))
    curves = PixelFlipping()(model, images, maps)
    assert curves.counts.numel() == 21 and int(curves.counts[-1]) == n
    torch.testing.assert_close(curves.x(), 100.0 * curves.fractions)
    r = Fidelity()(curves)
    assert r.auc_mif_mean == pytest.approx(50.0, abs=1e-9)
    assert r.auc_lif_mean == pytest.approx(50.0, abs=1e-9) and r.a == pytest.approx(0.0, abs=1e-9)


def test_authors_schedule_for_32_and_224() -> None:
    """The authors' ``arange(0, H*W, int(0.05*H*W))`` stays available (``step=``)."""
    c = step_schedule(32 * 32, step=authors_step(32 * 32))
    assert c.numel() == 21 and int(c[1]) == 51 and int(c[-1]) == 1020
    c = step_schedule(224 * 224, step=authors_step(224 * 224))
    assert c.numel() == 21 and int(c[1]) == 2508 and int(c[-1]) == 50160
    c = step_schedule(40 * 40, step=authors_step(40 * 40))  # why it is not the default
    assert c.numel() == 20 and int(c[-1]) == 1520
    assert step_schedule(4).tolist() == [0, 1, 2, 3, 4]  # fewer than 20 pixels: one per step


def test_num_steps_and_step_schedules() -> None:
    assert step_schedule(4, num_steps=4).tolist() == [0, 1, 2, 3, 4]
    assert step_schedule(10, num_steps=4).tolist() == [0, 2, 5, 7, 10]
    assert step_schedule(1024, num_steps=20)[-1] == 1024
    assert step_schedule(10, step=3).tolist() == [0, 3, 6, 9]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_steps": 5}, "num_steps=5 is impossible for an image of 4 pixels"),
        ({"num_steps": 0}, "num_steps=0 is impossible"),
        ({"step": 0}, "step=0 pixels is impossible"),
        ({"step": 5}, "step=5 pixels is impossible"),
        ({"step": 1, "num_steps": 2}, "either num_steps or step"),
    ],
)
def test_bad_schedule_raises(kwargs: dict, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        step_schedule(4, **kwargs)


def test_integration_axis() -> None:
    counts = step_schedule(1024, step=51)
    assert torch.equal(
        integration_axis(counts, 1024, "linspace"), torch.linspace(0, 100, 21, dtype=torch.float64)
    )
    frac = integration_axis(counts, 1024)
    assert frac[1] == pytest.approx(100 * 51 / 1024) and frac[-1] == pytest.approx(99.609375)
    with pytest.raises(AttrbenchError, match="Unknown x_axis 'log'"):
        integration_axis(counts, 1024, "log")


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("tie_break", ["random", "reference"])
def test_hand_computed_four_pixel_curves(tie_break: str) -> None:
    model, images, maps = two_by_two()
    curves = perturbation_curves(
        model, images, maps, counts=step_schedule(4, num_steps=4), tie_break=tie_break
    )
    # MIF masks 2, 4, 3, 1; LIF masks 1, 3, 4, 2 (set to 0)
    assert curves.mif.tolist() == [[10.0, 8.0, 4.0, 1.0, 0.0]]
    assert curves.lif.tolist() == [[10.0, 9.0, 6.0, 2.0, 0.0]]
    assert curves.targets.tolist() == [0]
    assert curves.fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curves.logits0.tolist() == [[10.0, 0.0]]
    # default schedule on 4 pixels: one pixel per step, up to all 4 masked
    assert perturbation_curves(model, images, maps).mif.tolist() == [[10.0, 8.0, 4.0, 1.0, 0.0]]


def test_scalar_and_per_channel_mask_value() -> None:
    model, images, maps = two_by_two()
    counts = [0, 1, 2, 3, 4]
    assert perturbation_curves(model, images, maps, counts=counts, mask_value=0.5).mif.tolist() == [
        [10.0, 8.5, 5.0, 2.5, 2.0]
    ]
    # two channels, 1x2 image: channel 0 = [1, 2], channel 1 = [10, 20]; fill (-1, 5)
    model2 = LinearImageModel(torch.ones(1, 4), torch.zeros(1))
    images2 = torch.tensor([[[[1.0, 2.0]], [[10.0, 20.0]]]])
    curves = perturbation_curves(
        model2, images2, torch.tensor([[[0.9, 0.1]]]), counts=[0, 1, 2], mask_value=[-1.0, 5.0]
    )
    assert curves.mif.tolist() == [[33.0, 26.0, 8.0]]
    assert curves.lif.tolist() == [[33.0, 15.0, 8.0]]


# ---------------------------------------------------------------- against the literal loop
@pytest.mark.parametrize("tie_break", ["random", "reference"])
def test_engine_equals_literal_loop(cnn: nn.Module, batch: tuple, tie_break: str) -> None:
    images, maps = batch
    counts = step_schedule(36, step=5)
    curves = perturbation_curves(
        cnn, images, maps, counts=counts, tie_break=tie_break, max_batch=13
    )
    for order in ("mif", "lif"):
        expected = literal_curves(cnn, images, maps, counts.tolist(), order)
        torch.testing.assert_close(getattr(curves, order), expected)


def test_batched_equals_per_image(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    full = perturbation_curves(cnn, images, maps, tie_break="reference")
    for b in range(images.shape[0]):
        one = perturbation_curves(cnn, images[b : b + 1], maps[b : b + 1], tie_break="reference")
        torch.testing.assert_close(one.mif, full.mif[b : b + 1])
        torch.testing.assert_close(one.lif, full.lif[b : b + 1])


def test_max_batch_invariance(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    ref = perturbation_curves(
        cnn,
        images,
        maps,
        counts=step_schedule(36, num_steps=36),
        generator=torch.Generator().manual_seed(3),
    )
    for max_batch in (1, 7, 64, 10_000):
        got = perturbation_curves(
            cnn,
            images,
            maps,
            counts=step_schedule(36, num_steps=36),
            generator=torch.Generator().manual_seed(3),
            max_batch=max_batch,
        )
        torch.testing.assert_close(got.mif, ref.mif, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.lif, ref.lif, rtol=1e-5, atol=1e-6)


def test_step0_is_model_logit_and_shared(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    cnn.eval()
    logits = cnn(images).detach()
    curves = perturbation_curves(cnn, images, maps)
    assert torch.equal(curves.targets, logits.argmax(1))
    torch.testing.assert_close(
        curves.mif[:, 0], logits.gather(1, curves.targets[:, None]).squeeze(1)
    )
    assert torch.equal(curves.mif[:, 0], curves.lif[:, 0])
    torch.testing.assert_close(curves.logits0, logits)
    assert curves.mif.shape == (5, step_schedule(36).numel())


def test_given_targets_and_full_mask_step(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    targets = torch.tensor([0, 1, 2, 3, 4])
    curves = perturbation_curves(
        cnn, images, maps, targets=targets, counts=step_schedule(36, num_steps=4), mask_value=0.3
    )
    cnn.eval()
    blank = cnn(torch.full((1, 3, 6, 6), 0.3)).detach()[0]
    torch.testing.assert_close(curves.mif[:, -1], blank[targets])
    assert torch.equal(curves.mif[:, -1], curves.lif[:, -1])
    torch.testing.assert_close(curves.mif[:, 0], cnn(images).detach()[torch.arange(5), targets])


def test_model_mode_restored_and_no_grad() -> None:
    model = tiny_cnn()
    model.train()
    model[1].eval()  # a submodule in a different mode must be restored as it was
    images = torch.randn(2, 3, 6, 6)
    curves = perturbation_curves(model, images, torch.randn(2, 6, 6))
    assert model.training and not model[1].training and model[0].training
    assert not curves.mif.requires_grad
    model.eval()
    torch.testing.assert_close(
        curves.mif[:, 0], model(images).detach().gather(1, curves.targets[:, None]).squeeze(1)
    )


def test_single_order_and_constant_map(cnn: nn.Module, batch: tuple) -> None:
    images, maps = batch
    only = perturbation_curves(cnn, images, maps, orders=("lif",))
    assert only.mif is None and only.lif.shape == (5, step_schedule(36).numel())
    with pytest.warns(ConstantMapWarning, match="constant"):
        flat = perturbation_curves(cnn, images, torch.zeros_like(maps))
    assert torch.equal(flat.mif, flat.lif)  # uninformative map: one random order for both curves
    with pytest.warns(ConstantMapWarning):
        ref = perturbation_curves(cnn, images, torch.zeros_like(maps), tie_break="reference")
    assert not torch.equal(ref.mif, ref.lif)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"maps": torch.zeros(5, 3, 6, 6)}, r"maps have shape \(5, 3, 6, 6\) but images"),
        ({"maps": torch.zeros(4, 6, 6)}, r"need maps of shape \(5, 6, 6\)"),
        ({"maps": torch.full((5, 6, 6), float("nan"))}, "NaN"),
        ({"images": torch.zeros(0, 3, 6, 6), "maps": torch.zeros(0, 6, 6)}, "empty batch"),
        ({"images": torch.zeros(3, 6, 6)}, r"shape \(B, C, H, W\)"),
        ({"counts": [0, 10, 40]}, "not exceed the 36 pixels"),
        ({"counts": [1, 2]}, "must start with 0"),
        ({"counts": [0, 5, 5]}, "increase strictly"),
        ({"counts": [0.0, 0.5]}, "must be integers"),
        ({"targets": torch.tensor([0, 1, 2, 3, 5])}, r"targets must lie in \[0, 5\)"),
        ({"targets": torch.tensor([0, 1])}, "5 integer class indices"),
        ({"mask_value": [0.0, 1.0]}, "2 entries but the images have 3 channels"),
        ({"orders": ("mif", "mif")}, "without repeats"),
        ({"orders": ("most",)}, "subset of"),
        ({"tie_break": "numpy"}, "Unknown tie_break"),
        ({"max_batch": 0}, "max_batch must be >= 1"),
    ],
)
def test_bad_input_raises(cnn: nn.Module, batch: tuple, change: dict, match: str) -> None:
    images, maps = batch
    kwargs = {"images": images, "maps": maps, **change}
    with pytest.raises(AttrbenchError, match=match):
        perturbation_curves(cnn, **kwargs)


def test_model_returning_wrong_shape_raises(batch: tuple) -> None:
    images, maps = batch
    with pytest.raises(AttrbenchError, match=r"logits of shape \(batch, num_classes\)"):
        perturbation_curves(nn.Identity(), images, maps)
