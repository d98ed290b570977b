"""Boundary checks for explainers: images, targets and what the model produces.

All failures are one-line :class:`~attrbench.errors.AttrbenchError` messages that name the offending
images by their index in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from attrbench.errors import AttrbenchError

_MAX_LISTED = 10


def _indices(mask: torch.Tensor) -> str:
    """Comma-separated indices where the 1-D bool ``mask`` is true (the first few, then a count)."""
    idx = mask.nonzero().flatten().tolist()
    shown = ", ".join(str(i) for i in idx[:_MAX_LISTED])
    more = f" and {len(idx) - _MAX_LISTED} more" if len(idx) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def bad_rows(t: torch.Tensor) -> torch.Tensor:
    """(B,) bool: rows of ``t`` (any shape with a leading batch axis) holding NaN or Inf."""
    return ~torch.isfinite(t.detach()).flatten(1).all(dim=1)


def check_images(x: object, model: nn.Module) -> torch.Tensor:
    """Check a batch of images before attribution.

    Args:
        x: images (B, C, H, W), floating point, in the model's input space.
        model: the classifier (its parameters fix the expected device).

    Returns:
        ``x`` detached.

    Raises:
        AttrbenchError: not a 4-D floating tensor, NaN/Inf in some images, or on another device.
    """
    if not isinstance(x, torch.Tensor):
        raise AttrbenchError(
            f"Images must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}."
        )
    if x.ndim != 4 or x.shape[0] == 0:
        raise AttrbenchError(
            f"Images must have shape (B, C, H, W) with B >= 1, got {tuple(x.shape)}."
        )
    if not x.is_floating_point():
        raise AttrbenchError(
            f"Images must be floating point (normalised as the model expects), got {x.dtype}."
        )
    bad = bad_rows(x)
    if bool(bad.any()):
        raise AttrbenchError(
            f"Input images {_indices(bad)} contain NaN or Inf; fix or drop them before explaining."
        )
    param = next(iter(model.parameters()), None)
    if param is not None and param.device != x.device:
        raise AttrbenchError(
            f"Images are on {x.device} but the model is on {param.device}; "
            "move both to the same device."
        )
    return x.detach()


def check_logits(logits: object, batch: int, what: str = "the input images") -> torch.Tensor:
    """Check the model's output on ``batch`` images: shape (B, K) and finite.

    Raises:
        AttrbenchError: wrong shape, or NaN/Inf logits (names the images).
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != batch:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise AttrbenchError(
            f"The model must return logits of shape (B, num_classes) = ({batch}, K), got {shape}."
        )
    bad = bad_rows(logits)
    if bool(bad.any()):
        raise AttrbenchError(
            f"The model produced NaN or Inf logits for images {_indices(bad)} on {what}."
        )
    return logits


def resolve_targets(
    target: torch.Tensor | Sequence[int] | None, logits: torch.Tensor
) -> torch.Tensor:
    """The class whose logit is explained, per image.

    Args:
        target: (B,) integer classes, or None for the class the model predicts on the unperturbed
            image (argmax of the pre-softmax logits; FPA paper App. B, NOTES §1.4).
        logits: (B, K) model output on the unperturbed images.

    Returns:
        (B,) int64 on the logits' device.

    Raises:
        AttrbenchError: wrong shape, non-integer dtype or a class outside [0, K).
    """
    batch, classes = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    t = target if isinstance(target, torch.Tensor) else torch.as_tensor(list(target))
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        raise AttrbenchError(f"Targets must be integer class indices (int64), got dtype {t.dtype}.")
    if t.shape != (batch,):
        raise AttrbenchError(f"Targets must have shape (B,) = ({batch},), got {tuple(t.shape)}.")
    t = t.to(device=logits.device, dtype=torch.int64)
    out = (t < 0) | (t >= classes)
    if bool(out.any()):
        raise AttrbenchError(
            f"Targets {_indices(out)} are outside the model's classes [0, {classes - 1}]: "
            f"got {t[out].tolist()[:_MAX_LISTED]}."
        )
    return t


def check_attributions(e: torch.Tensor, method: str) -> torch.Tensor:
    """Raise if the method produced NaN/Inf scores (e.g. the model's gradients overflowed)."""
    bad = bad_rows(e)
    if bool(bad.any()):
        raise AttrbenchError(
            f"{method} produced NaN or Inf attributions for images {_indices(bad)}; the model's "
            "gradients are not finite there."
        )
    return e
