"""FPA (Brocki & Chung, Algorithm 1) against a literal per-pixel loop and the exact expected masking."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from attrbench.augment import FPA, FPA_PRESETS, FPAConfig, fpa_mask
from attrbench.errors import AttrbenchError


def literal_fpa_mask(batch: int, height: int, width: int, p1: float, p2: float, s_max: int,
                     mode: str, rng: random.Random) -> np.ndarray:
    """Algorithm 1 written out pixel by pixel, as the paper's text and NOTES §1.1 describe it.

    paper: a selected pixel is masked; with p2 it becomes an s x s square, s in 1..s_max, that
    numpy slicing clips at the border. reference (authors' code): with p2 a square with s in
    0..s_max, dropped unless x + s < W and y + s < H; otherwise the single pixel.
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


def exact_fraction(height: int, width: int, p1: float, p2: float, s_max: int, mode: str) -> float:
    """Exact expected fraction of masked pixels for a fixed p1.

    Pixel (i, j) stays unmasked iff no anchor (i - a, j - b), a, b >= 0, covers it; anchors decide
    independently, so P(unmasked) is a product over the s_max^2 offsets (vectorised over pixels).
    """
    sides = list(range(1, s_max + 1)) if mode == "paper" else list(range(0, s_max + 1))
    ii, jj = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    log_unmasked = np.zeros((height, width))
    for a in range(s_max):
        for b in range(s_max):
            y, x = ii - a, jj - b
            inside = (y >= 0) & (x >= 0)
            q = p1 * (1 - p2) * float(a == 0 and b == 0) * inside
            for s in sides:
                if s > max(a, b):
                    ok = inside & ((x + s < width) & (y + s < height) if mode == "reference" else True)
                    q = q + ok * p1 * p2 / len(sides)
            log_unmasked += np.log1p(-q)
    return float(1 - np.exp(log_unmasked).mean())


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- masked fraction --------------------------------------------------------------------------

CASES = [  # (H, W, p1, p2, s_max)
    (32, 32, 0.05, 0.1, 3), (32, 32, 0.125, 0.1, 3), (32, 32, 0.25, 0.1, 3),
    (24, 40, 0.1, 0.5, 5), (40, 24, 0.02, 1.0, 7),
]


@pytest.mark.parametrize("mode", ["paper", "reference"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_masked_fraction_matches_exact_expectation(mode: str, case: tuple) -> None:
    h, w, p1, p2, s_max = case
    per_image = fpa_mask(2000, h, w, p1, p2, s_max, mode, gen(1)).float().mean(dim=(1, 2)).numpy()
    se = per_image.std() / np.sqrt(len(per_image))  # 0.0003 .. 0.0015 here
    assert abs(per_image.mean() - exact_fraction(h, w, p1, p2, s_max, mode)) < 4 * se


@pytest.mark.parametrize("mode", ["paper", "reference"])
@pytest.mark.parametrize("case", [CASES[1], CASES[3]], ids=lambda c: "x".join(map(str, c)))
def test_fast_and_literal_have_the_same_distribution(mode: str, case: tuple) -> None:
    h, w, p1, p2, s_max = case
    literal = literal_fpa_mask(200, h, w, p1, p2, s_max, mode, random.Random(2))
    fast = fpa_mask(2000, h, w, p1, p2, s_max, mode, gen(2)).numpy()
    exact = exact_fraction(h, w, p1, p2, s_max, mode)
    per_image_literal = literal.mean(axis=(1, 2))
    se = per_image_literal.std() / np.sqrt(len(per_image_literal))
    assert abs(per_image_literal.mean() - exact) < 5 * se
    assert abs(per_image_literal.mean() - fast.mean()) < 5 * se
    # Whole distribution of the per-image masked fraction, not only its mean.
    assert stats.ks_2samp(per_image_literal, fast.mean(axis=(1, 2))).pvalue > 1e-3


def test_reference_mode_matches_notes_numbers_for_cifar() -> None:
    # NOTES §1.1 simulated the authors' rule: ~5.8 / 14.2 / 28.8 % at p1 = 0.05 / 0.125 / 0.25.
    # The exact expectation is 5.92 / 14.57 / 28.39 %, so the notes' figures carry ~0.4 pp of error.
    for p1, notes in [(0.05, 0.058), (0.125, 0.142), (0.25, 0.288)]:
        frac = fpa_mask(2000, 32, 32, p1, 0.1, 3, "reference", gen(3)).float().mean().item()
        assert frac == pytest.approx(notes, abs=0.005)


def test_p1_is_uniform_and_drawn_once_per_mini_batch() -> None:
    cfg = FPAConfig(p=1.0, mode="reference")
    aug, g = FPA(cfg), gen(4)
    x = torch.ones(32, 1, 32, 32)
    grid = np.linspace(0.0, cfg.p1_max, 41)
    curve = np.array([exact_fraction(32, 32, q, cfg.p2, cfg.s_max, "reference") for q in grid])
    p1_hat, within_sd = [], []
    for _ in range(200):
        _, mask = aug.apply(x, g)
        per_image = mask.float().mean(dim=(1, 2)).numpy()
        p1_hat.append(np.interp(per_image.mean(), curve, grid))
        within_sd.append(per_image.std())
    assert stats.kstest(np.array(p1_hat) / cfg.p1_max, "uniform").pvalue > 1e-3
    # One p1 per batch: images of a batch differ only by sampling noise (sd <~ 0.015 on 32x32);
    # a p1 per image would add the sd of U(0, 0.25) mapped through the curve, about 0.08.
    assert np.mean(within_sd) < 0.02
    assert np.std([np.interp(q, grid, curve) for q in p1_hat]) > 0.06


# --- square sizes -----------------------------------------------------------------------------

def square_sides(mask: np.ndarray) -> np.ndarray:
    """Sides of isolated, full, unclipped squares (components touching the bottom/right border,
    or not square after overlaps, are left out)."""
    sides = []
    for image in mask:
        labels, _ = ndimage.label(image)
        for k, sl in enumerate(ndimage.find_objects(labels), start=1):
            hh, ww = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
            full = (labels[sl] == k).all()
            if full and hh == ww and sl[0].stop < image.shape[0] and sl[1].stop < image.shape[1]:
                sides.append(hh)
    return np.array(sides)


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_square_sides_are_uniform(mode: str) -> None:
    h = w = 96
    s_max = 4
    mask = fpa_mask(300, h, w, 0.0005, 1.0, s_max, mode, gen(5)).numpy()
    sides = square_sides(mask)
    counts = np.bincount(sides, minlength=s_max + 1)[1:]
    # An unclipped square of side s fits at (H - s) * (W - s) anchors, in both modes.
    weights = np.array([(h - s) * (w - s) for s in range(1, s_max + 1)], dtype=float)
    expected = weights / weights.sum() * counts.sum()
    assert counts.sum() > 1000
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # Share of anchors seen as isolated unclipped squares: ~95 % are away from the bottom/right
    # border, ~2 % merge with a neighbour; in reference mode s = 0 (1 in s_max + 1) leaves no trace.
    visible = counts.sum() / (300 * h * w * 0.0005)
    assert visible == pytest.approx(0.93 if mode == "paper" else 0.93 * s_max / (s_max + 1), abs=0.03)


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_square_side_histogram_matches_literal(mode: str) -> None:
    literal = literal_fpa_mask(60, 48, 48, 0.003, 1.0, 3, mode, random.Random(6))
    fast = fpa_mask(600, 48, 48, 0.003, 1.0, 3, mode, gen(6)).numpy()
    table = np.stack([np.bincount(square_sides(m), minlength=4)[1:] for m in (literal, fast)])
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_reference_mode_never_masks_last_row_or_column_with_squares_only() -> None:
    ref = fpa_mask(200, 16, 20, 0.3, 1.0, 5, "reference", gen(7))
    assert not ref[:, -1, :].any() and not ref[:, :, -1].any()
    paper = fpa_mask(200, 16, 20, 0.3, 1.0, 5, "paper", gen(7))
    assert paper[:, -1, :].any() and paper[:, :, -1].any()


def test_extreme_probabilities() -> None:
    assert not fpa_mask(4, 8, 8, 0.0, 0.5, 3, "paper", gen(0)).any()
    assert fpa_mask(4, 8, 8, 1.0, 0.0, 3, "reference", gen(0)).all()
    assert fpa_mask(4, 8, 8, 1.0, 1.0, 3, "paper", gen(0)).all()


# --- the batch transform ----------------------------------------------------------------------

def test_all_channels_masked_together_to_mask_value() -> None:
    x = torch.randn(8, 3, 16, 16)
    x_aug, mask = FPA(FPAConfig(p=1.0, mask_value=-0.75)).apply(x, gen(8))
    assert mask is not None and mask.shape == (8, 16, 16) and mask.dtype == torch.bool
    assert mask.any()
    m = mask.unsqueeze(1).expand_as(x)
    assert (x_aug[m] == -0.75).all()
    assert torch.equal(x_aug[~m], x[~m])
    # Channels agree pixel by pixel: masked in one means masked in all.
    masked_per_channel = x_aug == -0.75
    assert torch.equal(masked_per_channel.all(dim=1), masked_per_channel.any(dim=1))


def test_p_zero_is_the_identity_and_p_one_always_perturbs() -> None:
    x = torch.randn(4, 3, 8, 8)
    g = gen(9)
    off, on = FPA(FPAConfig(p=0.0)), FPA(FPAConfig(p=1.0))
    for _ in range(50):
        out, mask = off.apply(x, g)
        assert out is x and mask is None
        out, mask = on.apply(x, g)
        assert mask is not None and out is not x


def test_p_half_perturbs_about_half_the_batches() -> None:
    aug, g, x = FPA(), gen(10), torch.zeros(1, 1, 8, 8)
    hits = sum(aug.apply(x, g)[1] is not None for _ in range(400))
    assert stats.binomtest(hits, 400, 0.5).pvalue > 1e-3


def test_input_is_never_modified() -> None:
    x = torch.randn(4, 3, 8, 8)
    before = x.clone()
    FPA(FPAConfig(p=1.0))(x, gen(11))
    assert torch.equal(x, before)


def test_reproducible_under_a_seed_and_different_across_seeds() -> None:
    x = torch.randn(16, 3, 32, 32)
    aug = FPA(FPAConfig(p=1.0))
    a, b, c = aug(x, gen(12)), aug(x, gen(12)), aug(x, gen(13))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_preserved(dtype: torch.dtype) -> None:
    x = torch.randn(2, 3, 8, 8).to(dtype)
    out = FPA(FPAConfig(p=1.0))(x, gen(14))
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batch_with_cuda_or_cpu_generator() -> None:
    x = torch.randn(4, 3, 16, 16, device="cuda")
    aug = FPA(FPAConfig(p=1.0))
    on_gpu = aug(x, torch.Generator(device="cuda").manual_seed(0))
    assert on_gpu.device == x.device
    from_cpu = aug(x, gen(0))
    assert torch.equal(from_cpu.cpu(), aug(x.cpu(), gen(0)))  # a CPU generator: same masks anywhere


def test_presets_are_the_papers_values() -> None:
    assert FPA_PRESETS["cifar"] == FPAConfig(p=0.5, p1_max=0.25, p2=0.1, s_max=3)
    assert FPA_PRESETS["imagenet"] == FPAConfig(p=0.5, p1_max=0.3, p2=0.01, s_max=10)
    assert FPAConfig.preset("imagenet", mode="reference").mode == "reference"
    assert FPAConfig() == FPA_PRESETS["cifar"]


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"p1_max": 0.0}, r"p1_max must be a number in \(0, 1\); got 0.0"),
    ({"p1_max": 1.0}, r"p1_max must be a number in \(0, 1\)"),
    ({"p1_max": 1.5}, r"p1_max .* got 1.5"),
    ({"p": -0.1}, r"FPA p must be a number in \[0, 1\]"),
    ({"p2": 1.1}, r"FPA p2 must be a number in \[0, 1\]"),
    ({"p2": float("nan")}, r"FPA p2 must be"),
    ({"s_max": 0}, r"s_max must be an integer >= 1; got 0"),
    ({"s_max": 2.5}, r"s_max must be an integer >= 1"),
    ({"s_max": True}, r"s_max must be an integer >= 1"),
    ({"mode": "fast"}, r"mode must be 'paper' or 'reference'; got 'fast'"),
    ({"mask_value": float("inf")}, r"mask_value must be a finite number"),
])
def test_invalid_config_raises(kwargs: dict, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        FPAConfig(**kwargs)


def test_s_max_must_fit_the_image() -> None:
    aug = FPA(FPAConfig(s_max=10))
    with pytest.raises(AttrbenchError, match=r"s_max = 10 must be smaller than min\(H, W\) = 10 "
                                             r"for 10x12 images; lower s_max"):
        aug(torch.zeros(1, 3, 10, 12), gen(0))
    aug(torch.zeros(1, 3, 11, 12), gen(0))  # fits
    with pytest.raises(AttrbenchError, match="smaller than min"):
        fpa_mask(1, 3, 3, 0.1, 0.1, 3)


def test_bad_batches_and_mask_arguments_raise() -> None:
    with pytest.raises(AttrbenchError, match=r"shape \(B, C, H, W\); got \(3, 8, 8\)"):
        FPA()(torch.zeros(3, 8, 8), gen(0))
    with pytest.raises(AttrbenchError, match="floating-point batch .* got dtype torch.uint8"):
        FPA()(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), gen(0))
    with pytest.raises(AttrbenchError, match=r"FPA p1 must be a number in \[0, 1\]; got 1.5"):
        fpa_mask(1, 8, 8, 1.5, 0.1, 3)
    with pytest.raises(AttrbenchError, match="mode must be 'paper' or 'reference'"):
        fpa_mask(1, 8, 8, 0.1, 0.1, 3, mode="both")  # type: ignore[arg-type]
