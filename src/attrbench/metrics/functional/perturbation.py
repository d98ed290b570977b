"""Perturbation curves (pixel flipping): the logit of the predicted class as pixels are masked.

FPA paper (Brocki & Chung), Sec. 3 "Fidelity" and Appendix C; the authors' procedure is summarised
in ``papers/NOTES.md`` §1.6: rank the pixels of a post-processed map ``(H, W)``, mask the first
``n`` ranked pixels (all channels set to 0 in the model's input space) for ``n`` on a step
schedule, and record the pre-softmax logit of the class the model predicted on the unperturbed
image. Step 0 is the unperturbed image; MIF masks the most important pixels first, LIF the least
important first.

Departure from the authors' code (issue 11): their schedule ``arange(0, H*W, int(0.05*H*W))`` has
21 points only on some sizes (32x32, 224x224: last point 99.6 %) and 20 points ending at 95 % when
``H*W`` is a multiple of 20, yet they integrate over ``linspace(0, 100, 21)``. The default here is
21 points from 0 to 100 % masked for every ``H x W`` and the x-axis is the true masked fraction;
the authors' schedule is ``step=authors_step(H*W)`` and their axis ``x_axis="linspace"``.

The engine is batched across images *and* steps: every (order, step, image) triple is one row of a
flat job list, cut into forward passes of at most ``max_batch`` images. Masked inputs are built by
inverting the ranking once ("rank of each pixel") and broadcasting ``rank < count``, never by a loop
over pixels. MIF and LIF share their step 0 (one forward pass), and when the schedule ends with
every pixel masked, that input is the same constant image for every image and order, so it is
evaluated once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.ranking import (
    ORDERS,
    TIE_BREAKS,
    _check_choice,
    check_maps,
    order_with_key,
    pixel_order,
    pixel_ranks,
    random_tie_key,
)
from attrbench.runtime import match_memory_format

__all__ = [
    "Curves",
    "authors_step",
    "integration_axis",
    "perturbation_curves",
    "pixel_order",
    "pixel_ranks",
    "step_schedule",
]

DEFAULT_NUM_STEPS = 20
"""Steps after step 0 of the default schedule: 21 points, 0, 5, ..., 100 % of the pixels masked."""
DEFAULT_STEP_FRACTION = 0.05
"""The authors' step: ``int(0.05 * H * W)`` pixels per step (see :func:`authors_step`)."""
X_AXES: tuple[str, ...] = ("fraction", "linspace")


def authors_step(num_pixels: int) -> int:
    """The FPA authors' step, ``max(1, int(0.05 * num_pixels))`` pixels (NOTES §1.6).

    ``step_schedule(n, step=authors_step(n))`` is their ``arange(0, H*W, step)``: 21 points ending
    at 99.6 % on 32x32 (1020 of 1024) and 224x224 (50160 of 50176), but 20 points ending at 95 %
    whenever ``H*W`` is a multiple of 20 (40x40, 100x100, ...) and 25 points on 7x7, although
    their x-axis is always ``linspace(0, 100, 21)``. Offered for parity, not the default.
    """
    return max(1, int(DEFAULT_STEP_FRACTION * num_pixels))


def step_schedule(
    num_pixels: int, num_steps: int | None = None, step: int | None = None
) -> torch.Tensor:
    """How many pixels are masked at each point of a curve.

    Three ways to ask (at most one of ``num_steps`` / ``step``):

    * default: ``num_steps = 20``, i.e. 21 points from 0 to every pixel masked (0, 5, ..., 100 %)
      for every image size. The counts are ``floor(k * num_pixels / 20)``, within one pixel of
      ``k * 5 %``; integrate over their true fraction (:func:`integration_axis`). Images of fewer
      than 20 pixels get one pixel per step.
    * ``num_steps=S``: ``S + 1`` points evenly spread from 0 to every pixel masked,
      ``counts[k] = floor(k * num_pixels / S)``.
    * ``step``: ``arange(0, num_pixels, step)``, the authors' rule (with ``step =
      authors_step(num_pixels)``); it need not reach 100 %.

    Args:
        num_pixels: ``H * W``.
        num_steps: number of steps S after step 0; needs ``1 <= S <= num_pixels``.
        step: pixels per step; needs ``1 <= step <= num_pixels``.

    Returns:
        ``(S+1,)`` int64 counts of masked pixels, strictly increasing, ``counts[0] = 0``.

    Raises:
        AttrbenchError: both or invalid ``num_steps`` / ``step``.
    """
    if num_pixels < 1:
        raise AttrbenchError(f"num_pixels must be >= 1; got {num_pixels}.")
    if num_steps is not None and step is not None:
        raise AttrbenchError("Give either num_steps or step, not both.")
    if step is not None:
        if not 1 <= step <= num_pixels:
            raise AttrbenchError(
                f"step={step} pixels is impossible for an image of {num_pixels} pixels; "
                f"use 1 <= step <= {num_pixels}."
            )
        return torch.arange(0, num_pixels, step)
    if num_steps is None:
        num_steps = min(DEFAULT_NUM_STEPS, num_pixels)
    if not 1 <= num_steps <= num_pixels:
        raise AttrbenchError(
            f"num_steps={num_steps} is impossible for an image of {num_pixels} pixels; "
            f"use 1 <= num_steps <= {num_pixels}."
        )
    return torch.div(torch.arange(num_steps + 1) * num_pixels, num_steps, rounding_mode="floor")


def integration_axis(
    counts: torch.Tensor, num_pixels: int, x_axis: str = "fraction"
) -> torch.Tensor:
    """The x-axis (percent masked) a curve is plotted and integrated over.

    Args:
        counts: ``(S+1,)`` masked-pixel counts from :func:`step_schedule`.
        num_pixels: ``H * W``.
        x_axis: ``"fraction"`` (default) = ``100 * counts / num_pixels``, the true percentage
            masked; ``"linspace"`` = ``linspace(0, 100, S+1)``, what the authors integrate over
            whatever the counts (parity with their numbers on 32x32 and 224x224 with
            :func:`authors_step`; wrong where their schedule stops at 95 %).

    Returns:
        ``(S+1,)`` float64, percent.
    """
    _check_choice(x_axis, X_AXES, "x_axis")
    if x_axis == "linspace":
        return torch.linspace(0.0, 100.0, counts.numel(), dtype=torch.float64)
    return 100.0 * counts.to(torch.float64) / num_pixels


@dataclass(frozen=True)
class Curves:
    """MIF / LIF perturbation curves of a batch of images.

    Attributes:
        mif: ``(B, S+1)`` logits of the target class, most important first; ``None`` if not asked.
        lif: ``(B, S+1)`` logits, least important first; ``None`` if not asked.
        counts: ``(S+1,)`` int64 pixels masked at each step (``counts[0] = 0``, unperturbed).
        fractions: ``(S+1,)`` float64 fraction of pixels masked, ``counts / (H*W)``.
        targets: ``(B,)`` int64 class whose logit is tracked (the model's prediction on the
            unperturbed image unless given).
        logits0: ``(B, K)`` all logits on the unperturbed images.
        num_pixels: ``H * W``.
    """

    mif: torch.Tensor | None
    lif: torch.Tensor | None
    counts: torch.Tensor
    fractions: torch.Tensor
    targets: torch.Tensor
    logits0: torch.Tensor
    num_pixels: int

    def x(self, x_axis: str = "fraction") -> torch.Tensor:
        """``(S+1,)`` float64 percent masked; see :func:`integration_axis`."""
        return integration_axis(self.counts, self.num_pixels, x_axis)


def _check_counts(counts: torch.Tensor | Sequence[int], num_pixels: int) -> torch.Tensor:
    counts = torch.as_tensor(counts).flatten()
    if counts.is_floating_point() or counts.dtype == torch.bool or counts.is_complex():
        raise AttrbenchError(
            f"counts must be integers (pixels masked per step); got {counts.dtype}."
        )
    counts = counts.to(torch.int64).cpu()
    if counts.numel() < 2 or int(counts[0]) != 0:
        raise AttrbenchError(
            "counts must start with 0 (the unperturbed step) and have at least 2 points; "
            "build them with step_schedule()."
        )
    if not bool((counts[1:] > counts[:-1]).all()) or int(counts[-1]) > num_pixels:
        raise AttrbenchError(
            f"counts must increase strictly and not exceed the {num_pixels} pixels of the image; "
            f"got {counts.tolist()[:8]}{' ...' if counts.numel() > 8 else ''}."
        )
    return counts


def _fill_value(
    mask_value: float | Sequence[float] | torch.Tensor, images: torch.Tensor
) -> torch.Tensor:
    fill = torch.as_tensor(mask_value, dtype=images.dtype, device=images.device)
    if fill.dim() == 0:
        return fill
    channels = images.shape[1]
    if fill.numel() != channels:
        raise AttrbenchError(
            f"mask_value has {fill.numel()} entries but the images have {channels} channels; "
            "give one number or one per channel."
        )
    return fill.reshape(1, channels, 1, 1)


def _check_inputs(
    images: torch.Tensor, maps: torch.Tensor, orders: Sequence[str], max_batch: int
) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise AttrbenchError(f"images must be a tensor of shape (B, C, H, W); got {shape}.")
    if images.shape[0] == 0:
        raise AttrbenchError("images hold an empty batch (B = 0); pass at least one image.")
    if not images.is_floating_point():
        raise AttrbenchError(
            f"images must be floating point (normalised model inputs); got {images.dtype}."
        )
    if not isinstance(maps, torch.Tensor) or tuple(maps.shape) != (
        images.shape[0],
        *images.shape[2:],
    ):
        got = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise AttrbenchError(
            f"maps have shape {got} but images of shape {tuple(images.shape)} need maps of shape "
            f"{(images.shape[0], *images.shape[2:])} (B, H, W); reduce the attribution channels "
            "first (post-processing) and keep the images and maps in the same order."
        )
    if not orders or len(set(orders)) != len(orders) or any(o not in ORDERS for o in orders):
        raise AttrbenchError(
            f"orders must be a non-empty subset of {ORDERS} without repeats; got {tuple(orders)}."
        )
    if int(max_batch) < 1:
        raise AttrbenchError(f"max_batch must be >= 1 images per forward pass; got {max_batch}.")


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(match_memory_format(model, x))
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AttrbenchError(
            f"the model must return logits of shape (batch, num_classes); got {shape}. "
            "Wrap it so that it returns the pre-softmax scores."
        )
    return out


def _step0(model: nn.Module, images: torch.Tensor, max_batch: int) -> torch.Tensor:
    return torch.cat([_forward(model, chunk) for chunk in images.split(max_batch)])


def _resolve_targets(
    targets: torch.Tensor | Sequence[int] | None, logits0: torch.Tensor
) -> torch.Tensor:
    if targets is None:
        return logits0.argmax(dim=1)
    t = torch.as_tensor(targets, device=logits0.device)
    if t.is_floating_point() or t.dtype == torch.bool or tuple(t.shape) != (logits0.shape[0],):
        raise AttrbenchError(
            f"targets must be {logits0.shape[0]} integer class indices (shape (B,)); "
            f"got shape {tuple(t.shape)}, dtype {t.dtype}."
        )
    t = t.to(torch.int64)
    k = logits0.shape[1]
    if bool(((t < 0) | (t >= k)).any()):
        raise AttrbenchError(
            f"targets must lie in [0, {k}) for a model with {k} outputs; got values from "
            f"{int(t.min())} to {int(t.max())}."
        )
    return t


def perturbation_curves(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    *,
    targets: torch.Tensor | Sequence[int] | None = None,
    orders: Sequence[str] = ("mif", "lif"),
    counts: torch.Tensor | Sequence[int] | None = None,
    mask_value: float | Sequence[float] | torch.Tensor = 0.0,
    tie_break: str = "random",
    generator: torch.Generator | None = None,
    max_batch: int = 256,
) -> Curves:
    """MIF and LIF perturbation curves of the target-class logit (FPA paper, Sec. 3, App. C).

    For each image ``b``, order ``o`` and step ``s`` the input is ``images[b]`` with the first
    ``counts[s]`` pixels of ``pixel_order(maps[b], o)`` set to ``mask_value`` in every channel, and
    the curve value is the model's logit for ``targets[b]`` on that input.

    The model runs in eval mode under ``torch.no_grad``; every submodule's train/eval flag is
    restored afterwards. Forward passes hold at most ``max_batch`` images (the memory budget); the
    curves do not depend on it beyond float rounding of batched kernels.

    Args:
        model: classifier returning logits ``(N, K)``; on the same device as ``images``.
        images: ``(B, C, H, W)`` float, normalised as the model expects.
        maps: ``(B, H, W)`` post-processed importance maps, higher = more important.
        targets: ``(B,)`` classes to track; default the model's prediction on the unperturbed image.
        orders: which curves to compute, a subset of ``("mif", "lif")``.
        counts: ``(S+1,)`` pixels masked per step, ``counts[0] = 0``; default
            ``step_schedule(H*W)`` (21 points, 0 to 100 % masked).
        mask_value: fill of masked pixels in the model's input space: one number for all channels
            (default 0, mid-gray for mean = std = 0.5 normalisation) or ``C`` numbers.
        tie_break: ``"random"`` or ``"reference"``; see :mod:`attrbench.metrics.functional.ranking`.
            In ``"random"`` mode MIF and LIF share one random tie key.
        generator: randomness of the random tie-break (``None``: seed 0).
        max_batch: most images per forward pass (images x steps), >= 1.

    Returns:
        :class:`Curves` with ``(B, S+1)`` float curves on ``images.device``.

    Raises:
        AttrbenchError: mismatched shapes, empty batch, NaN maps, bad counts / targets / mask_value.
    """
    _check_inputs(images, maps, orders, max_batch)
    _check_choice(tie_break, TIE_BREAKS, "tie_break")
    check_maps(maps)
    b, _, h, w = images.shape
    n_pix = h * w
    counts_t = step_schedule(n_pix) if counts is None else _check_counts(counts, n_pix)
    fill = _fill_value(mask_value, images)
    device = images.device
    max_batch = int(max_batch)

    flat = maps.to(device).reshape(b, n_pix)
    perm = random_tie_key(b, n_pix, generator, device) if tie_break == "random" else None
    rank_dtype = torch.int32 if n_pix < 2**31 else torch.int64
    # (O, B, N): rank of each pixel in each order, so "masked at count n" is "rank < n".
    ranks = torch.stack([pixel_ranks(order_with_key(flat, o, perm)).to(rank_dtype) for o in orders])

    n_steps = counts_t.numel()
    full_last = int(counts_t[-1]) == n_pix
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            logits0 = _step0(model, images, max_batch)
            tgt = _resolve_targets(targets, logits0)
            curves = torch.empty(len(orders), b, n_steps, dtype=logits0.dtype, device=device)
            curves[:, :, 0] = logits0.gather(1, tgt[:, None]).squeeze(1)
            last = n_steps - 1 if full_last else n_steps
            if full_last:  # every pixel masked: one constant image, the same for all images/orders
                blank = torch.zeros(1, *images.shape[1:], dtype=images.dtype, device=device) + fill
                curves[:, :, -1] = _forward(model, blank)[0, tgt]
            # flat job list over (order, step, image), image fastest; steps 1..last-1
            o_idx, s_idx, b_idx = torch.meshgrid(
                torch.arange(len(orders), device=device),
                torch.arange(1, last, device=device),
                torch.arange(b, device=device),
                indexing="ij",
            )
            o_idx, s_idx, b_idx = o_idx.flatten(), s_idx.flatten(), b_idx.flatten()
            counts_dev = counts_t.to(device=device, dtype=rank_dtype)
            for start in range(0, o_idx.numel(), max_batch):
                jo, js, jb = (t[start : start + max_batch] for t in (o_idx, s_idx, b_idx))
                masked = ranks[jo, jb] < counts_dev[js, None]  # (J, N) bool
                x = torch.where(masked.view(-1, 1, h, w), fill, images[jb])
                curves[jo, jb, js] = _forward(model, x).gather(1, tgt[jb, None]).squeeze(1)
    finally:
        for module, mode in modes:
            module.training = mode

    by_order = dict(zip(orders, curves.unbind(0), strict=True))
    return Curves(
        mif=by_order.get("mif"),
        lif=by_order.get("lif"),
        counts=counts_t,
        fractions=counts_t.to(torch.float64) / n_pix,
        targets=tgt,
        logits0=logits0,
        num_pixels=n_pix,
    )
