"""Mask-leakage test (IteROAR Sec. 4.7): a planted positional leak is flagged, random masks not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.roar.leakage import mask_leakage_test, one_sided_welch, postprocess_masks

SIDE = 8


def _masks(n: int, leak: bool, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` 8x8 masks of 8 pixels and labels in {0, 1}; with ``leak`` class 0 masks lie in the
    left half and class 1 masks in the right half, else anywhere."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    scores = torch.rand(n, SIDE, SIDE, generator=g)
    if leak:
        left = torch.arange(SIDE) < SIDE // 2
        scores = scores + torch.where(labels.view(n, 1, 1) == 0, left.view(1, 1, SIDE).float(),
                                      (~left).view(1, 1, SIDE).float())
    order = scores.flatten(1).argsort(1, descending=True)[:, :8]
    masks = torch.zeros(n, SIDE * SIDE, dtype=torch.bool).scatter_(1, order, True)
    return masks.view(n, SIDE, SIDE), labels


def _run(tmp_path: Path, leak: bool) -> dict[str, float]:
    xtr, ytr = _masks(320, leak, 0)
    xte, yte = _masks(100, leak, 1)
    result = mask_leakage_test(xtr, ytr, xte, yte, 2, tmp_path, runs=3, epochs=3, batch_size=16,
                               lr=0.05, device="cpu")
    assert len(result.true_accuracy) == 3 and len(result.shuffled_loss) == 3
    return result.summary()


def test_planted_positional_leak_is_flagged(tmp_path: Path) -> None:
    s = _run(tmp_path, leak=True)
    assert s["flagged"] == 1.0 and s["p_value"] < 0.01
    assert s["true_accuracy_mean"] > 0.9 and s["shuffled_accuracy_mean"] < 0.75


def test_random_masks_are_not_flagged(tmp_path: Path) -> None:
    s = _run(tmp_path, leak=False)
    assert s["flagged"] == 0.0
    assert abs(s["true_accuracy_mean"] - 0.5) < 0.2


def test_postprocessing_ops() -> None:
    m = torch.zeros(1, 5, 5, dtype=torch.bool)
    m[0, 2, 2] = True
    d = postprocess_masks(m, "dilate")
    assert d.sum() == 9 and d[0, 1:4, 1:4].all()
    assert torch.equal(postprocess_masks(d, "erode"), m)
    s = postprocess_masks(m.expand(50, 5, 5).clone(), "shift", radius=1, seed=0)
    assert (s.flatten(1).sum(1) == 1).all()  # an interior pixel stays inside
    assert len({tuple(x.nonzero().flatten().tolist()) for x in s}) > 1
    per_channel = postprocess_masks(torch.zeros(2, 3, 4, 4, dtype=torch.bool), "dilate")
    assert per_channel.shape == (2, 3, 4, 4)
    corners = torch.zeros(3, 6, 6, dtype=torch.bool)
    corners[0, 1, 1] = corners[0, 1, 4] = corners[0, 4, 1] = True  # a right triangle
    corners[1, 2, 1:5] = True  # collinear: kept
    corners[2, 0, 0] = True  # one pixel: kept
    hull = postprocess_masks(corners, "hull")
    tri = torch.zeros(6, 6, dtype=torch.bool)
    for r in range(1, 5):
        tri[r, 1:6 - r] = True  # pixels with row + col <= 5 inside the triangle
    assert torch.equal(hull[0], tri)
    assert torch.equal(hull[1:], corners[1:])


def test_welch_degenerate_and_errors(tmp_path: Path) -> None:
    assert one_sided_welch(np.ones(3), np.full(3, 0.5)) == 0.0
    assert one_sided_welch(np.full(3, 0.5), np.full(3, 0.5)) == 1.0
    m, y = _masks(8, False, 0)
    with pytest.raises(AttrbenchError, match="at least 3 runs"):
        mask_leakage_test(m, y, m, y, 2, tmp_path, runs=2)
    with pytest.raises(AttrbenchError, match="Unknown mask operation 'convex'"):
        postprocess_masks(m, "convex")
    with pytest.raises(AttrbenchError, match="Masks must be bool"):
        mask_leakage_test(m.float(), y, m, y, 2, tmp_path)


@pytest.mark.parametrize("radius", [1, 2])
def test_erode_and_dilate_match_scipy_with_an_unmasked_border(radius: int) -> None:
    """Pixels outside the image count as unmasked, as ``scipy.ndimage`` (border_value=0) does."""
    from scipy import ndimage

    g = torch.Generator().manual_seed(radius)
    masks = torch.rand(6, 2, 9, 7, generator=g) < 0.7
    masks[0] = True  # a full mask: only the border erodes it
    box = np.ones((1, 1, 2 * radius + 1, 2 * radius + 1), dtype=bool)
    for op, ref in (("erode", ndimage.binary_erosion), ("dilate", ndimage.binary_dilation)):
        got = postprocess_masks(masks, op, radius).numpy()
        want = ref(masks.numpy(), structure=box)
        np.testing.assert_array_equal(got, want, err_msg=op)
    full = postprocess_masks(torch.ones(1, 5, 5, dtype=torch.bool), "erode", 1)
    assert full.sum() == 9 and full[0, 1:4, 1:4].all()  # the 3x3 interior survives


def test_chain_leakage_is_stored_and_skipped_on_resume(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished leakage row is read back, not recomputed (a resumed per-iteration sweep)."""
    import attrbench.roar.leakage as leakage
    from attrbench.results import read_table
    from attrbench.roar.iterative import IteRoarConfig, run_iteroar

    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.2, repeats=1, epochs=1,
                        train_limit=48, test_limit=24, batch_size=24, device="cpu")
    run_iteroar(cfg, tmp_path)
    row = leakage.chain_leakage(cfg, tmp_path, "random", 0, 1, runs=3, epochs=1)
    assert row["iteration"] == 1 and 0.0 <= row["true_accuracy_mean"] <= 1.0

    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("recomputed a finished leakage test")

    monkeypatch.setattr(leakage, "mask_leakage_test", refuse)
    again = leakage.chain_leakage(cfg, tmp_path, "random", 0, 1, runs=3, epochs=1)
    assert again["p_value"] == pytest.approx(row["p_value"])
    assert len(read_table(tmp_path, "leakage")) == 1
