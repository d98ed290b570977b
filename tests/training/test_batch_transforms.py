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


def test_black_fill_is_pixel_zero_and_never_the_mask_value() -> None:
    from attrbench.training.batch_transforms import crop_fill_values

    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    fill = crop_fill_values("black", mean, std)
    assert fill == [(0 - m) / s for m, s in zip(mean, std)]
    # CIFAR in this project: mean = std = 0.5 -> black is -1, the FPA mask value is 0.
    assert crop_fill_values("black", (0.5,) * 3, (0.5,) * 3) == [-1.0, -1.0, -1.0]
    assert crop_fill_values("mean", (0.5,) * 3, (0.5,) * 3) == [0.0, 0.0, 0.0]
    x = torch.rand(64, 3, 8, 8) * 0.9 + 0.05  # strictly inside (0, 1): no pixel is 0 or -1
    pad = 3
    y = random_crop(x, pad, make_generator(2), fill=[-1.0, -1.0, -1.0])
    padded_pixels = (y == -1.0).all(1)  # (B, H, W)
    assert padded_pixels.any()  # some crops reach into the padding
    assert not bool((y == 0.0).any())  # no padded pixel equals the mask value 0
    # per-channel fill: every padded pixel holds exactly the channel's value
    vals = [-1.0, -2.0, -3.0]
    z = random_crop(x, pad, make_generator(2), fill=vals)
    for c, v in enumerate(vals):
        assert torch.equal(z[:, c] == v, padded_pixels)


def test_reflect_fill_crops_the_reflected_image() -> None:
    x = torch.randn(20, 3, 6, 6)
    y = random_crop(x, 2, make_generator(4), fill=None)
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(20):
        assert any(torch.equal(y[i], padded[i, :, dy:dy + 6, dx:dx + 6])
                   for dy in range(5) for dx in range(5))


def test_unknown_crop_fill_is_refused() -> None:
    import pytest

    from attrbench.errors import AttrbenchError
    from attrbench.training.batch_transforms import crop_fill_values

    with pytest.raises(AttrbenchError, match="crop fill"):
        crop_fill_values("gray", (0.5,), (0.5,))
