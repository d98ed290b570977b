"""Random horizontal flips and padded random crops applied to a whole batch at once.

torchvision's transforms draw one random decision per call (per image), which forces a Python loop
over the batch; these versions draw per-image decisions from a ``torch.Generator`` and apply them with
tensor indexing, on the batch's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator,
                fill: float = 0.0) -> torch.Tensor:
    """Pad by ``padding`` pixels with ``fill`` and crop back to ``H x W`` at a random offset per image.

    Args:
        x: images ``(B, C, H, W)``, already normalised (``fill`` is in that space; 0 = dataset mean for
            mean/std-normalised data).
        padding: pixels added on every side; offsets are uniform in ``0..2*padding``.
        generator: source of the offsets (on ``x``'s device).

    Returns:
        A new tensor ``(B, C, H, W)``.
    """
    if padding == 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding), value=fill)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indexing picks padded[b, :, rows[b, i], cols[b, j]] -> (B, H, W, C).
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
