"""A literal, per-pixel Python loop of FPA's Algorithm 1 (Brocki & Chung), the speed baseline.

Kept apart from the tests on purpose (bench code does not import from ``tests/``); the tests hold their
own copy, which they compare statistically with :func:`attrbench.augment.fpa_mask`.
"""

from __future__ import annotations

import random

import numpy as np


def literal_fpa_mask(batch: int, height: int, width: int, p1: float, p2: float, s_max: int,
                     mode: str, rng: random.Random) -> np.ndarray:
    """Masks (B, H, W) bool, True = masked, drawn pixel by pixel.

    ``mode="paper"``: a selected pixel (prob. p1) becomes, with p2, an s x s square with top-left at
    the pixel, s in 1..s_max (clipped at the border), else the single pixel. ``mode="reference"``: the
    authors' code, s in 0..s_max, squares with x + s >= W or y + s >= H dropped.
    """
    mask = np.zeros((batch, height, width), dtype=bool)
    for k in range(batch):
        for y in range(height):
            for x in range(width):
                if rng.random() >= p1:
                    continue
                if rng.random() < p2:
                    if mode == "paper":
                        s = rng.randint(1, s_max)
                        mask[k, y:y + s, x:x + s] = True
                    else:
                        s = rng.randint(0, s_max)
                        if x + s < width and y + s < height:
                            mask[k, y:y + s, x:x + s] = True
                else:
                    mask[k, y, x] = True
    return mask
