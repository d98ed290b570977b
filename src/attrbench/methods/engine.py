"""The batched gradient engine behind IG, SmoothGrad, SQ-SG, VarGrad and IG-SG.

Why our own engine and not Captum's ``IntegratedGradients`` / ``NoiseTunnel``: Captum
materialises all B x m interpolated images and runs them in one pass unless
``internal_batch_size`` is given, which runs out of memory at the paper's m = 200 (FPA App. B);
with ``internal_batch_size`` it batches per call but keeps the full expanded input and gradient
tensors alive, and NoiseTunnel wraps IG in a second, separate expansion. Here every (image, point)
pair (point = IG step, SG sample, or sample x step) is one *item*; items are enumerated lazily,
built chunk by chunk (``max_batch`` items per forward/backward pass, the memory bound), and their
weighted gradients are folded into per-image float64 accumulators with ``index_add_``. Memory is
O(max_batch) model inputs plus O(B) accumulators, independent of m and n; the work is the floor of
B x points forward+backward passes plus one cheap forward for the target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods.validate import _indices, bad_rows
from attrbench.runtime import match_memory_format

#: Default number of model inputs per forward/backward pass.
DEFAULT_MAX_BATCH = 128

#: ``build(image (k,), point (k,)) -> (inputs (k,C,H,W), coef)``; ``coef`` is (k,) or (k,C,H,W) and
#: multiplies the gradient of each item before it is summed into its image's accumulator.
BuildFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def forward_logits(model: nn.Module, x: torch.Tensor, max_batch: int) -> torch.Tensor:
    """Logits (B, K) of ``model`` on ``x`` (B, C, H, W), no gradients, in chunks of max_batch."""
    with torch.no_grad():
        return torch.cat([model(chunk) for chunk in torch.split(x, max_batch)])


def captum_in_chunks(
    attr: Any, x: torch.Tensor, target: torch.Tensor, max_batch: int, **kwargs: Any
) -> torch.Tensor:
    """Run a Captum attribution object on ``x`` (B,C,H,W) ``max_batch`` images at a time.

    Inputs are passed as fresh leaves that already require grad (Captum would otherwise warn).
    """
    outs = [
        attr.attribute(xc.clone().requires_grad_(True), target=tc, **kwargs)
        for xc, tc in zip(torch.split(x, max_batch), torch.split(target, max_batch))
    ]
    return torch.cat(outs)


def _expand(coef: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return coef.view(-1, *([1] * (like.ndim - 1))) if coef.ndim == 1 else coef


def accumulate_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    points: int,
    build: BuildFn,
    max_batch: int,
    *,
    squares: bool = False,
    what: str = "perturbed inputs",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weighted sums of input gradients over ``points`` model inputs per image.

    For image b with items p = 0..points-1 built as ``inputs_bp, coef_bp = build(b, p)`` and
    g_bp = d logit_{target_b}(inputs_bp) / d inputs_bp, returns

        first[b]  = sum_p coef_bp * g_bp
        second[b] = sum_p coef_bp * g_bp ** 2        (only when ``squares``)

    Args:
        model: classifier in eval mode with frozen parameters (see ``attribution_mode``).
        x: images (B, C, H, W); only their count, shape and dtype are used here.
        target: (B,) int64 classes whose pre-softmax logit is differentiated.
        points: items per image (IG steps m, SG samples n, or n x m).
        build: constructs a chunk of items, see :data:`BuildFn`.
        max_batch: items per forward/backward pass.
        squares: also accumulate squared gradients (SQ-SG, VarGrad).
        what: how the items are called in error messages.

    Returns:
        ``(first, second)`` as float64 tensors (B, C, H, W); ``second`` is None unless ``squares``.

    Raises:
        AttrbenchError: the model returns NaN/Inf logits on some item (names the images).
    """
    batch = x.shape[0]
    first = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
    second = torch.zeros_like(first) if squares else None
    total = batch * points
    for start in range(0, total, max_batch):
        items = torch.arange(start, min(total, start + max_batch), device=x.device)
        image, point = items // points, items % points
        inputs, coef = build(image, point)
        inputs = match_memory_format(model, inputs).detach().requires_grad_(True)
        logits = model(inputs)
        bad = bad_rows(logits)
        if bool(bad.any()):
            hit = torch.zeros(batch, dtype=torch.bool, device=x.device)
            hit[image[bad]] = True
            raise AttrbenchError(
                f"The model produced NaN or Inf logits for images {_indices(hit)} on {what}."
            )
        selected = logits.gather(1, target[image].unsqueeze(1)).sum()
        (grad,) = torch.autograd.grad(selected, inputs)
        coef = _expand(coef, grad)
        first.index_add_(0, image, (coef * grad).to(torch.float64))
        if second is not None:
            second.index_add_(0, image, (coef * grad.square()).to(torch.float64))
    return first, second
