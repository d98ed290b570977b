"""Top-k pixel sets, their w-neighbourhoods and the diverse (NMS) top-k of attribution maps.

Kamath et al., "Rethinking Robustness of Model Attributions" (AAAI 2024, arXiv:2312.10534), build
their locality-aware robustness metrics from three set operations on a ``(B, H, W)`` map:

* the top-k set O of the k highest pixels;
* the w-neighbourhood N_w(S): the union of the (2w+1) x (2w+1) Chebyshev windows around the pixels
  of S ("w-LENS", w = 1, 2, 3 <-> 3x3, 5x5, 7x7);
* the diverse top-k ("top-k-div"): greedy non-maximum suppression that takes the highest pixel,
  removes its w-neighbourhood from the candidates and repeats.

All sets are boolean masks ``(B, H, W)``. Ties are broken deterministically: among equal scores the
pixel with the smaller flat index ``h * W + w`` ranks first (a stable descending sort; ``argmax``
returns the first maximum), so a result never depends on the sort implementation.

The authors' code builds neighbourhoods by flat-index arithmetic, which wraps windows across rows
at the image border and drops pixel 0 (``papers/NOTES.md`` §5.2). We do not copy that: N_w is a
proper 2-D dilation (max-pool with kernel 2w+1 and padding w; max-pool pads with -inf, so nothing
wraps and border windows are simply clipped) and pixel 0 is a pixel like any other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from attrbench.errors import AttrbenchError

#: Image sizes (pixels) and k used by the paper: MNIST 28x28 -> 100, Flower 128x128 -> 1000.
_K_ANCHORS = ((28 * 28, 100), (128 * 128, 1000))


def default_k(height: int, width: int) -> int:
    """The paper's k for an ``height x width`` map, interpolated for other sizes.

    Kamath et al. use k = 100 on MNIST (28x28) and k = 1000 on Flower (128x128) and ImageNet
    (227x227). We use k = 1000 for maps of at least 128x128 pixels and otherwise the power law
    through the two anchors, k = 100 * (H*W / 784) ** 0.757 (0.757 = log 10 / log(16384 / 784)),
    rounded and clipped to [1, H*W]: 32x32 (CIFAR) gives 122, 64x64 gives 379.

    Args:
        height, width: map size in pixels (>= 1).

    Returns:
        k, an integer in [1, H*W].
    """
    if height < 1 or width < 1:
        raise AttrbenchError(f"Map size must be at least 1x1 pixels, got {height}x{width}.")
    pixels = height * width
    (n0, k0), (n1, k1) = _K_ANCHORS
    if pixels >= n1:
        return k1
    exponent = math.log(k1 / k0) / math.log(n1 / n0)
    return max(1, min(pixels, round(k0 * (pixels / n0) ** exponent)))


def check_map_batch(maps: torch.Tensor, name: str = "maps") -> None:
    """Validate attribution maps ``(B, H, W)``: a real tensor, non-empty, without NaN.

    Raises:
        AttrbenchError: wrong type or rank, empty batch/map, complex/bool dtype, NaN values.
    """
    if not isinstance(maps, torch.Tensor):
        raise AttrbenchError(f"{name} must be a torch.Tensor (B, H, W); got {type(maps).__name__}.")
    if maps.dim() != 3:
        raise AttrbenchError(
            f"{name} must have shape (B, H, W); got {tuple(maps.shape)}. Reduce the channels "
            "first, e.g. with attribution_map(e) = sum_c |e|."
        )
    if maps.numel() == 0:
        raise AttrbenchError(f"{name} is empty (shape {tuple(maps.shape)}); pass B, H, W >= 1.")
    if maps.is_complex() or maps.dtype == torch.bool:
        raise AttrbenchError(f"{name} must be real-valued; got dtype {maps.dtype}.")
    if maps.is_floating_point() and bool(torch.isnan(maps).any()):
        raise AttrbenchError(
            f"{name} contain NaN; check the attribution method (NaN cannot be ranked)."
        )


def check_k(k: int, height: int, width: int) -> int:
    """Return ``k`` if it is an integer in [1, H*W]; otherwise raise AttrbenchError."""
    pixels = height * width
    if isinstance(k, bool) or not isinstance(k, int):
        raise AttrbenchError(f"k must be an integer, got {k!r}.")
    if k < 1:
        raise AttrbenchError(f"k must be >= 1, got {k}.")
    if k > pixels:
        raise AttrbenchError(
            f"k = {k} exceeds the {pixels} pixels of a {height}x{width} map; choose k <= {pixels} "
            f"(the default for this size is {default_k(height, width)})."
        )
    return k


def check_w(w: int) -> int:
    """Return the neighbourhood radius ``w`` if it is an integer >= 0; else raise AttrbenchError."""
    if isinstance(w, bool) or not isinstance(w, int):
        raise AttrbenchError(f"The neighbourhood radius w must be an integer, got {w!r}.")
    if w < 0:
        raise AttrbenchError(
            f"The neighbourhood radius w must be >= 0 (0 = the pixel itself, 1 = 3x3), got {w}."
        )
    return w


def topk_mask(maps: torch.Tensor, k: int) -> torch.Tensor:
    """The k highest pixels of each map (Kamath et al. Sec. 3; Ghorbani et al. 2019).

    Args:
        maps: attribution maps ``(B, H, W)``, higher = more important.
        k: set size, 1 <= k <= H*W.

    Returns:
        ``(B, H, W)`` bool, exactly k True per map. Ties: the smaller flat index wins.

    Raises:
        AttrbenchError: bad maps or k.
    """
    check_map_batch(maps)
    b, h, w = maps.shape
    check_k(k, h, w)
    flat = maps.reshape(b, -1)
    idx = torch.argsort(flat, dim=1, descending=True, stable=True)[:, :k]
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, idx, True)
    return mask.view(b, h, w)


def dilate(mask: torch.Tensor, w: int) -> torch.Tensor:
    """N_w(S): every pixel within Chebyshev distance w of a pixel of S (a 2-D binary dilation).

    Implemented as a max-pool with kernel ``2w+1``, stride 1 and padding ``w``: the window is
    clipped at the borders (no wrap across rows or columns) and pixel (0, 0) is included like any
    other (fixing the authors' flat-index neighbourhoods, NOTES §5.2).

    Args:
        mask: ``(B, H, W)`` bool pixel sets.
        w: radius >= 0 (0 returns a copy of ``mask``; 1 = 3x3 window; 2 = 5x5; 3 = 7x7).

    Returns:
        ``(B, H, W)`` bool.
    """
    check_w(w)
    if mask.dim() != 3 or mask.dtype != torch.bool:
        raise AttrbenchError(
            f"mask must be a bool tensor (B, H, W); got {mask.dtype} {tuple(mask.shape)}."
        )
    if w == 0:
        return mask.clone()
    pooled = F.max_pool2d(mask.unsqueeze(1).to(torch.float32), 2 * w + 1, stride=1, padding=w)
    return pooled.squeeze(1) > 0


def _window_offsets(w: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column offsets of the (2w+1)^2 window, each ((2w+1)^2,) int64."""
    r = torch.arange(-w, w + 1, device=device)
    dr, dc = torch.meshgrid(r, r, indexing="ij")
    return dr.reshape(-1), dc.reshape(-1)


def diverse_topk_mask(
    maps: torch.Tensor, k: int, w: int, candidates: int | None = None
) -> torch.Tensor:
    """Top-k-div: greedy non-maximum suppression on the ranked map (Kamath et al., "diversity").

    Repeat until k pixels are chosen or no candidate is left: choose the highest remaining
    candidate, then remove it and every pixel of its (2w+1) x (2w+1) window (clipped at the border)
    from the candidates. Chosen pixels are therefore pairwise more than w apart (Chebyshev).

    The loop runs over the k *selections* (each is one batched masked argmax over all pixels of all
    maps, and the suppression is a scatter of the (2w+1)^2 window), never over pixels; NMS is
    sequential by definition. The authors' ``topkDiv`` silently skips the second surviving pixel on
    each iteration (NOTES §5.2); this is the plain algorithm the paper describes.

    A map may run out of candidates before k pixels are chosen (e.g. 28x28 with w = 3 holds at most
    49 pixels pairwise > 3 apart): the set is then smaller than k; :func:`set_measures` divides by
    the size of the larger of the two sets it compares.

    Args:
        maps: ``(B, H, W)`` attribution maps, higher = more important.
        k: number of pixels to choose, 1 <= k <= H*W.
        w: suppression radius >= 0 (w = 0 gives the plain top-k).
        candidates: only the top ``candidates`` pixels may be chosen (the authors use 600 for
            MNIST, 6000 for Flower); None = all pixels.

    Returns:
        ``(B, H, W)`` bool, at most k True per map. Ties: the smaller flat index first.
    """
    check_map_batch(maps)
    b, h, wd = maps.shape
    check_k(k, h, wd)
    check_w(w)
    if w == 0 and candidates is None:
        return topk_mask(maps, k)
    flat = maps.reshape(b, -1).to(torch.float64)
    # Rank-transform so that "-inf = suppressed" never collides with real scores (maps may hold
    # -inf) and ties resolve to the smaller index: score = N - rank (rank 0 = best).
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    n = flat.shape[1]
    score = torch.empty_like(flat).scatter_(
        1, order, torch.arange(n, 0, -1, dtype=flat.dtype, device=flat.device).expand(b, n)
    )
    if candidates is not None:
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise AttrbenchError(f"candidates must be an integer >= 1 or None, got {candidates!r}.")
        score = score.masked_fill(score <= n - candidates, float("-inf"))
    dr, dc = _window_offsets(w, wd, maps.device)
    rows = torch.arange(b, device=maps.device)
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    for _ in range(k):
        best = score.argmax(dim=1)  # (B,)
        alive = torch.isfinite(score.gather(1, best.unsqueeze(1))).squeeze(1)
        if not bool(alive.any()):
            break
        chosen[rows[alive], best[alive]] = True
        r = best // wd
        c = best % wd
        nr = r.unsqueeze(1) + dr  # (B, (2w+1)^2)
        nc = c.unsqueeze(1) + dc
        inside = (nr >= 0) & (nr < h) & (nc >= 0) & (nc < wd) & alive.unsqueeze(1)
        # In-place assignment of the in-image window pixels only (duplicates all write -inf).
        score[rows.unsqueeze(1).expand_as(nr)[inside], (nr * wd + nc)[inside]] = float("-inf")
    return chosen.view(b, h, wd)
