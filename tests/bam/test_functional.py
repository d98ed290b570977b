"""BAM metrics: hand-computed values on tiny maps, the planted IDR case, and the delta search."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.metrics.functional.bam import (
    bam_maps,
    concept_attribution,
    functionally_similar_delta,
    idr_values,
    input_dependence_rate,
    input_independence_rate,
    mcs_values,
    model_contrast_score,
    random_region_masks,
    region_attribution,
    relative_attribution_change,
    trial_statistics,
)

T, F = True, False


def test_bam_maps_positive_part_min_to_p99() -> None:
    e = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]], [[-5.0, 1.0], [-1.0, 0.0]]]])
    # positive sum [0, 2, 2, 3]; P99 (linear) = 2 + 0.97 * (3 - 2) = 2.97; 3 / 2.97 clipped to 1.
    expected = torch.tensor([[[0.0, 2 / 2.97], [2 / 2.97, 1.0]]])
    torch.testing.assert_close(bam_maps(e), expected)


def test_region_attribution_is_mean_over_mask() -> None:
    maps = torch.tensor([[[0.0, 0.25], [0.5, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])
    masks = torch.tensor([[[1, 0], [0, 1]], [[0, 1], [1, 1]]], dtype=torch.bool)
    torch.testing.assert_close(region_attribution(maps, masks), torch.tensor([0.5, 1 / 3]))


def test_concept_attribution_and_mcs_use_correct_inputs_only() -> None:
    g1 = torch.tensor([0.8, 0.6, 0.4, 0.9])
    g2 = torch.tensor([0.2, 0.5, 0.5, 0.1])
    c1, c2 = torch.tensor([T, T, T, F]), torch.tensor([T, F, T, T])
    assert concept_attribution(g1, c1).item() == pytest.approx(0.6)
    # eligible: inputs 0 and 2 -> (0.6 + (-0.1)) / 2
    assert model_contrast_score(g1, g2, c1, c2).item() == pytest.approx(0.25)
    values, eligible = mcs_values(g1, g2, c1, c2)
    assert eligible.tolist() == [T, F, T, F]
    torch.testing.assert_close(values, (g1 - g2).double())


def test_idr_is_strict_and_paired() -> None:
    g_cf = torch.tensor([0.1, 0.5, 0.3, 0.2])
    g_no = torch.tensor([0.2, 0.5, 0.1, 0.9])
    ok = torch.tensor([T, T, T, T])
    # pair 1 is a tie (not counted), pair 3 is dropped because x_no_cf is misclassified.
    assert input_dependence_rate(g_cf, g_no, ok, torch.tensor([T, T, T, F])).item() == (
        pytest.approx(1 / 3))
    values, _ = idr_values(g_cf, g_no, ok, ok)
    assert values.tolist() == [1.0, 0.0, 0.0, 1.0]


def test_iir_relative_threshold_strict() -> None:
    g_x = torch.tensor([1.0, 1.0, 0.5, 0.2])
    g_d = torch.tensor([1.05, 1.2, 0.56, 0.2])
    ok = torch.ones(4, dtype=torch.bool)
    # |diff| = 0.05 < 0.1, 0.2 > 0.1, 0.06 > 0.05, 0 < 0.02
    assert input_independence_rate(g_x, g_d, ok).item() == pytest.approx(0.5)
    assert input_independence_rate(g_x, g_d, ok, threshold=0.25).item() == pytest.approx(1.0)
    # g_c(x) = 0 and no change: 0 < 0 is false (strict)
    assert input_independence_rate(torch.zeros(1), torch.zeros(1), ok[:1]).item() == 0.0
    change = relative_attribution_change(g_x, g_d, ok).item()
    assert change == pytest.approx((0.05 + 0.2 + 0.12 + 0.0) / 4)


def test_random_region_keeps_shape_and_stays_inside() -> None:
    masks = torch.zeros(50, 12, 10, dtype=torch.bool)
    masks[:, 2:5, 3:9] = True
    masks[:, 5, 3] = True  # an L shape
    out = random_region_masks(masks, torch.Generator().manual_seed(0))
    assert out.dtype == torch.bool and out.shape == masks.shape
    assert (out.flatten(1).sum(1) == masks.flatten(1).sum(1)).all()
    for i in range(0, 50, 7):  # same shape, only translated
        r, c = torch.nonzero(out[i], as_tuple=True)
        assert out[i, r.min():r.min() + 4, c.min():c.min() + 6].equal(masks[0, 2:6, 3:9])
    again = random_region_masks(masks, torch.Generator().manual_seed(0))
    assert again.equal(out)


def test_random_region_positions_are_uniform() -> None:
    masks = torch.zeros(4000, 4, 4, dtype=torch.bool)
    masks[:, 0, 0] = True
    out = random_region_masks(masks, torch.Generator().manual_seed(1))
    counts = out.sum(0).flatten()
    assert counts.sum() == 4000 and counts.min() > 180 and counts.max() < 320  # 250 expected


def test_trial_statistics_subsets_without_replacement() -> None:
    values = 2.0 ** torch.arange(20, dtype=torch.float64)
    eligible = torch.ones(20, dtype=torch.bool)
    eligible[3] = False
    stats = trial_statistics(values, eligible, n_trials=10, trial_size=5,
                             generator=torch.Generator().manual_seed(0))
    sums = (stats.trials * 5).round().long()
    for s in sums.tolist():  # 5 distinct powers of two, never the ineligible one
        assert bin(s).count("1") == 5 and not s & 8
    assert stats.trial_size == 5 and stats.eligible == 19
    assert stats.mean == pytest.approx(float(stats.trials.mean()))


def test_trial_statistics_whole_pool_reports_n_and_no_std() -> None:
    # Issue 11 item 11: a pool no larger than the trial size makes every "trial" the whole pool,
    # so a std over trials (0) would claim certainty that does not exist: report n and no std.
    values = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 9.0], dtype=torch.float64)
    eligible = torch.tensor([T, T, T, T, T, F])
    for size in (5, 100):  # equal to and larger than the pool
        st = trial_statistics(values, eligible, n_trials=10, trial_size=size,
                              generator=torch.Generator().manual_seed(0))
        assert st.mean == pytest.approx(0.6)  # plain mean of the 5 eligible values
        assert math.isnan(st.std) and st.whole_pool
        assert st.trial_size == 5 and st.eligible == 5 and st.trials.tolist() == [0.6]
    st = trial_statistics(values, eligible, n_trials=10, trial_size=4,
                          generator=torch.Generator().manual_seed(0))
    assert not st.whole_pool and st.std > 0 and len(st.trials) == 10


def test_bad_inputs_raise_clear_errors() -> None:
    maps = torch.rand(2, 4, 4)
    with pytest.raises(AttrbenchError, match="must match the maps"):
        region_attribution(maps, torch.ones(2, 8, 8))
    with pytest.raises(AttrbenchError, match="binary"):
        region_attribution(maps, torch.full((2, 4, 4), 0.5))
    with pytest.raises(AttrbenchError, match="empty"):
        region_attribution(maps, torch.zeros(2, 4, 4))
    with pytest.raises(AttrbenchError, match="No correctly classified"):
        model_contrast_score(torch.rand(3), torch.rand(3), torch.zeros(3, dtype=torch.bool),
                             torch.ones(3, dtype=torch.bool))
    with pytest.raises(AttrbenchError, match="same length"):
        input_dependence_rate(torch.rand(3), torch.rand(4), torch.ones(3), torch.ones(4))
    with pytest.raises(AttrbenchError, match="threshold"):
        input_independence_rate(torch.rand(3), torch.rand(3), torch.ones(3), threshold=0.0)


class ReluLinear(nn.Module):
    """f(x) = W relu(x) + b with W >= 0: pixels <= 0 provably do not affect the output."""

    def __init__(self, shape: tuple[int, int, int], classes: int, gen: torch.Generator) -> None:
        super().__init__()
        self.fc = nn.Linear(shape[0] * shape[1] * shape[2], classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.rand(self.fc.weight.shape, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(x).flatten(1))


def _planted_pairs(n: int = 200) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    scenes = 0.1 + 0.9 * torch.rand(n, 3, 16, 16, generator=gen)  # all pixels > 0: they count
    boxes = torch.zeros(n, 16, 16, dtype=torch.bool)
    boxes[:, :7, :6] = True
    masks = random_region_masks(boxes, gen)
    objects = -0.2 - 0.8 * torch.rand(n, 3, 16, 16, generator=gen)  # all < 0: ignored by f
    with_obj = torch.where(masks[:, None], objects, scenes)
    return ReluLinear((3, 16, 16), 5, gen), with_obj, scenes, masks


def test_planted_model_ignoring_object_gives_idr_100_and_random_50() -> None:
    model, with_obj, scenes, masks = _planted_pairs()
    # the object provably does not matter: replacing its pixels by other negatives changes nothing
    with torch.no_grad():
        moved = torch.where(masks[:, None], -torch.ones_like(with_obj), with_obj)
        torch.testing.assert_close(model(moved), model(with_obj))
        target = model(scenes).argmax(1)
    ok = torch.ones(len(scenes), dtype=torch.bool)
    # IG from a zero baseline is exact here: W * relu(x) (the pixel's own contribution).
    ig = create_method("integrated_gradients", model, steps=8)
    g_cf = region_attribution(bam_maps(ig(with_obj, target)), masks)
    g_no = region_attribution(bam_maps(ig(scenes, target)), masks)
    assert input_dependence_rate(g_cf, g_no, ok, ok).item() == 1.0
    rnd = create_method("random", model)
    g_cf = region_attribution(bam_maps(rnd(with_obj, target)), masks)
    g_no = region_attribution(bam_maps(rnd(scenes, target)), masks)
    assert 0.4 < input_dependence_rate(g_cf, g_no, ok, ok).item() < 0.6


def _pixel_reference(model: nn.Module, x: torch.Tensor, masks: torch.Tensor, d0: torch.Tensor,
                     mean: torch.Tensor, std: torch.Tensor, steps: int) -> torch.Tensor:
    """The authors' delta loop, literally in 0-255 pixel units (NOTES §2.4).

    ``g(p) = f((p / 255 - mean) / std)``; ``L = ||g(p + d) - g(p)|| - 0.01 ||d||
    + 0.01 sum[(p + d - 255)^+ + (0 - p - d)^+]``; ``d <- d - 500 dL/dd``, then ``d`` zeroed
    outside the mask (no clamp, as the authors). Returns ``d`` in pixel units.
    """
    mean, std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)

    def g(p: torch.Tensor) -> torch.Tensor:
        return model((p / 255 - mean) / std)

    p = (x * std + mean) * 255
    m = masks[:, None].to(x.dtype)

    def project(d: torch.Tensor) -> torch.Tensor:
        return d * m

    with torch.no_grad():
        gp = g(p)
    d = project(d0 * std * 255)
    for _ in range(steps):
        d.requires_grad_(True)
        loss = ((g(p + d) - gp).flatten(1).norm(dim=1) - 0.01 * d.flatten(1).norm(dim=1)
                + 0.01 * (torch.relu(p + d - 255) + torch.relu(-p - d)).flatten(1).sum(1))
        (grad,) = torch.autograd.grad(loss.sum(), d)
        d = project(d.detach() - 500.0 * grad)
    return d.detach()


@pytest.mark.parametrize("per_channel", [False, True])
def test_delta_is_the_raw_pixel_optimisation(per_channel: bool) -> None:
    # Issue 11 item 1: the paper's lambda = 500, eta1 = eta2 = 0.01 act on 0-255 pixels; the
    # optimisation in model units must give the same delta (times the pixel scale).
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(4),
                          nn.Flatten(), nn.Linear(6 * 2 * 2, 5)).double().eval()
    if per_channel:
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    else:
        mean, std = torch.full((3,), 0.5), torch.full((3,), 0.5)
    mean, std = mean.double(), std.double()
    low, high = -mean / std, (1 - mean) / std
    x = low.view(1, -1, 1, 1) + (high - low).view(1, -1, 1, 1) * torch.rand(
        4, 3, 8, 8, generator=gen, dtype=torch.float64)
    d0 = low.view(1, -1, 1, 1) + (high - low).view(1, -1, 1, 1) * torch.rand(
        4, 3, 8, 8, generator=gen, dtype=torch.float64) - x
    masks = torch.zeros(4, 8, 8)
    masks[:, 2:7, 1:6] = 1
    ref = _pixel_reference(model, x, masks, d0, mean, std, steps=40)
    # no clamp: a clamped pixel sits on the penalty's kink, where rounding picks the subgradient
    res = functionally_similar_delta(model, x, masks, d0, steps=40, low=low, high=high,
                                     scale=255 * std, clamp=False)
    torch.testing.assert_close(res.delta * (255 * std).view(1, -1, 1, 1), ref, atol=1e-6,
                               rtol=1e-6)
    assert ref.abs().max() > 1.0  # a real delta, not a vanished one
    p_end = (x + res.delta) * std.view(1, -1, 1, 1) * 255 + mean.view(1, -1, 1, 1) * 255
    assert p_end.max() > 255 or p_end.min() < 0  # the range penalty was active


def test_delta_similarity_check_flags_misses() -> None:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).eval()
    x = torch.rand(3, 3, 4, 4, generator=gen) * 2 - 1
    masks = torch.ones(3, 4, 4)
    d0 = torch.zeros_like(x)
    d0[2] = 0.5  # image 2 starts far away; one tiny step cannot bring it back
    res = functionally_similar_delta(model, x, masks, d0, steps=1, step_size=1e-9)
    rel = res.output_change / res.output_norm
    assert res.similar.tolist() == (rel <= 0.05).tolist() == [True, True, False]
    strict = functionally_similar_delta(model, x, masks, d0, steps=1, step_size=1e-9,
                                        tolerance=0.0)
    assert strict.similar.tolist() == [True, True, False]
    with pytest.raises(AttrbenchError, match="scale"):
        functionally_similar_delta(model, x, masks, d0, scale=0.0)


def test_delta_keeps_output_and_norm() -> None:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(4), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 10))
    with torch.no_grad():  # logits of a classifier's size (norm ~ 7): the paper's settings hold
        model[-1].weight.mul_(30.0)
        model[-1].bias.mul_(30.0)
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1
    masks = torch.zeros(4, 16, 16)
    masks[:, 4:12, 4:12] = 1
    d0 = torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1
    res = functionally_similar_delta(model, x, masks, d0)  # paper: 300 steps, lambda 500 px
    start_change = (model(x + d0 * masks[:, None]) - model(x)).flatten(1).norm(dim=1)
    assert (res.output_change < 0.05 * res.output_norm).all() and res.similar.all()
    assert (start_change > 0.2 * res.output_norm).all()  # the start was far from similar
    assert (res.delta_norm > 0.8 * (d0 * masks[:, None]).flatten(1).norm(dim=1)).all()
    assert (res.delta * (1 - masks[:, None])).abs().max() == 0
    assert ((x + res.delta) <= 1).all() and ((x + res.delta) >= -1).all()
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(AttrbenchError, match="do not fit"):
        functionally_similar_delta(model, x, masks[:, :8], d0)
