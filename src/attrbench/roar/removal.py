"""Feature removal for ROAR / KAR and IteROAR: which features to remove, and what replaces them.

Ranking units (``papers/NOTES.md`` §3 and §6 row 20):

``"spatial"`` (default)
    A post-processed map ``(B, H, W)`` (the channel reduction of a variant, e.g. ``abs_sum``) ranks
    pixels; a removed pixel loses all its channels. This is the per-pixel reading of ROAR (Hooker
    et al. 2019) and of the PyTorch re-implementation ``SIAnalytics/roar``.
``"element"``
    The raw attribution ``(B, C, H, W)``, squared, ranks the ``C·H·W`` elements independently, as
    the authors' ROAR code does (``data_input.compute_feature_ranking``: square, min-max rescale,
    top ``int(t/100 · HWC)``; the rescale and the +1e-5 do not change the order, so we skip them).

Exactly ``floor(t/100 · A)`` features are removed per image (``A`` = pixels or elements) with the
deterministic tie rule of :func:`~attrbench.metrics.functional.overlap.top_fraction_masks` (higher
score first, then lower flat index). ROAR removes the top ``t`` %; KAR ("keep and retrain")
removes the *lowest* ``t`` % and keeps the rest.

Fills (values in the model's input space, i.e. after normalisation):

``"mean"``          the per-channel mean of the (unmodified) training split (ROAR code).
``"zero"``          0, IteROAR's ``x ⊙ m`` (mid-gray for inputs normalised to [-1, 1]).
``"removed_mean"``  per image and channel, the mean of the removed values (IteROAR Sec. 4.4
                    "the mean value of the occluded pixels"; per channel, NOTES §6 row 21).
"""

from __future__ import annotations

import torch

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import top_fraction_masks

FILLS: tuple[str, ...] = ("mean", "zero", "removed_mean")
UNITS: tuple[str, ...] = ("spatial", "element")


def check_choice(kind: str, value: str, valid: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``valid``; else raise a one-line :class:`AttrbenchError`."""
    if value not in valid:
        raise AttrbenchError(f"Unknown {kind} {value!r}; use one of: {', '.join(valid)}.")
    return value


def check_thresholds(thresholds: tuple[float, ...] | list[float]) -> tuple[float, ...]:
    """Validate ROAR thresholds ``t`` (percent removed): each in [0, 100), no duplicates."""
    out = tuple(float(t) for t in thresholds)
    if not out:
        raise AttrbenchError("Give at least one threshold, e.g. --thresholds 10,30,50,70,90.")
    bad = [t for t in out if not 0.0 <= t < 100.0]
    if bad:
        raise AttrbenchError(f"Thresholds are percentages in [0, 100); got {bad}.")
    if len(set(out)) != len(out):
        raise AttrbenchError(f"Thresholds must be distinct; got {list(out)}.")
    return out


def channel_means(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean of a dataset ``x`` ``(N, C, H, W)`` -> ``(C,)`` float64 (input space)."""
    return x.double().mean(dim=(0, 2, 3))


def element_scores(attributions: torch.Tensor) -> torch.Tensor:
    """Per-element ranking scores of the ROAR code: the squared raw attribution ``(B, C, H, W)``."""
    return attributions.double() ** 2


def removal_masks(scores: torch.Tensor, percent: float, *, keep: bool = False) -> torch.Tensor:
    """Which features to remove at threshold ``percent`` (ROAR) or to keep (KAR).

    Args:
        scores: ``(B, H, W)`` spatial or ``(B, C, H, W)`` per-element scores (higher = more
            important).
        percent: ``t`` in [0, 100): ``floor(t/100 · A)`` features are removed per image
            (``t = 0`` removes nothing).
        keep: KAR: remove the ``t`` % *least* important features instead of the most important.

    Returns:
        bool tensor shaped like ``scores``, ``True`` = removed.

    Raises:
        AttrbenchError: ``percent`` out of range or scores of the wrong rank.
    """
    check_thresholds([percent])
    if scores.dim() not in (3, 4):
        raise AttrbenchError(
            f"scores must be (B, H, W) or (B, C, H, W), got shape {tuple(scores.shape)}.")
    removed_count = int(percent / 100.0 * scores[0].numel() + 1e-9)
    if removed_count == 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    # Removing the top t% is thresholding at the (100 - t)-th percentile; KAR ranks the negation.
    ranked = -scores if keep else scores
    return top_fraction_masks(ranked, 100.0 - percent, sample_dims=scores.dim() - 1)


def fill_removed(x: torch.Tensor, removed: torch.Tensor, fill: str, *,
                 dataset_mean: torch.Tensor | None = None) -> torch.Tensor:
    """Replace the removed features of ``x`` by the fill value.

    Args:
        x: images ``(B, C, H, W)`` in the model's input space.
        removed: bool ``(B, H, W)`` (spatial: all channels of the pixel) or ``(B, C, H, W)``.
        fill: ``"mean"``, ``"zero"`` or ``"removed_mean"`` (module docstring).
        dataset_mean: ``(C,)`` per-channel training-split mean; required for ``"mean"``.

    Returns:
        A new tensor ``(B, C, H, W)``, dtype of ``x``; untouched features keep their exact values.

    Raises:
        AttrbenchError: unknown fill, missing ``dataset_mean``, or shapes that do not match.
    """
    check_choice("fill", fill, FILLS)
    mask = removed.unsqueeze(1) if removed.dim() == 3 else removed
    if mask.dtype != torch.bool or x.dim() != 4 or mask.shape[0] != x.shape[0] or \
            mask.shape[2:] != x.shape[2:] or mask.shape[1] not in (1, x.shape[1]):
        raise AttrbenchError(
            f"Removal mask {tuple(removed.shape)} {removed.dtype} does not fit images "
            f"{tuple(x.shape)}; give bool (B, H, W) or (B, C, H, W).")
    mask = mask.expand_as(x)
    if fill == "zero":
        value = torch.zeros((), dtype=x.dtype, device=x.device)
    elif fill == "mean":
        if dataset_mean is None or dataset_mean.numel() != x.shape[1]:
            raise AttrbenchError(
                f"fill 'mean' needs the per-channel training mean ({x.shape[1]} values).")
        value = dataset_mean.to(x.dtype).to(x.device).view(1, -1, 1, 1)
    else:
        weights = mask.to(torch.float64)
        counts = weights.sum(dim=(2, 3)).clamp_min(1.0)
        means = (x.double() * weights).sum(dim=(2, 3)) / counts
        value = means.to(x.dtype)[..., None, None]
    return torch.where(mask, value, x)
