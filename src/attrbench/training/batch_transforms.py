"""Random horizontal flips and padded random crops applied to a whole batch at once.

torchvision's transforms draw one random decision per call (per image), which forces a Python loop
over the batch; these versions draw per-image decisions from a ``torch.Generator`` and apply them with
tensor indexing, on the batch's device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from attrbench.errors import AttrbenchError


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 0.5.

    Args:
        x: images ``(B, C, H, W)``.
        generator: source of the per-image coin flips (on ``x``'s device).

    Returns:
        A new tensor ``(B, C, H, W)``.
    """
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


CROP_FILLS = ("black", "reflect", "mean")


def crop_fill_values(mode: str, mean: Sequence[float], std: Sequence[float]) -> list[float] | None:
    """Per-channel padding values, in normalised space, for the crop padding ``mode``.

    ``black`` pads with pixel value 0 before normalisation, ``(0 - mean) / std`` per channel, which is
    what the FPA authors' torchvision ``RandomCrop(32, padding=4)`` on PIL images does; ``mean`` pads
    with 0 in normalised space (the dataset mean, which is also the value FPA masks with, so it blurs
    a none-vs-FPA comparison); ``reflect`` needs no value (returns None).

    Raises:
        AttrbenchError: unknown mode.
    """
    if mode not in CROP_FILLS:
        raise AttrbenchError(f"Unknown crop fill {mode!r}; use one of {', '.join(CROP_FILLS)}.")
    if mode == "reflect":
        return None
    if mode == "mean":
        return [0.0] * len(mean)
    return [(0.0 - m) / s for m, s in zip(mean, std, strict=True)]


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator,
                fill: float | Sequence[float] | None = 0.0) -> torch.Tensor:
    """Pad by ``padding`` pixels and crop back to ``H x W`` at a random offset per image.

    Args:
        x: images ``(B, C, H, W)``, already normalised (``fill`` is in that space).
        padding: pixels added on every side; offsets are uniform in ``0..2*padding``.
        generator: source of the offsets (on ``x``'s device).
        fill: padding value: one float for every channel, one float per channel (see
            :func:`crop_fill_values`), or None to pad by reflection.

    Returns:
        A new tensor ``(B, C, H, W)``.
    """
    if padding == 0:
        return x
    b, c, h, w = x.shape
    if fill is None:
        if padding >= min(h, w):
            raise AttrbenchError(f"Reflection padding {padding} needs images larger than {h}x{w}.")
        padded = F.pad(x, (padding, padding, padding, padding), mode="reflect")
    elif isinstance(fill, (int, float)):
        padded = F.pad(x, (padding, padding, padding, padding), value=float(fill))
    else:
        values = torch.as_tensor(list(fill), dtype=x.dtype, device=x.device)
        if values.numel() != c:
            raise AttrbenchError(f"Crop fill has {values.numel()} values for {c}-channel images.")
        padded = values.view(1, c, 1, 1).expand(b, c, h + 2 * padding, w + 2 * padding).clone()
        padded[:, :, padding:padding + h, padding:padding + w] = x
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indexing picks padded[b, :, rows[b, i], cols[b, j]] -> (B, H, W, C).
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
