"""Post-processing: raw attributions (B, C, H, W) -> per-pixel maps (B, H, W).

Signed versus unsigned is not a flag on every metric but a named step (DESIGN.md). A
post-processing is a ``|``-separated chain: exactly one *channel reduction* first, then any *map*
steps:

=================  ===========================================================  ==================
step               definition (per image, c = channel)                          paper name
=================  ===========================================================  ==================
``sum``            sum_c e                                                      IG_sum, SQ-SG_sum
``abs_sum``        sum_c |e|                                                    VG_abs, SG_abs
``input_sum``      sum_c x * e                                                  VG'_sum (prime)
``input_abs_sum``  sum_c |x * e|  (abs *after* the input product, NOTES §1.5)   VG'_abs
``positive_sum``   sum_c max(e, 0)  (BAM ``visualize_pos_attr``, NOTES §2.3)     BAM maps
``minmax_p99``     clip((m - min m) / (P99(m) - min m), 0, 1)  on (H, W) maps    BAM normalisation
=================  ===========================================================  ==================

``x`` is the image in the model's input space (FPA: normalised to [-1, 1], so x * e can flip signs).
FPA paper Sec. 3 and App. B; BAM code (NOTES §2.3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from attrbench.errors import AttrbenchError
from attrbench.registry import Registry


@dataclass(frozen=True)
class PostStep:
    """One named post-processing step.

    Attributes:
        name: registry key (``"abs_sum"``).
        kind: ``"reduce"`` ((B,C,H,W) -> (B,H,W), may use the input x) or ``"map"``
            ((B,H,W) -> (B,H,W)).
        fn: ``fn(e, x)`` for reductions, ``fn(m)`` for map steps.
        keeps_sign: the output can be negative when the raw attributions (or x) can.
        summary: one line for listings.
    """

    name: str
    kind: str
    fn: Callable[..., torch.Tensor]
    keeps_sign: bool
    summary: str


def minmax_p99(m: torch.Tensor) -> torch.Tensor:
    """Per image, map the minimum to 0 and the 99th percentile to 1, clipping to [0, 1] (BAM code).

    Args:
        m: maps (B, H, W).

    Returns:
        (B, H, W) in [0, 1]. The percentile interpolates linearly (``numpy.percentile``'s default).
        A map whose 99th percentile equals its minimum becomes 1 where it exceeds the minimum,
        else 0 (the limit of the formula).
    """
    flat = m.flatten(1)
    low = flat.amin(dim=1, keepdim=True)
    high = torch.quantile(flat.to(torch.float64), 0.99, dim=1, keepdim=True).to(m.dtype)
    span = high - low
    scaled = ((flat - low) / torch.where(span > 0, span, torch.ones_like(span))).clamp(0.0, 1.0)
    degenerate = (flat > low).to(m.dtype)
    return torch.where(span > 0, scaled, degenerate).view_as(m)


def channel_sum(e: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
    """``sum``: sum_c e, (B,C,H,W) -> (B,H,W)."""
    return e.sum(dim=1)


def abs_sum(e: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
    """``abs_sum``: sum_c |e|."""
    return e.abs().sum(dim=1)


def input_sum(e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``input_sum``: sum_c x * e (the paper's primed variants)."""
    return (x * e).sum(dim=1)


def input_abs_sum(e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``input_abs_sum``: sum_c |x * e| (abs after the product, as the authors' code)."""
    return (x * e).abs().sum(dim=1)


def positive_sum(e: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
    """``positive_sum``: sum_c max(e, 0) (BAM's ``visualize_pos_attr``)."""
    return e.clamp_min(0).sum(dim=1)


POSTPROCESS: Registry[PostStep] = Registry("post-processing step")

for _step in (
    PostStep("sum", "reduce", channel_sum, True, "signed channel sum (IG_sum, SQ-SG_sum)"),
    PostStep("abs_sum", "reduce", abs_sum, False, "sum of |e| over channels (unsigned)"),
    PostStep("input_sum", "reduce", input_sum, True, "x * e, then channel sum (primed, signed)"),
    PostStep("input_abs_sum", "reduce", input_abs_sum, False, "sum of |x * e| (primed, unsigned)"),
    PostStep("positive_sum", "reduce", positive_sum, False, "sum of max(e, 0) over channels (BAM)"),
    PostStep("minmax_p99", "map", minmax_p99, False, "min -> 0, P99 -> 1, clipped (BAM)"),
):
    POSTPROCESS.register(_step.name, _step)


def list_postprocess(kind: str | None = None) -> list[str]:
    """Names of the registered steps, optionally only ``"reduce"`` or ``"map"`` steps."""
    return [n for n in POSTPROCESS.names() if kind is None or POSTPROCESS.get(n).kind == kind]


def parse_steps(steps: str | Sequence[str]) -> tuple[str, ...]:
    """Validate a chain such as ``"positive_sum|minmax_p99"`` or ``["abs_sum"]``.

    Returns:
        The step names, in order.

    Raises:
        AttrbenchError: empty chain, unknown step, no or several channel reductions, or a map step
            before the reduction.
    """
    names = tuple(s.strip() for s in (steps.split("|") if isinstance(steps, str) else steps))
    if not names or not all(names):
        raise AttrbenchError(
            f"Empty post-processing step in {steps!r}; use e.g. 'sum', 'abs_sum' or "
            "'positive_sum|minmax_p99'."
        )
    kinds = [POSTPROCESS.get(n).kind for n in names]
    if kinds[0] != "reduce" or kinds.count("reduce") != 1:
        raise AttrbenchError(
            f"Post-processing {'|'.join(names)!r} must start with exactly one channel reduction "
            f"({', '.join(list_postprocess('reduce'))}), optionally followed by "
            f"{', '.join(list_postprocess('map'))}."
        )
    return names


def postprocess(
    e: torch.Tensor, x: torch.Tensor | None, steps: str | Sequence[str]
) -> torch.Tensor:
    """Apply a post-processing chain to raw attributions.

    Args:
        e: raw attributions (B, C, H, W).
        x: the explained images (B, C, H, W) in the model's input space (for ``input_*`` steps).
        steps: a chain, see :func:`parse_steps`.

    Returns:
        Maps (B, H, W), dtype of ``e``.

    Raises:
        AttrbenchError: a bad chain, wrong shapes, or ``x`` missing for an ``input_*`` step.
    """
    names = parse_steps(steps)
    if e.ndim != 4:
        raise AttrbenchError(f"Attributions must have shape (B, C, H, W), got {tuple(e.shape)}.")
    if names[0].startswith("input_"):
        if x is None:
            raise AttrbenchError(
                f"Post-processing {names[0]!r} multiplies by the input; pass the images x."
            )
        if x.shape != e.shape:
            raise AttrbenchError(
                f"Images {tuple(x.shape)} and attributions {tuple(e.shape)} must have the same "
                "shape."
            )
    out = POSTPROCESS.get(names[0]).fn(e, x)
    for name in names[1:]:
        out = POSTPROCESS.get(name).fn(out)
    return out


def keeps_sign(steps: str | Sequence[str]) -> bool:
    """Whether the chain's maps can be negative (False after abs, positive or minmax steps)."""
    return all(POSTPROCESS.get(n).keeps_sign for n in parse_steps(steps))


__all__ = [
    "POSTPROCESS",
    "PostStep",
    "keeps_sign",
    "list_postprocess",
    "minmax_p99",
    "parse_steps",
    "abs_sum",
    "channel_sum",
    "input_abs_sum",
    "input_sum",
    "positive_sum",
    "postprocess",
]
