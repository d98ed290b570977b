"""IteROAR mask-overlap metrics: threshold masks, MMO, MAMO, pairwise overlap and CMA.

Palacio et al., "IteROAR: Quantifying the Interpretation of Feature Importance Methods", Sec. 3.
Notation: a *removal mask* ``m̄ = 1 - m`` is ``True`` where a pixel is occluded. A mask sequence
is a bool tensor ``(T, B, *S)``: ``T`` iterations, ``B`` samples, ``S`` the per-sample shape
(``(H, W)`` for spatial masks, ``(C, H, W)`` for per-element masks); ``A = prod(S)`` is the
sample's area.

* Eq. (1) MMO  = E_{i,j} ‖m̄_{i,j} ⊙ m̄_{i+1,j}‖₀
* Eq. (2) MAMO = E_{i,j} ‖(Σ_{ι≤i} m̄_{ι,j}) ⊙ m̄_{i+1,j}‖₀  (the pixels of the next mask that were
  already occluded by *any* earlier mask)
* Eq. (3) pairwise overlap  O[i, n] = E_j ‖m̄_{i,j} ⊙ m̄_{n,j}‖₀  (a (T, T) matrix)
* Eq. (4) CMA_j = ‖Σ_i m̄_{i,j}‖₀  (the union of all masks), ideally ≈ ρA

The expectations run over consecutive pairs ``i = 0..T-2`` and all samples ``j``. The paper gives
the metrics as pixel counts; :func:`overlap_summary` also reports them as fractions of the masked
area (``‖m̄_{i+1,j}‖₀``) and of ``A``, beside their expected values when every mask is an
independent uniformly random set of the same size (:func:`random_mask_expectations`).

Thresholding (:func:`top_fraction_masks`): IteROAR removes the pixels whose score exceeds the
τ-th percentile of each map, i.e. the top ``1 - τ/100`` fraction. To make every mask the same,
known size whatever the ties, exactly ``k = floor((1 - τ/100) · A)`` pixels are removed per map:
the ``k`` highest scores, and among equal scores the lower flat index (row-major) first. This is
the deterministic tie rule; a constant map therefore removes its first ``k`` pixels in reading
order, and :class:`ConstantMapWarning` says so. The literal ``e > numpy.percentile(e, τ)``
(linear interpolation) removes one pixel more on untied maps whenever ``(1 - τ/100)·(A - 1)`` is
not an integer (52 instead of 51 of 1024 pixels at τ = 95), and ten such masks would exceed the
paper's own budget ``‖m̄₀‖₀ · I = ρA`` (520 > 512); the floor keeps ``I · k ≤ ρA``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.ranking import ConstantMapWarning


def masked_count(tau: float, area: int) -> int:
    """Pixels removed per map at percentile ``tau``: ``k = floor((1 - tau/100) · area)``.

    Args:
        tau: percentile in (0, 100), e.g. 95 (IteROAR Sec. 4.1) removes the top 5 %.
        area: pixels (or elements) per sample, ``A``.

    Raises:
        AttrbenchError: ``tau`` outside (0, 100) or so high that no pixel would be removed.
    """
    if not 0.0 < tau < 100.0:
        raise AttrbenchError(f"tau must be a percentile strictly between 0 and 100, got {tau}.")
    k = math.floor((1.0 - tau / 100.0) * area + 1e-9)
    if k < 1:
        raise AttrbenchError(
            f"tau={tau} removes no pixel of a {area}-pixel map; lower tau to at most "
            f"{100.0 * (1 - 1 / area):.4g}.")
    return k


def top_fraction_masks(scores: torch.Tensor, tau: float, *, sample_dims: int = 2) -> torch.Tensor:
    """Removal masks of the scores above the ``tau``-th percentile, ``k`` per sample exactly.

    Args:
        scores: importance maps ``(B, *S)`` with ``len(S) == sample_dims`` (``(B, H, W)`` spatial,
            ``(B, C, H, W)`` with ``sample_dims=3`` per element). Any real dtype; NaN is refused.
        tau: percentile in (0, 100); ``k = floor((1 - tau/100) · A)`` entries are removed.
        sample_dims: number of trailing dimensions that make one sample.

    Returns:
        bool ``(B, *S)``: ``True`` = removed (``m̄ = 1``). Exactly ``k`` per sample; ties broken
        towards the lower flat index (module docstring).

    Raises:
        AttrbenchError: bad ``tau``, a tensor of the wrong rank, or NaN scores.
    """
    if scores.dim() != sample_dims + 1 or scores.numel() == 0:
        raise AttrbenchError(
            f"scores must be a non-empty (B, ...) tensor with {sample_dims} sample dimensions, got "
            f"shape {tuple(scores.shape)}.")
    flat = scores.detach().reshape(scores.shape[0], -1)
    if flat.is_floating_point() and torch.isnan(flat).any():
        rows = torch.isnan(flat).any(1).nonzero().flatten().tolist()
        raise AttrbenchError(f"Importance maps of samples {rows[:10]} contain NaN; fix the method.")
    k = masked_count(tau, flat.shape[1])
    constant = (flat.amax(1) == flat.amin(1)).nonzero().flatten().tolist()
    if constant:
        warnings.warn(
            f"{len(constant)} importance map(s) are constant (samples {constant[:10]}); their "
            f"mask is the first {k} pixels in reading order (deterministic tie rule).",
            ConstantMapWarning, stacklevel=2)
    # Stable descending sort: equal scores keep ascending flat order, so ties go to low indices.
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :k]
    removed = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, order, True)
    return removed.reshape(scores.shape)


def iteration_count(tau: float, rho: float) -> int:
    """IteROAR's number of iterations ``I = ρ / (1 - τ/100)`` (Sec. 3: ‖m̄₀‖₀ · I = ρA).

    Not an integer ``I`` is rounded down, so that ``I`` masks never exceed ``ρA``; τ = 95 and
    ρ = 0.5 give I = 10.

    Raises:
        AttrbenchError: ``tau`` outside (0, 100), ``rho`` outside (0, 1), or ``I < 1``.
    """
    check_rho(rho)
    masked_count(tau, 10**9)  # validates tau
    iterations = math.floor(rho / (1.0 - tau / 100.0) + 1e-9)
    if iterations < 1:
        raise AttrbenchError(
            f"rho={rho} allows less than one mask of {100 - tau:g}% (tau={tau}); raise rho to at "
            f"least {1 - tau / 100:g} or raise tau.")
    return iterations


def check_rho(rho: float) -> None:
    """Raise :class:`AttrbenchError` unless ``0 < rho < 1`` (IteROAR Sec. 3)."""
    if not 0.0 < rho < 1.0:
        raise AttrbenchError(f"rho must lie strictly between 0 and 1, got {rho}.")


def check_budget(iterations: int, tau: float, rho: float, area: int) -> int:
    """Refuse an iteration count whose masks could cover more than ``ρA`` (IteROAR Sec. 3).

    Args:
        iterations: requested ``I`` (>= 1).
        tau: percentile per iteration.
        rho: largest fraction of the area that may be masked in total.
        area: ``A``, pixels per sample.

    Returns:
        ``k``, the pixels removed per iteration.

    Raises:
        AttrbenchError: ``I · k > ρA`` (says the largest allowed ``I``), or bad ``tau``/``rho``.
    """
    check_rho(rho)
    k = masked_count(tau, area)
    if iterations < 1:
        raise AttrbenchError(f"iterations must be >= 1, got {iterations}.")
    if iterations * k > rho * area + 1e-9:
        raise AttrbenchError(
            f"{iterations} iterations of {k} pixels mask up to {iterations * k} of {area} pixels, "
            f"more than rho*A = {rho * area:g}; use at most {math.floor(rho * area / k)} "
            "iterations or raise rho.")
    return k


def _check_sequence(masks: torch.Tensor) -> torch.Tensor:
    if masks.dtype != torch.bool or masks.dim() < 3:
        raise AttrbenchError(
            f"masks must be a bool (T, B, ...) removal-mask sequence, got {masks.dtype} "
            f"{tuple(masks.shape)}.")
    return masks.reshape(masks.shape[0], masks.shape[1], -1)


def consecutive_overlap(masks: torch.Tensor) -> torch.Tensor:
    """Eq. (1) per pair and sample: ``‖m̄_{i,j} ⊙ m̄_{i+1,j}‖₀``.

    Args:
        masks: bool ``(T, B, *S)`` removal masks, ``T >= 2``.

    Returns:
        int64 ``(T-1, B)`` pixel counts.
    """
    flat = _check_sequence(masks)
    return (flat[1:] & flat[:-1]).sum(-1)


def accumulated_overlap(masks: torch.Tensor) -> torch.Tensor:
    """Eq. (2) per step and sample: ``‖(Σ_{ι≤i} m̄_{ι,j}) ⊙ m̄_{i+1,j}‖₀``.

    The sum of binary masks is non-zero exactly on their union, so this counts the pixels of mask
    ``i+1`` that any earlier mask already occluded.

    Args:
        masks: bool ``(T, B, *S)``, ``T >= 2``.

    Returns:
        int64 ``(T-1, B)`` pixel counts.
    """
    flat = _check_sequence(masks)
    union = torch.cummax(flat.to(torch.uint8), dim=0).values.bool()  # union of masks 0..i
    return (union[:-1] & flat[1:]).sum(-1)


def pairwise_overlap(masks: torch.Tensor) -> torch.Tensor:
    """Eq. (3) as a matrix: ``O[i, n] = E_j ‖m̄_{i,j} ⊙ m̄_{n,j}‖₀`` (diagonal = mean mask size).

    Args:
        masks: bool ``(T, B, *S)``.

    Returns:
        float64 ``(T, T)`` mean pixel counts over the ``B`` samples.
    """
    flat = _check_sequence(masks).to(torch.float64)
    return torch.einsum("ibp,nbp->in", flat, flat) / flat.shape[1]


def cumulative_masked_area(masks: torch.Tensor) -> torch.Tensor:
    """Eq. (4): ``CMA_j = ‖Σ_i m̄_{i,j}‖₀``, the size of the union of a sample's masks.

    Args:
        masks: bool ``(T, B, *S)``.

    Returns:
        int64 ``(B,)`` pixel counts.
    """
    return _check_sequence(masks).any(0).sum(-1)


@dataclass(frozen=True)
class RandomExpectations:
    """Expected metrics when each of ``T`` masks is an independent uniform random ``k``-subset.

    A pixel lies in one such mask with probability ``q = k/A`` independently of the other masks,
    so ``E[MMO] = A q²``, the union of ``n`` masks has ``A(1 - (1 - q)^n)`` pixels on average,
    ``E[MAMO] = mean_{i=0}^{T-2} A (1 - (1 - q)^{i+1}) q`` and ``E[CMA] = A (1 - (1 - q)^T)``.
    All values are pixel counts.
    """

    mmo: float
    mamo: float
    cma: float


def random_mask_expectations(k: int, area: int, steps: int) -> RandomExpectations:
    """Reference values of MMO, MAMO and CMA for ``steps`` random masks of ``k`` of ``area`` pixels.

    Raises:
        AttrbenchError: ``k`` outside 1..area or ``steps < 2``.
    """
    if not 1 <= k <= area or steps < 2:
        raise AttrbenchError(f"Need 1 <= k <= A and T >= 2, got k={k}, A={area}, T={steps}.")
    q = k / area
    mamo = sum(area * (1 - (1 - q) ** (i + 1)) * q for i in range(steps - 1)) / (steps - 1)
    return RandomExpectations(mmo=area * q * q, mamo=mamo, cma=area * (1 - (1 - q) ** steps))


def overlap_summary(masks: torch.Tensor, *, rho: float | None = None) -> dict[str, float]:
    """MMO, MAMO and CMA as counts and fractions, with their random-mask expectations.

    Args:
        masks: bool ``(T, B, *S)`` removal masks, ``T >= 2``; all masks of one size ``k`` for the
            random reference (the size of the first mask of the first sample is used).
        rho: the area budget; adds ``cma_frac_budget = CMA / (ρA)``.

    Returns:
        A flat dict of floats: ``mmo``, ``mamo``, ``cma`` (pixels); ``*_frac_mask`` (MMO and MAMO
        divided per pair by ``‖m̄_{i+1,j}‖₀``, then averaged: 1 = the whole new mask was already
        occluded); ``*_frac_area`` (divided by ``A``); ``random_mmo``, ``random_mamo``,
        ``random_cma`` (counts) and ``area``, ``k``, ``steps``.
    """
    flat = _check_sequence(masks)
    steps, _, area = flat.shape
    if steps < 2:
        raise AttrbenchError(f"Overlap metrics need at least 2 masks per sample, got {steps}.")
    sizes = flat[1:].sum(-1).clamp_min(1).to(torch.float64)
    mmo, mamo = consecutive_overlap(masks).double(), accumulated_overlap(masks).double()
    cma = cumulative_masked_area(masks).double()
    k = int(flat[0, 0].sum())
    out = {
        "mmo": float(mmo.mean()), "mmo_frac_mask": float((mmo / sizes).mean()),
        "mmo_frac_area": float(mmo.mean() / area),
        "mamo": float(mamo.mean()), "mamo_frac_mask": float((mamo / sizes).mean()),
        "mamo_frac_area": float(mamo.mean() / area),
        "cma": float(cma.mean()), "cma_frac_area": float(cma.mean() / area),
        "area": float(area), "k": float(k), "steps": float(steps),
    }
    if rho is not None:
        check_rho(rho)
        out["cma_frac_budget"] = out["cma"] / (rho * area)
    if k >= 1:
        ref = asdict(random_mask_expectations(k, area, steps))
        out.update({f"random_{name}": value for name, value in ref.items()})
    return out
