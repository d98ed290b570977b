"""Pixel rankings for perturbation curves: which pixel is masked first, second, ...

A post-processed importance map ``(B, H, W)`` is turned into a permutation of its ``H*W`` pixels.
*Most important first* (MIF) goes from the highest score to the lowest, *least important first*
(LIF) the other way round (FPA paper, Sec. 3 "Fidelity": for signed maps MIF runs from the highest
positive to the lowest negative score and LIF reversely).

Ties (equal scores) need a rule; two are offered:

``"random"`` (default)
    A stable sort on the score with a seeded random tie-break: tied pixels are visited in a random
    order drawn from a ``torch.Generator``. MIF and LIF computed in one call share the same random
    key, so tied pixels keep the same relative order in both curves; a constant map (all ties)
    therefore gives identical MIF and LIF curves and a fidelity of exactly 0, as an uninformative
    map should.

``"reference"``
    The authors' code (``perturb.ipynb``, see ``papers/NOTES.md`` §1.6): LIF is an ascending
    ``np.argsort`` of the flattened map and MIF is its exact reverse. NumPy's default sort is an
    unstable introsort, so the authors' order among ties is implementation-defined; we define ours
    as a *stable* ascending argsort (identical to ``np.argsort(kind="stable")``, and to the authors'
    ``np.argsort`` whenever the map has no ties, e.g. float64 IG maps). MIF = reversed LIF, ties
    included, so tied pixels appear in opposite orders in the two curves.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import torch

from attrbench.errors import AttrbenchError

Order = Literal["mif", "lif"]
TieBreak = Literal["random", "reference"]

ORDERS: tuple[str, ...] = ("mif", "lif")
TIE_BREAKS: tuple[str, ...] = ("random", "reference")
DEFAULT_TIE_SEED = 0
"""Seed of the tie-break generator used when none is passed, so the default run is reproducible."""


class ConstantMapWarning(UserWarning):
    """Some importance maps are constant: their pixel order is decided by the tie-break alone."""


def check_maps(maps: torch.Tensor) -> None:
    """Validate post-processed maps ``(B, H, W)``: 3-D, non-empty, floating or integer, no NaN.

    Warns with :class:`ConstantMapWarning` when a map is constant (every pixel tied).

    Raises:
        AttrbenchError: wrong rank, empty batch or NaN scores.
    """
    if not isinstance(maps, torch.Tensor):
        raise AttrbenchError(
            f"maps must be a torch.Tensor of shape (B, H, W); got {type(maps).__name__}."
        )
    if maps.dim() != 3:
        raise AttrbenchError(
            f"maps must have shape (B, H, W); got {tuple(maps.shape)}. Reduce the channels of the "
            "attributions first (e.g. post-processing 'sum' or 'abs_sum')."
        )
    if maps.shape[0] == 0:
        raise AttrbenchError("maps hold an empty batch (B = 0); pass at least one image.")
    if maps.shape[1] * maps.shape[2] == 0:
        raise AttrbenchError(f"maps have no pixels (shape {tuple(maps.shape)}); pass H, W >= 1.")
    if maps.is_complex() or maps.dtype == torch.bool:
        raise AttrbenchError(f"maps must be real-valued; got dtype {maps.dtype}.")
    flat = maps.reshape(maps.shape[0], -1)
    if maps.is_floating_point():
        nan_rows = torch.isnan(flat).any(dim=1)
        if bool(nan_rows.any()):
            bad = nan_rows.nonzero().flatten().tolist()
            raise AttrbenchError(
                f"maps contain NaN for images {bad[:10]}{' ...' if len(bad) > 10 else ''}; "
                "check the attribution method and post-processing (NaN scores cannot be ranked)."
            )
    constant = (flat == flat[:, :1]).all(dim=1)
    if flat.shape[1] > 1 and bool(constant.any()):
        n = int(constant.sum())
        warnings.warn(
            f"{n} of {flat.shape[0]} importance maps are constant: their pixel order is decided "
            "entirely by the tie-break (tie_break='reference' gives an arbitrary fixed order, "
            "'random' a seeded random one).",
            ConstantMapWarning,
            stacklevel=3,
        )


def _check_choice(value: str, valid: Sequence[str], what: str) -> None:
    if value not in valid:
        raise AttrbenchError(f"Unknown {what} {value!r}; use one of: {', '.join(valid)}.")


def random_tie_key(
    batch: int, num_pixels: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """A random permutation of the pixels of each image, used to break ties.

    Args:
        batch: number of maps B.
        num_pixels: H*W.
        generator: source of randomness; ``None`` uses a fresh generator seeded with
            :data:`DEFAULT_TIE_SEED`.
        device: device of the returned tensor.

    Returns:
        ``(B, H*W)`` int64, each row a permutation of ``0..H*W-1``.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(DEFAULT_TIE_SEED)
    # argsort of i.i.d. uniforms = a uniform random permutation per row, batched (torch.randperm is
    # one row at a time). Drawn on the generator's device so CPU generators work for CUDA maps.
    keys = torch.rand(batch, num_pixels, generator=generator, device=generator.device)
    return keys.argsort(dim=1).to(device)


def order_with_key(flat: torch.Tensor, order: str, perm: torch.Tensor | None) -> torch.Tensor:
    """Sort flattened maps ``(B, N)`` into pixel order; ``perm`` is a random tie key or ``None``.

    With ``perm`` (tie_break="random"): permute, stable-sort (descending for MIF), map back, so ties
    follow the random permutation. Without (tie_break="reference"): stable ascending argsort for
    LIF, its exact reverse for MIF.

    Returns:
        ``(B, N)`` int64 flat pixel indices, first-masked first.
    """
    if perm is None:
        ascending = torch.argsort(flat, dim=1, stable=True)
        return ascending if order == "lif" else ascending.flip(1)
    permuted = flat.gather(1, perm)
    idx = torch.argsort(permuted, dim=1, stable=True, descending=(order == "mif"))
    return perm.gather(1, idx)


def pixel_order(
    maps: torch.Tensor,
    order: str = "mif",
    tie_break: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The order in which pixels are masked, most (MIF) or least (LIF) important first.

    FPA paper, Sec. 3 "Fidelity"; tie rules as described in this module's docstring.

    Args:
        maps: importance maps ``(B, H, W)``, any real dtype, higher = more important.
        order: ``"mif"`` or ``"lif"``.
        tie_break: ``"random"`` (seeded stable tie-break, default) or ``"reference"`` (the authors'
            ascending argsort, MIF = reversed LIF).
        generator: randomness for ``"random"``; ``None`` uses seed :data:`DEFAULT_TIE_SEED`.
            Ignored by ``"reference"``.

    Returns:
        ``(B, H*W)`` int64: row ``b`` lists the flat pixel indices (``h*W + w``) of map ``b`` in
        masking order.

    Raises:
        AttrbenchError: bad shape, empty batch, NaN scores, unknown ``order``/``tie_break``.
    """
    _check_choice(order, ORDERS, "order")
    _check_choice(tie_break, TIE_BREAKS, "tie_break")
    check_maps(maps)
    flat = maps.reshape(maps.shape[0], -1)
    perm = (
        random_tie_key(flat.shape[0], flat.shape[1], generator, flat.device)
        if tie_break == "random"
        else None
    )
    return order_with_key(flat, order, perm)


def pixel_ranks(order_idx: torch.Tensor) -> torch.Tensor:
    """Invert a masking order: the rank (0 = masked first) of every pixel.

    Args:
        order_idx: ``(..., N)`` int64 permutations as returned by :func:`pixel_order`.

    Returns:
        ``(..., N)`` int64 with ``ranks[..., order_idx[..., k]] = k``; pixel ``p`` is masked at a
        step that masks ``n`` pixels iff ``ranks[..., p] < n``.
    """
    n = order_idx.shape[-1]
    positions = torch.arange(n, device=order_idx.device).expand_as(order_idx)
    return torch.empty_like(order_idx).scatter_(-1, order_idx, positions)
