"""BAM metrics (Yang & Kim 2019): g_c, G_c, MCS, IDR, IIR, random-region baselines, and delta.

Paper Sec. 4 and App. A-C; the authors' code as described in ``papers/NOTES.md`` §2.3-2.4 and the
ambiguity table rows 14-19. All functions are batched over images.

* **map** ``e``: the positive part of the raw attribution summed over channels, scaled per image so
  that its minimum is 0 and its 99th percentile 1, clipped to [0, 1] (:func:`bam_maps`, NOTES §2.3,
  row 14: the code's version, not the paper's channel *mean*).
* ``g_c(f, x) = sum(e * I_c) / sum(I_c)``, the mean map value over region ``c`` (Sec. 4.1).
* ``G_c`` = mean of ``g_c`` over the correctly classified inputs.
* **MCS** = ``G_c(f_1) - G_c(f_2)`` over the inputs both models classify correctly (Sec. 4.2).
* **IDR** = fraction of pairs, correct for both inputs, with ``g_c(x_cf) < g_c(x_no_cf)``
  (strict, Sec. 4.3).
* **IIR** = fraction of correct inputs with ``|g_c(x + delta) - g_c(x)| < t * g_c(x)``, strict,
  ``t = 10 %`` (Sec. 4.4, row 16).

Every rate/score comes as per-pair values plus an eligibility mask (the ``*_values`` functions), so
that :func:`trial_statistics` can form the paper's mean +- std over 10 trials of 100 pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.postprocess import postprocess

__all__ = [
    "DeltaResult",
    "TrialStats",
    "bam_maps",
    "concept_attribution",
    "functionally_similar_delta",
    "idr_values",
    "iir_values",
    "input_dependence_rate",
    "input_independence_rate",
    "mcs_values",
    "model_contrast_score",
    "random_region_masks",
    "region_attribution",
    "relative_attribution_change",
    "trial_statistics",
]

BAM_POSTPROCESS = "positive_sum|minmax_p99"


def bam_maps(e: torch.Tensor) -> torch.Tensor:
    """BAM's 2-D saliency map: ``clip((m - min m) / (P99(m) - min m), 0, 1)``, ``m = sum_c e^+``.

    Args:
        e: raw attributions (B, C, H, W).

    Returns:
        (B, H, W) maps in [0, 1] (NOTES §2.3 ``visualize_pos_attr``).
    """
    return postprocess(e, None, BAM_POSTPROCESS)


def _check_region(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    if maps.ndim != 3:
        raise AttrbenchError(f"BAM maps must have shape (B, H, W), got {tuple(maps.shape)}.")
    if masks.shape != maps.shape:
        raise AttrbenchError(
            f"Region masks {tuple(masks.shape)} must match the maps {tuple(maps.shape)}; resize "
            "the masks to the image size first."
        )
    weights = masks.to(maps.dtype)
    if ((weights != 0) & (weights != 1)).any():
        raise AttrbenchError("Region masks must be binary (0/1 or bool); threshold them first.")
    return weights


def region_attribution(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``g_c``: mean of each normalised map over its binary region (BAM Sec. 4.1).

    Args:
        maps: normalised maps (B, H, W), usually from :func:`bam_maps`.
        masks: regions (B, H, W), bool or 0/1.

    Returns:
        (B,) mean map value inside each region.

    Raises:
        AttrbenchError: shapes differ, a mask is not binary, or a region is empty.
    """
    weights = _check_region(maps, masks)
    area = weights.flatten(1).sum(dim=1)
    if (area == 0).any():
        empty = torch.nonzero(area == 0).flatten().tolist()[:5]
        raise AttrbenchError(f"Region masks of images {empty} are empty; every image needs a "
                             "region.")
    return (maps * weights).flatten(1).sum(dim=1) / area


def _check_pair(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.ndim != 1 or a.shape != b.shape:
        raise AttrbenchError(
            f"{what} must be two (N,) tensors of the same length, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )


def _mean_or_error(values: torch.Tensor, eligible: torch.Tensor, what: str) -> torch.Tensor:
    if not bool(eligible.any()):
        raise AttrbenchError(f"No correctly classified inputs to compute {what}; check the models.")
    return values[eligible].to(torch.float64).mean()


def concept_attribution(g: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """``G_c``: mean of ``g_c`` (N,) over the correctly classified inputs ``correct`` (N,) bool."""
    _check_pair(g, correct, "g_c and correct")
    return _mean_or_error(g, correct.bool(), "G_c")


def mcs_values(
    g1: torch.Tensor, g2: torch.Tensor, correct1: torch.Tensor, correct2: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-input MCS terms ``g_c(f_1, x) - g_c(f_2, x)`` and where both models are correct.

    Returns:
        ``(values (N,) float64, eligible (N,) bool)``.
    """
    _check_pair(g1, g2, "g_c of the two models")
    _check_pair(correct1, correct2, "correctness of the two models")
    return (g1.to(torch.float64) - g2.to(torch.float64)), correct1.bool() & correct2.bool()


def model_contrast_score(
    g1: torch.Tensor, g2: torch.Tensor, correct1: torch.Tensor, correct2: torch.Tensor,
) -> torch.Tensor:
    """MCS = ``G_c(f_1) - G_c(f_2)`` over inputs both models classify correctly (Sec. 4.2)."""
    return _mean_or_error(*mcs_values(g1, g2, correct1, correct2), "MCS")


def idr_values(
    g_cf: torch.Tensor, g_no_cf: torch.Tensor, correct_cf: torch.Tensor,
    correct_no_cf: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair IDR indicators ``1(g_c(x_cf) < g_c(x_no_cf))`` (strict) and pair eligibility."""
    _check_pair(g_cf, g_no_cf, "g_c with and without the common feature")
    _check_pair(correct_cf, correct_no_cf, "correctness with and without the common feature")
    return (g_cf < g_no_cf).to(torch.float64), correct_cf.bool() & correct_no_cf.bool()


def input_dependence_rate(
    g_cf: torch.Tensor, g_no_cf: torch.Tensor, correct_cf: torch.Tensor,
    correct_no_cf: torch.Tensor,
) -> torch.Tensor:
    """IDR in [0, 1]: fraction of correct pairs whose CF region gets strictly less (Sec. 4.3)."""
    return _mean_or_error(*idr_values(g_cf, g_no_cf, correct_cf, correct_no_cf), "IDR")


def iir_values(
    g_x: torch.Tensor, g_x_delta: torch.Tensor, correct: torch.Tensor, threshold: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-input IIR indicators ``1(|g_c(x + delta) - g_c(x)| < t * g_c(x))`` (strict).

    Args:
        g_x: g_c of the inputs without delta (N,).
        g_x_delta: g_c of the same region with delta added (N,).
        correct: (N,) bool, inputs the model classifies correctly.
        threshold: ``t`` (paper: 0.1).
    """
    _check_pair(g_x, g_x_delta, "g_c with and without delta")
    _check_pair(g_x, correct, "g_c and correct")
    if not threshold > 0:
        raise AttrbenchError(f"IIR threshold t must be > 0, got {threshold}.")
    diff = (g_x_delta.to(torch.float64) - g_x.to(torch.float64)).abs()
    return (diff < threshold * g_x.to(torch.float64)).to(torch.float64), correct.bool()


def input_independence_rate(
    g_x: torch.Tensor, g_x_delta: torch.Tensor, correct: torch.Tensor, threshold: float = 0.1,
) -> torch.Tensor:
    """IIR in [0, 1] with relative threshold ``t`` (Sec. 4.4, NOTES row 16)."""
    return _mean_or_error(*iir_values(g_x, g_x_delta, correct, threshold), "IIR")


def relative_attribution_change(
    g_x: torch.Tensor, g_x_delta: torch.Tensor, correct: torch.Tensor,
) -> torch.Tensor:
    """App. C: mean over correct inputs of ``|(g_c(x + delta) - g_c(x)) / g_c(x)|``.

    Inputs with ``g_c(x) = 0`` give ``inf`` (or ``nan`` when both are 0), as the formula does.
    """
    _check_pair(g_x, g_x_delta, "g_c with and without delta")
    gx = g_x.to(torch.float64)
    return _mean_or_error(((g_x_delta.to(torch.float64) - gx) / gx).abs(), correct.bool(),
                          "the relative attribution change")


def random_region_masks(masks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random-region baseline ``I_c`` (App. G): each region moved to a uniformly random place.

    The region keeps its shape and area; its bounding box is placed uniformly among the positions
    that keep it fully inside the image (as the objects themselves are placed, Sec. 3.1).

    Args:
        masks: binary regions (B, H, W), none empty.
        generator: CPU generator for the offsets.

    Returns:
        (B, H, W) bool masks.
    """
    if masks.ndim != 3:
        raise AttrbenchError(f"Region masks must have shape (B, H, W), got {tuple(masks.shape)}.")
    m = masks.bool()
    b, h, w = m.shape
    rows, cols = m.any(dim=2), m.any(dim=1)
    if not bool(rows.any(dim=1).all()):
        raise AttrbenchError("Region masks must not be empty for the random-region baseline.")
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    top = torch.where(rows, ar_h, h).amin(dim=1)
    bottom = torch.where(rows, ar_h, -1).amax(dim=1) + 1
    left = torch.where(cols, ar_w, w).amin(dim=1)
    right = torch.where(cols, ar_w, -1).amax(dim=1) + 1
    new_top = (torch.rand(b, generator=generator) * (h - (bottom - top) + 1)).long()
    new_left = (torch.rand(b, generator=generator) * (w - (right - left) + 1)).long()
    # Output pixel (r, c) reads input pixel (r - dr, c - dc); out-of-range reads are False.
    src_r = ar_h[None, :] - (new_top - top)[:, None]
    src_c = ar_w[None, :] - (new_left - left)[:, None]
    ok = ((src_r >= 0) & (src_r < h))[:, :, None] & ((src_c >= 0) & (src_c < w))[:, None, :]
    gathered = m[torch.arange(b)[:, None, None], src_r.clamp(0, h - 1)[:, :, None],
                 src_c.clamp(0, w - 1)[:, None, :]]
    return gathered & ok


@dataclass(frozen=True)
class TrialStats:
    """Mean +- std of a metric over repeated trials (the paper's error bars).

    Attributes:
        mean: mean of the trial values (the plain pool mean when ``whole_pool``).
        std: standard deviation of the trial values (ddof = 0, as NumPy's default); NaN when
            ``whole_pool``: there is only one possible subset, so no spread over trials exists.
        trials: (n_trials,) float64, each trial's metric; (1,) holding the pool mean when
            ``whole_pool``.
        trial_size: pairs per trial actually used (the pool size n when ``whole_pool``).
        eligible: number of eligible pairs in the pool (n).
        whole_pool: the pool was no larger than the trial size, so the metric is the mean over
            all n eligible pairs, reported with n and without a std.
    """

    mean: float
    std: float
    trials: torch.Tensor
    trial_size: int
    eligible: int
    whole_pool: bool = False


def trial_statistics(
    values: torch.Tensor, eligible: torch.Tensor, *, n_trials: int = 10, trial_size: int = 100,
    generator: torch.Generator,
) -> TrialStats:
    """Metric mean +- std over ``n_trials`` random subsets of ``trial_size`` eligible pairs.

    BAM reports "std over 10 trials of 100 image pairs each" (Figs. 4, 8, 10). Each trial draws
    ``trial_size`` eligible pairs without replacement (independently across trials) and averages
    their per-pair values (MCS differences or IDR/IIR indicators).

    When the eligible pool holds no more than ``trial_size`` pairs, every trial would be the
    whole pool and the "std over trials" would be exactly 0, which reads as certainty. Then the
    result is the mean over all n eligible pairs with ``std = NaN`` and ``whole_pool = True``
    (report it as "mean, n = ..."); pairs are not resampled with replacement, which would change
    what the error bar means (a bootstrap, not the paper's trials).

    Args:
        values: (N,) per-pair values from :func:`mcs_values`, :func:`idr_values`,
            :func:`iir_values`.
        eligible: (N,) bool.
        n_trials: number of trials.
        trial_size: pairs per trial; a pool of at most this many gives the whole-pool result.
        generator: CPU generator for the draws.

    Raises:
        AttrbenchError: bad sizes or no eligible pair.
    """
    _check_pair(values.to(torch.float64), eligible, "values and eligible")
    if n_trials < 1 or trial_size < 1:
        raise AttrbenchError(f"n_trials and trial_size must be >= 1, got {n_trials}, {trial_size}.")
    pool = values[eligible.bool()].to(torch.float64)
    if pool.numel() == 0:
        raise AttrbenchError("No eligible (correctly classified) pairs; check the models and data.")
    if pool.numel() <= trial_size:
        mean = pool.mean()
        return TrialStats(float(mean), math.nan, mean.reshape(1), int(pool.numel()),
                          int(pool.numel()), whole_pool=True)
    size = trial_size
    keys = torch.rand(n_trials, pool.numel(), generator=generator, dtype=torch.float64)
    # a uniform subset without replacement per trial, summed in pool order (equal subsets give
    # bit-equal means)
    picks = keys.argsort(dim=1)[:, :size].sort(dim=1).values
    trials = pool[picks].mean(dim=1)
    return TrialStats(float(trials.mean()), float(trials.std(unbiased=False)), trials, size,
                      int(pool.numel()))


@dataclass(frozen=True)
class DeltaResult:
    """A functionally similar perturbation (App. A).

    Attributes:
        delta: (B, C, H, W) float, in model-input units, zero outside the region.
        output_change: (B,) ``||f(x + delta) - f(x)||_2`` on logits, after the last projection.
        output_norm: (B,) ``||f(x)||_2``.
        delta_norm: (B,) ``||delta||_2`` in model-input units.
        pixel_norm: (B,) ``||delta||_2`` in pixel units (``delta * scale``), the paper's units.
        similar: (B,) bool, ``output_change <= tolerance * output_norm``: delta is functionally
            similar; pairs without it must not enter IIR.
        losses: (steps,) the summed loss at each step (for convergence plots).
    """

    delta: torch.Tensor
    output_change: torch.Tensor
    output_norm: torch.Tensor
    delta_norm: torch.Tensor
    pixel_norm: torch.Tensor
    similar: torch.Tensor
    losses: torch.Tensor


def functionally_similar_delta(
    model: nn.Module, x: torch.Tensor, masks: torch.Tensor, delta0: torch.Tensor, *,
    steps: int = 300, step_size: float = 500.0, eta1: float = 0.01, eta2: float = 0.01,
    low: float | torch.Tensor = -1.0, high: float | torch.Tensor = 1.0,
    scale: float | torch.Tensor = 127.5, clamp: bool = True, tolerance: float = 0.05,
) -> DeltaResult:
    """Find ``delta`` in the region with ``f(x + delta) ~ f(x)`` and a large norm (IIR, App. A).

    The optimisation runs in **pixel units** as the authors' code (NOTES §2.4): with
    ``d = scale * delta`` (``scale`` = pixel units per model-input unit, ``255 * std`` for inputs
    ``(p / 255 - mean) / std``; 127.5 for the project's [-1, 1] inputs) it minimises per image

        ``||f(x + d / scale) - f(x)||_2 - eta1 ||d||_2
        + eta2 sum[(s x + d - s high)^+ + (s low - s x - d)^+]``

    by plain gradient descent ``d <- d - step_size * dL/dd`` with the paper's lambda = 500 and
    eta1 = eta2 = 0.01 as defaults. (Rescaling only the step to model units, as before, left the
    norm reward and the range penalty 127.5x too weak.) After every step ``d`` is projected onto
    the region (set to 0 outside the mask: the authors' hard form of the paper's eta3 term, NOTES
    row 17) and, with ``clamp``, onto ``low <= x + delta <= high``. ``delta0`` is projected
    before the first step (the authors project after it). The result stays in float: no
    uint8/JPEG round trip, so ``f(x + delta) ~ f(x)`` holds exactly as measured here.

    Args:
        model: the classifier; used in eval mode, its parameters are not changed.
        x: images (B, C, H, W) in the model's input space.
        masks: regions (B, H, W) or (B, 1, H, W), binary.
        delta0: initial delta (B, C, H, W) in model units; the paper uses the object image.
        steps: gradient steps (paper 300).
        step_size: lambda in pixel units (paper 500).
        eta1: weight of the norm reward, per pixel unit (paper 0.01).
        eta2: weight of the range penalty, per pixel unit (paper 0.01).
        low, high: valid input range in model units (scalars or (C,) per-channel bounds).
        scale: pixel units per model-input unit, scalar or (C,), > 0.
        clamp: also project ``x + delta`` into ``[low, high]`` after each step.
        tolerance: ``similar`` marks ``||f(x + delta) - f(x)|| <= tolerance * ||f(x)||``
            (default 5 %).

    Returns:
        :class:`DeltaResult` (``delta`` in model units).
    """
    if x.ndim != 4 or delta0.shape != x.shape:
        raise AttrbenchError(
            f"x and delta0 must both be (B, C, H, W), got {tuple(x.shape)} and "
            f"{tuple(delta0.shape)}."
        )
    region = masks if masks.ndim == 4 else masks.unsqueeze(1)
    if region.shape[0] != x.shape[0] or region.shape[-2:] != x.shape[-2:] or region.shape[1] != 1:
        raise AttrbenchError(
            f"Masks {tuple(masks.shape)} do not fit images {tuple(x.shape)}; give (B, H, W)."
        )
    if steps < 1 or not step_size > 0:
        raise AttrbenchError(f"steps must be >= 1 and step_size > 0, got {steps}, {step_size}.")
    if not tolerance >= 0:
        raise AttrbenchError(f"tolerance must be >= 0 (a fraction of ||f(x)||), got {tolerance}.")
    region = region.to(x.dtype)

    def channels(v: float | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(v, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)

    s = channels(scale)
    if not bool((s > 0).all()):
        raise AttrbenchError(f"scale (pixel units per input unit) must be > 0, got {scale}; "
                             "use 255 * std of the normalisation.")
    xp, lo, hi = x * s, channels(low) * s, channels(high) * s

    def project(d: torch.Tensor) -> torch.Tensor:
        if clamp:
            d = torch.minimum(torch.maximum(xp + d, lo), hi) - xp
        return d * region

    was_training = model.training
    model.eval()
    requires = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    losses = torch.empty(steps, dtype=torch.float64)
    try:
        with torch.no_grad():
            fx = model(x)
        d = project(delta0.detach().to(x.dtype) * s)
        for i in range(steps):
            d.requires_grad_(True)
            with torch.enable_grad():
                change = (model(x + d / s) - fx).flatten(1).norm(dim=1)
                penalty = (torch.relu(xp + d - hi) + torch.relu(lo - xp - d)).flatten(1)
                loss = change - eta1 * d.flatten(1).norm(dim=1) + eta2 * penalty.sum(dim=1)
                (grad,) = torch.autograd.grad(loss.sum(), d)
            losses[i] = float(loss.detach().sum())
            d = project(d.detach() - step_size * grad)
        delta = d / s
        if clamp:  # the same projection in model units, against rounding of d / s
            low_t, high_t = channels(low), channels(high)
            delta = (torch.minimum(torch.maximum(x + delta, low_t), high_t) - x) * region
        with torch.no_grad():
            change = (model(x + delta) - fx).flatten(1).norm(dim=1)
    finally:
        for p, r in zip(model.parameters(), requires):
            p.requires_grad_(r)
        model.train(was_training)
    norm = fx.flatten(1).norm(dim=1)
    return DeltaResult(delta.detach(), change, norm, delta.flatten(1).norm(dim=1),
                       d.flatten(1).norm(dim=1), change <= tolerance * norm, losses)
