"""Rectangle (random erasing, Zhong et al.; the FPA paper's baseline) against a literal per-image loop."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from scipy import stats

from attrbench.augment import Rectangle, RectangleConfig, rectangle_mask
from attrbench.errors import AttrbenchError


def literal_erasing_box(height: int, width: int, rng: random.Random,
                        area: tuple[float, float] = (0.02, 0.4),
                        r1: float = 0.3) -> tuple[int, int, int, int]:
    """Zhong et al.'s rule for one image, written out (NOTES §1.2): resample until it fits."""
    while True:
        target = rng.uniform(*area) * height * width
        aspect = rng.uniform(r1, 1 / r1)
        h = max(1, int(round(math.sqrt(target * aspect))))
        w = max(1, int(round(math.sqrt(target / aspect))))
        if h < height and w < width:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w


def boxes(mask: torch.Tensor) -> np.ndarray:
    """(B, 4) top, left, h, w of each image's mask bounding box; asserts it is a filled rectangle."""
    out = []
    for m in mask.numpy():
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        assert rows.size and cols.size, "an image without a rectangle"
        top, left = rows[0], cols[0]
        h, w = rows[-1] - top + 1, cols[-1] - left + 1
        assert m.sum() == h * w, "mask is not one filled rectangle"
        out.append((top, left, h, w))
    return np.array(out)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_exactly_one_rectangle_within_the_area_and_aspect_bounds() -> None:
    cfg = RectangleConfig()
    b = boxes(rectangle_mask(2000, 32, 32, cfg, gen(0)))
    h, w = b[:, 2].astype(float), b[:, 3].astype(float)
    assert (h < 32).all() and (w < 32).all() and (h >= 1).all() and (w >= 1).all()
    # Sides are rounded from sqrt(area * aspect) and sqrt(area / aspect): allow half a pixel each.
    lo_area = (math.sqrt(cfg.area_min * 1024 * cfg.aspect_min) - 0.5) \
        * (math.sqrt(cfg.area_min * 1024 / cfg.aspect_min) - 0.5)
    assert (h * w >= lo_area).all() and (h * w <= cfg.area_max * 1024 + 0.5 * 2 * 32 + 0.25).all()
    aspect = h / w
    assert (aspect >= cfg.aspect_min * 0.8).all() and (aspect <= 1 / cfg.aspect_min / 0.8).all()
    frac = h * w / 1024
    assert 0.02 <= np.quantile(frac, 0.01) and np.quantile(frac, 0.99) <= 0.41


def test_same_distribution_as_the_literal_loop() -> None:
    rng = random.Random(1)
    literal = np.array([literal_erasing_box(32, 32, rng) for _ in range(3000)])
    fast = boxes(rectangle_mask(3000, 32, 32, RectangleConfig(), gen(1)))
    for k, what in enumerate(["top", "left", "h", "w"]):
        assert stats.ks_2samp(literal[:, k], fast[:, k]).pvalue > 1e-3, what
    assert stats.ks_2samp(literal[:, 2] * literal[:, 3], fast[:, 2] * fast[:, 3]).pvalue > 1e-3


def test_top_left_corner_is_uniform_over_the_positions_that_fit() -> None:
    b = boxes(rectangle_mask(3000, 32, 32, RectangleConfig(), gen(2)))
    jitter = np.random.default_rng(2).random((len(b), 2))
    # (corner + U(0,1)) / number-of-positions is U(0, 1) iff the corner is uniform on 0..H-h.
    u_top = (b[:, 0] + jitter[:, 0]) / (32 - b[:, 2] + 1)
    u_left = (b[:, 1] + jitter[:, 1]) / (32 - b[:, 3] + 1)
    assert stats.kstest(u_top, "uniform").pvalue > 1e-3
    assert stats.kstest(u_left, "uniform").pvalue > 1e-3


def test_fallback_keeps_one_rectangle_on_elongated_images() -> None:
    # On 2x64 images almost no candidate fits (h must be 1): the fallback clips to H - 1.
    b = boxes(rectangle_mask(200, 2, 64, RectangleConfig(), gen(3)))
    assert (b[:, 2] == 1).all() and (b[:, 3] < 64).all()


def test_fill_value_all_channels_and_input_untouched() -> None:
    x = torch.randn(16, 3, 32, 32)
    before = x.clone()
    out, mask = Rectangle(RectangleConfig(p=1.0, mask_value=-1.0)).apply(x, gen(4))
    assert torch.equal(x, before)
    assert mask is not None and mask.shape == (16, 32, 32)
    m = mask.unsqueeze(1).expand_as(x)
    assert (out[m] == -1.0).all() and torch.equal(out[~m], x[~m])


def test_p_zero_identity_p_one_always_and_reproducible() -> None:
    x = torch.randn(4, 3, 16, 16)
    g = gen(5)
    for _ in range(30):
        out, mask = Rectangle(RectangleConfig(p=0.0)).apply(x, g)
        assert out is x and mask is None
        assert Rectangle(RectangleConfig(p=1.0)).apply(x, g)[1] is not None
    aug = Rectangle(RectangleConfig(p=1.0))
    assert torch.equal(aug(x, gen(6)), aug(x, gen(6)))
    assert not torch.equal(aug(x, gen(6)), aug(x, gen(7)))


def test_p_half_erases_about_half_the_batches() -> None:
    aug, g, x = Rectangle(), gen(8), torch.zeros(1, 1, 8, 8)
    hits = sum(aug.apply(x, g)[1] is not None for _ in range(400))
    assert stats.binomtest(hits, 400, 0.5).pvalue > 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_preserved(dtype: torch.dtype) -> None:
    x = torch.randn(2, 3, 8, 8).to(dtype)
    out = Rectangle(RectangleConfig(p=1.0))(x, gen(9))
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


@pytest.mark.parametrize("kwargs, message", [
    ({"p": 1.5}, r"Rectangle p must be a number in \[0, 1\]; got 1.5"),
    ({"area_min": 0.0}, r"0 < area_min <= area_max < 1; got area_min=0.0"),
    ({"area_min": 0.5, "area_max": 0.4}, r"area_min <= area_max"),
    ({"area_max": 1.0}, r"area_max < 1"),
    ({"aspect_min": 2.0}, r"aspect_min must be in \(0, 1\]; got 2.0"),
    ({"mask_value": float("nan")}, r"mask_value must be a finite number"),
])
def test_invalid_config_raises(kwargs: dict, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        RectangleConfig(**kwargs)


def test_bad_batches_raise() -> None:
    with pytest.raises(AttrbenchError, match=r"at least 2x2 pixels; got 1x8"):
        Rectangle()(torch.zeros(2, 3, 1, 8), gen(0))
    with pytest.raises(AttrbenchError, match=r"Rectangle expects an image batch of shape"):
        Rectangle()(torch.zeros(8, 8), gen(0))
