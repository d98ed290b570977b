"""Attributional robustness measures: how much an attribution map changes under a perturbation.

Kamath et al., "Rethinking Robustness of Model Attributions" (AAAI 2024, arXiv:2312.10534), and
Ghorbani et al., "Interpretation of Neural Networks is Fragile" (AAAI 2019). Every function compares
the map of the original input with the map of the perturbed input, both ``(B, H, W)`` (reduce raw
attributions with :func:`attribution_map`, sum_c |e|, as the authors do), and returns one value per
image ``(B,)`` in [0, 1] (set measures) or [-1, 1] (rank correlations); 1 = unchanged.

With O, P the top-k sets of the original / perturbed map (:mod:`.topk`) and N_w the w-neighbourhood:

====================================  ===============================================
``topk_intersection``                 |O ∩ P| / k
``lens_recall_w{w}``                  |N_w(O) ∩ P| / k   (w-LENS-recall@k)
``lens_precision_w{w}``               |O ∩ N_w(P)| / k   (w-LENS-precision@k)
``topk_div_intersection_w{w}``        |D_O ∩ D_P| / k    (D = diverse top-k with radius w)
``lens_recall_div_w{w}``              |N_w(D_O) ∩ D_P| / k
``lens_precision_div_w{w}``           |D_O ∩ N_w(D_P)| / k
``spearman``, ``kendall``             rank correlation of all H*W pixels
====================================  ===============================================

Names of the LENS measures follow the authors' code (NOTES §5.2). Both LENS measures are >= the
plain intersection (S ⊆ N_w(S)) and <= 1 (the counted set is a subset of a k-set). For diverse
sets that hold fewer than k pixels (the map ran out of candidates) the denominator is the size of
the larger of the two sets, so identical maps still give 1. The paper names LENS-Spearman and
LENS-Kendall but the authors' code does not implement them and their definition is not available
to us, so they are not offered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.topk import (
    check_k,
    check_map_batch,
    check_w,
    default_k,
    dilate,
    diverse_topk_mask,
    topk_mask,
)

#: The neighbourhood radii of the paper (3x3, 5x5, 7x7 windows).
DEFAULT_WINDOWS: tuple[int, ...] = (1, 2, 3)


def attribution_map(attributions: torch.Tensor) -> torch.Tensor:
    """Channel reduction used by Ghorbani et al. and Kamath et al.: sum_c |e|.

    Args:
        attributions: raw attributions ``(B, C, H, W)``.

    Returns:
        ``(B, H, W)`` non-negative maps (the authors further normalise to sum H*W, which changes no
        ranking and so none of the measures here).
    """
    if not isinstance(attributions, torch.Tensor) or attributions.dim() != 4:
        shape = tuple(attributions.shape) if isinstance(attributions, torch.Tensor) else None
        raise AttrbenchError(f"attributions must have shape (B, C, H, W); got {shape}.")
    return attributions.abs().sum(dim=1)


def _check_pair(original: torch.Tensor, perturbed: torch.Tensor) -> None:
    check_map_batch(original, "original maps")
    check_map_batch(perturbed, "perturbed maps")
    if original.shape != perturbed.shape:
        raise AttrbenchError(
            f"original and perturbed maps must have the same shape (B, H, W); got "
            f"{tuple(original.shape)} and {tuple(perturbed.shape)}."
        )


def _count(mask: torch.Tensor) -> torch.Tensor:
    return mask.flatten(1).sum(dim=1).to(torch.float64)


def set_measures(
    o: torch.Tensor, p: torch.Tensor, w: int, denominator: torch.Tensor | int
) -> dict[str, torch.Tensor]:
    """Intersection and both LENS measures of two pixel sets.

    Args:
        o, p: ``(B, H, W)`` bool sets of the original and perturbed maps.
        w: LENS radius >= 0.
        denominator: k, or ``(B,)`` per-image set sizes.

    Returns:
        ``{"intersection", "recall", "precision"}``, each ``(B,)`` float64.
    """
    check_w(w)
    den = torch.as_tensor(denominator, dtype=torch.float64, device=o.device)
    return {
        "intersection": _count(o & p) / den,
        "recall": _count(dilate(o, w) & p) / den,
        "precision": _count(o & dilate(p, w)) / den,
    }


def topk_intersection(
    original: torch.Tensor, perturbed: torch.Tensor, k: int | None = None
) -> torch.Tensor:
    """|O ∩ P| / k, the top-k intersection of Ghorbani et al. (2019). Returns ``(B,)`` float64."""
    _check_pair(original, perturbed)
    k = default_k(*original.shape[1:]) if k is None else check_k(k, *original.shape[1:])
    return _count(topk_mask(original, k) & topk_mask(perturbed, k)) / k


def lens_recall(
    original: torch.Tensor, perturbed: torch.Tensor, k: int | None = None, w: int = 1
) -> torch.Tensor:
    """w-LENS-recall@k = |N_w(O) ∩ P| / k (Kamath et al.). Returns ``(B,)`` float64."""
    _check_pair(original, perturbed)
    k = default_k(*original.shape[1:]) if k is None else check_k(k, *original.shape[1:])
    return set_measures(topk_mask(original, k), topk_mask(perturbed, k), w, k)["recall"]


def lens_precision(
    original: torch.Tensor, perturbed: torch.Tensor, k: int | None = None, w: int = 1
) -> torch.Tensor:
    """w-LENS-precision@k = |O ∩ N_w(P)| / k (Kamath et al.). Returns ``(B,)`` float64."""
    _check_pair(original, perturbed)
    k = default_k(*original.shape[1:]) if k is None else check_k(k, *original.shape[1:])
    return set_measures(topk_mask(original, k), topk_mask(perturbed, k), w, k)["precision"]


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of each row with ties given their average rank (``scipy.stats.rankdata``).

    Batched with ``searchsorted``: the average rank of v is (#{< v} + #{<= v} + 1) / 2.

    Args:
        values: ``(B, N)``.

    Returns:
        ``(B, N)`` float64 ranks.
    """
    v = values.to(torch.float64).contiguous()
    ordered = torch.sort(v, dim=1).values
    less = torch.searchsorted(ordered, v, side="left")
    less_equal = torch.searchsorted(ordered, v, side="right")
    return (less + less_equal + 1).to(torch.float64) / 2


def spearman(original: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of all pixels of each map pair (Ghorbani et al. 2019).

    Pearson correlation of the average ranks (equal to ``scipy.stats.spearmanr``). The correlation
    of a constant map is undefined (SciPy returns NaN); we return 1.0 for two constant maps and 0.0
    for a constant map paired with a non-constant one, so that values stay in [-1, 1] and identical
    maps always give 1.

    Returns:
        ``(B,)`` float64 in [-1, 1].
    """
    _check_pair(original, perturbed)
    ra = average_ranks(original.flatten(1))
    rb = average_ranks(perturbed.flatten(1))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    num = (ra * rb).sum(dim=1)
    den = torch.sqrt(ra.square().sum(dim=1) * rb.square().sum(dim=1))
    rho = torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))
    both_constant = (ra.abs().sum(dim=1) == 0) & (rb.abs().sum(dim=1) == 0)
    return torch.where(both_constant, torch.ones_like(rho), rho).clamp(-1.0, 1.0)


def kendall(original: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """Kendall's tau-b of all pixels of each map pair (Ghorbani et al. 2019; the attack criterion
    of the authors' configs).

    Computed per image with ``scipy.stats.kendalltau`` (Knight's O(N log N) algorithm): a batched
    torch version over all N^2/2 pixel pairs would need 134M pairs per 128x128 image. Constant maps
    follow :func:`spearman` (1.0 for two constant maps, 0.0 for one).

    Returns:
        ``(B,)`` float64 in [-1, 1], on the device of the inputs.
    """
    _check_pair(original, perturbed)
    a = original.detach().flatten(1).to(torch.float64).cpu().numpy()
    b = perturbed.detach().flatten(1).to(torch.float64).cpu().numpy()
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):  # one call per image, not per pixel
        const_a, const_b = bool(np.all(a[i] == a[i, 0])), bool(np.all(b[i] == b[i, 0]))
        if const_a or const_b:
            out[i] = 1.0 if const_a and const_b else 0.0
        else:
            out[i] = stats.kendalltau(a[i], b[i]).statistic
    return torch.as_tensor(out, dtype=torch.float64, device=original.device).clamp(-1.0, 1.0)


def measure_names(windows: Sequence[int] = DEFAULT_WINDOWS, *, diverse: bool = True,
                  rank: bool = True) -> list[str]:
    """Names of the measures :func:`robustness_measures` returns, in a fixed order."""
    names = ["topk_intersection"]
    names += [f"lens_{kind}_w{w}" for w in windows for kind in ("recall", "precision")]
    if diverse:
        names += [f"{kind}_w{w}" for w in windows
                  for kind in ("topk_div_intersection", "lens_recall_div", "lens_precision_div")]
    if rank:
        names += ["spearman", "kendall"]
    return names


def robustness_measures(
    original: torch.Tensor,
    perturbed: torch.Tensor,
    k: int | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    *,
    diverse: bool = True,
    rank: bool = True,
    candidates: int | None = None,
) -> dict[str, torch.Tensor]:
    """Every measure of Kamath et al. (and Ghorbani et al.'s rank correlations) for map pairs.

    Args:
        original: maps of the original inputs ``(B, H, W)``.
        perturbed: maps of the perturbed inputs ``(B, H, W)``.
        k: top-k size; None = :func:`~.topk.default_k` (100 on 28x28, 1000 on >= 128x128).
        windows: LENS / NMS radii w (>= 0); default (1, 2, 3).
        diverse: also compute the top-k-div measures (one NMS per map and radius).
        rank: also compute Spearman and Kendall correlations.
        candidates: NMS candidate limit, see :func:`~.topk.diverse_topk_mask`.

    Returns:
        ``{name: (B,) float64}`` with the names of :func:`measure_names`.

    Raises:
        AttrbenchError: shapes differ, NaN maps, k outside [1, H*W], w < 0.
    """
    _check_pair(original, perturbed)
    h, w_ = original.shape[1:]
    k = default_k(h, w_) if k is None else check_k(k, h, w_)
    windows = tuple(check_w(w) for w in windows)
    o, p = topk_mask(original, k), topk_mask(perturbed, k)
    out: dict[str, torch.Tensor] = {"topk_intersection": _count(o & p) / k}
    for w in windows:
        m = set_measures(o, p, w, k)
        out[f"lens_recall_w{w}"] = m["recall"]
        out[f"lens_precision_w{w}"] = m["precision"]
    if diverse:
        for w in windows:
            do = diverse_topk_mask(original, k, w, candidates)
            dp = diverse_topk_mask(perturbed, k, w, candidates)
            den = torch.maximum(_count(do), _count(dp))
            m = set_measures(do, dp, w, den)
            out[f"topk_div_intersection_w{w}"] = m["intersection"]
            out[f"lens_recall_div_w{w}"] = m["recall"]
            out[f"lens_precision_div_w{w}"] = m["precision"]
    if rank:
        out["spearman"] = spearman(original, perturbed)
        out["kendall"] = kendall(original, perturbed)
    return {name: out[name] for name in measure_names(windows, diverse=diverse, rank=rank)}
