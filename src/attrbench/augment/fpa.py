"""Feature Perturbation Augmentation (FPA), Algorithm 1 of Brocki & Chung, vectorised.

Paper (Sec. 3, Algorithm 1): with probability ``p`` a training mini-batch is perturbed. For a perturbed
mini-batch draw ``p1 ~ U(0, p1_max)`` once; every pixel of every image is selected with ``p1``; a
selected pixel becomes, with ``p2``, an ``s x s`` square of masked pixels whose top-left corner is the
pixel (``s`` uniform in ``1..s_max``), otherwise just that pixel is masked. All channels are masked
together, to 0 in the model's (normalised) input space.

Algorithm 1 prints the "with p2" line at the same level as the "with p1" line; the text ("with a
probability of p2 for each selected pixel") and the authors' code make the square conditional on the
pixel being selected, which is what both modes here do.

Two modes (NOTES §1.1 and §6 rows 1-4):

* ``"paper"``: ``s`` uniform in ``1..s_max``; squares crossing the right/bottom border are clipped.
* ``"reference"``: what ``perturbations.py: mask_batch_rand`` in the authors' repository does:
  ``s`` uniform in ``0..s_max`` inclusive, ``s = 0`` masks nothing (not even the selected pixel), and
  a square with ``x + s >= W`` or ``y + s >= H`` is dropped entirely.

Differences from the authors' code that do not change the per-mask distribution (NOTES §6 row 2):
masks are drawn on the fly for every mini-batch instead of reusing 200 precomputed mask batches, and
every draw comes from a ``torch.Generator``, so runs are reproducible from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor

from attrbench.augment.base import batch_decision, check_image_batch, draw_device, fill, rand
from attrbench.errors import AttrbenchError, unknown_name_error

FPAMode = Literal["paper", "reference"]
FPA_MODES: tuple[str, ...] = ("paper", "reference")


def _check_unit(name: str, value: float, *, open_low: bool = False, open_high: bool = False,
                hint: str = "") -> None:
    """Raise if ``value`` is not a real number in [0, 1] (with the requested open ends)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > 0 if open_low else value >= 0) and (value < 1 if open_high else value <= 1)
    if not ok:
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise AttrbenchError(f"FPA {name} must be a number in {interval}; got {value!r}.{hint}")


def check_s_max(s_max: int, height: int, width: int) -> None:
    """Require ``1 <= s_max < min(H, W)`` (Algorithm 1's precondition).

    Raises:
        AttrbenchError: ``s_max`` is not an integer >= 1 or does not fit the image.
    """
    if not isinstance(s_max, int) or isinstance(s_max, bool) or s_max < 1:
        raise AttrbenchError(f"FPA s_max must be an integer >= 1; got {s_max!r}. "
                             "The paper uses 3 for CIFAR-10 and 10 for ImageNet.")
    if s_max >= min(height, width):
        raise AttrbenchError(f"FPA s_max = {s_max} must be smaller than min(H, W) = "
                             f"{min(height, width)} for {height}x{width} images; lower s_max.")


@dataclass(frozen=True)
class FPAConfig:
    """Parameters of FPA (Brocki & Chung, Sec. 3 and Sec. 4.1). Defaults are the ``cifar`` preset.

    Attributes:
        p: probability that a mini-batch is perturbed at all, in [0, 1].
        p1_max: upper bound of ``p1 ~ U(0, p1_max)``, the per-pixel selection probability, in (0, 1).
        p2: probability that a selected pixel becomes a square, in [0, 1].
        s_max: largest square side in pixels, ``1 <= s_max < min(H, W)`` (checked per image size).
        mode: ``"paper"`` (s in 1..s_max, clipped at the border) or ``"reference"`` (the authors'
            code: s in 0..s_max, border-crossing squares dropped).
        mask_value: value written into masked pixels, in the model's input space (0 = mid-gray for
            inputs normalised with mean = std = 0.5).

    Raises:
        AttrbenchError: a parameter outside its range.
    """

    p: float = 0.5
    p1_max: float = 0.25
    p2: float = 0.1
    s_max: int = 3
    mode: FPAMode = "paper"
    mask_value: float = 0.0

    def __post_init__(self) -> None:
        _check_unit("p", self.p, hint=" Use 0.5 as in the paper.")
        _check_unit("p1_max", self.p1_max, open_low=True, open_high=True,
                    hint=" The paper uses 0.25 (CIFAR-10) or 0.3 (ImageNet).")
        _check_unit("p2", self.p2, hint=" The paper uses 0.1 (CIFAR-10) or 0.01 (ImageNet).")
        check_s_max(self.s_max, height=2**31, width=2**31)
        if self.mode not in FPA_MODES:
            raise AttrbenchError(f"FPA mode must be 'paper' or 'reference'; got {self.mode!r}.")
        if not isinstance(self.mask_value, (int, float)) or isinstance(self.mask_value, bool) \
                or not math.isfinite(self.mask_value):
            raise AttrbenchError(f"FPA mask_value must be a finite number; got {self.mask_value!r}.")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> FPAConfig:
        """The named preset (``"cifar"`` or ``"imagenet"``) with ``overrides`` applied."""
        if name not in FPA_PRESETS:
            raise unknown_name_error("FPA preset", name, FPA_PRESETS)
        return replace(FPA_PRESETS[name], **overrides)

    def check_image_size(self, height: int, width: int) -> None:
        """Raise :class:`AttrbenchError` if ``s_max`` does not fit ``height x width`` images."""
        check_s_max(self.s_max, height, width)


#: The paper's settings (Sec. 4.1): CIFAR-10, and ImageNet / Food101.
FPA_PRESETS = MappingProxyType({
    "cifar": FPAConfig(p=0.5, p1_max=0.25, p2=0.1, s_max=3),
    "imagenet": FPAConfig(p=0.5, p1_max=0.3, p2=0.01, s_max=10),
})


def _grow_by_one(t: Tensor) -> Tensor:
    """Dilate a (B, H, W) bool map by a 2 x 2 window with its top-left at each True pixel.

    Applied k - 1 times this turns a pixel into the k x k square it anchors (top-left corner),
    clipped at the bottom/right border. Done as two shifted ORs on bool tensors rather than
    ``F.max_pool2d``, which needs a float copy and is several times slower on CPU for these sizes.
    """
    down = t.clone()
    down[:, 1:, :] |= t[:, :-1, :]
    out = down.clone()
    out[:, :, 1:] |= down[:, :, :-1]
    return out


def fpa_mask(batch_size: int, height: int, width: int, p1: float, p2: float, s_max: int,
             mode: FPAMode = "paper", generator: torch.Generator | None = None,
             device: torch.device | str | None = None) -> Tensor:
    """Draw FPA masks for one perturbed mini-batch with a fixed ``p1`` (Algorithm 1's inner loops).

    Vectorised: one float64 uniform draw per pixel (selection, square-or-pixel and side length),
    then ``2 (s_max - 1)`` shifted ORs that grow anchors into squares. No Python loop over images or
    pixels; the only loop runs over the side lengths ``s = s_max..1``.

    Args:
        batch_size: number of images B.
        height: image height H in pixels.
        width: image width W in pixels.
        p1: per-pixel selection probability in [0, 1].
        p2: probability that a selected pixel becomes a square, in [0, 1].
        s_max: largest side, ``1 <= s_max < min(H, W)``.
        mode: ``"paper"`` or ``"reference"`` (see the module docstring).
        generator: seeded generator; draws happen on its device (None = torch's global RNG).
        device: device of the returned mask (default: the generator's device, else CPU).

    Returns:
        Bool tensor (B, H, W), True = masked.

    Raises:
        AttrbenchError: a parameter outside its range.
    """
    _check_unit("p1", p1)
    _check_unit("p2", p2)
    check_s_max(s_max, height, width)
    if mode not in FPA_MODES:
        raise AttrbenchError(f"FPA mode must be 'paper' or 'reference'; got {mode!r}.")
    if device is None:
        device = draw_device(generator, torch.device("cpu"))
    device = torch.device(device)
    shape = (batch_size, height, width)

    # One float64 uniform u per pixel decides everything (53 random bits, so the nested
    # thresholds below keep ample resolution even for tiny p1 * p2):
    #   u >= p1            not selected;
    #   t <= u < p1        selected, stays a single pixel (t = p1 p2);
    #   u < t              selected and a square; given that, u / t ~ U(0, 1) picks the side
    #                      uniformly, largest first: side >= s iff u < t (s_max - s + 1) / n.
    # Squares are built largest side first: the map grows by one pixel (2 x 2 top-left dilation)
    # after each side, so anchors added at side s are grown s - 1 times into s x s squares.
    # Dilation distributes over union, so one map suffices: 2 (s_max - 1) shifted ORs in all,
    # and one comparison per side.
    # MPS has no float64; its float32 draws still give >= 2^24 levels over [0, 1).
    wide = torch.float32 if draw_device(generator, device).type == "mps" else torch.float64
    u = rand(shape, generator, device, wide)
    t = p1 * p2
    mask = (u >= t) & (u < p1)
    if t <= 0:
        return mask
    n_sides = s_max if mode == "paper" else s_max + 1  # reference: sides 0..s_max
    rows = torch.arange(height, device=device).view(height, 1)
    cols = torch.arange(width, device=device).view(1, width)
    squares = torch.zeros_like(mask)
    larger = torch.zeros_like(mask)  # anchors of a side > s
    for s in range(s_max, 0, -1):
        k = s_max - s + 1
        at_least_s = u < (t if k == n_sides else t * k / n_sides)
        if mode == "paper":
            # Re-adding anchors of larger sides is harmless: they already lie in their squares.
            squares |= at_least_s
        else:  # exact side s, and the authors drop squares with x + s >= W or y + s >= H
            squares |= at_least_s & ~larger & (rows + s < height) & (cols + s < width)
            larger = at_least_s
        if s > 1:
            squares = _grow_by_one(squares)
    # Reference mode: side 0 (t s_max / n <= u < t) masks nothing, not even the selected pixel.
    return mask | squares


class FPA:
    """Feature Perturbation Augmentation as a batch transform (Brocki & Chung, Algorithm 1).

    Args:
        config: the parameters; default the ``cifar`` preset.

    Example:
        >>> import torch
        >>> from attrbench.runtime import make_generator
        >>> x = torch.rand(2, 3, 32, 32) * 2 - 1          # (B, C, H, W), normalised to [-1, 1]
        >>> aug = FPA(FPAConfig.preset("cifar"))
        >>> aug(x, make_generator(0)).shape
        torch.Size([2, 3, 32, 32])
    """

    name = "fpa"

    def __init__(self, config: FPAConfig | None = None) -> None:
        self.config = config if config is not None else FPAConfig()

    def apply(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """Perturb the mini-batch with probability ``p``.

        Always consumes two scalar draws (the coin and ``p1 ~ U(0, p1_max)``), then the per-pixel
        draws of :func:`fpa_mask` only if the batch is perturbed.

        Args:
            x: images (B, C, H, W), floating point, in the model's input space. Never modified.
            generator: seeded generator (None = torch's global RNG).

        Returns:
            ``(x_aug, mask)``: if perturbed, a new tensor with masked pixels set to ``mask_value``
            in all channels and the (B, H, W) bool mask; otherwise ``x`` itself (same object, no
            copy) and None.

        Raises:
            AttrbenchError: ``x`` is not an image batch, or ``s_max`` does not fit its size.
        """
        check_image_batch(x, "FPA")
        b, _, h, w = x.shape
        self.config.check_image_size(h, w)
        perturb, p1 = batch_decision(self.config.p, 0.0, self.config.p1_max, generator)
        if not perturb:
            return x, None
        mask = fpa_mask(b, h, w, p1, self.config.p2, self.config.s_max, self.config.mode,
                        generator, x.device)
        return fill(x, mask, self.config.mask_value), mask

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Return the augmented batch (see :meth:`apply`)."""
        return self.apply(x, generator)[0]

    def __repr__(self) -> str:
        return f"FPA({self.config})"
