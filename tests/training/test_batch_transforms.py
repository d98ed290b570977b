"""Batched flip and crop against their per-image definitions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attrbench.runtime import make_generator
from attrbench.training.batch_transforms import random_crop, random_hflip


def test_hflip_flips_about_half_and_leaves_the_rest() -> None:
    x = torch.randn(200, 3, 5, 6)
    y = random_hflip(x, make_generator(0))
    flipped = torch.tensor([torch.equal(y[i], x[i].flip(-1)) for i in range(200)])
    kept = torch.tensor([torch.equal(y[i], x[i]) for i in range(200)])
    assert bool((flipped | kept).all())
    assert 70 < int(flipped.sum()) < 130


def test_crop_is_a_window_of_the_padded_image() -> None:
    x = torch.randn(50, 2, 6, 7)
    pad = 2
    y = random_crop(x, pad, make_generator(1))
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = set()
    for i in range(50):
        hits = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                if torch.equal(y[i], padded[i, :, dy:dy + 6, dx:dx + 7])]
        assert hits, f"image {i} is not a crop of its padded version"
        offsets.update(hits)
    assert len(offsets) > 10  # offsets actually vary


def test_crop_zero_padding_is_identity_and_seed_reproducible() -> None:
    x = torch.randn(4, 3, 8, 8)
    assert random_crop(x, 0, make_generator(0)) is x
    assert torch.equal(random_crop(x, 3, make_generator(7)), random_crop(x, 3, make_generator(7)))
