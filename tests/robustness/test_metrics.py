"""Robustness measures (Kamath et al. 2024; Ghorbani et al. 2019): hand-computed cases incl. borders
and ties, literal reference loops, SciPy references, hypothesis properties and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.robustness import (
    attribution_map,
    kendall,
    lens_precision,
    lens_recall,
    measure_names,
    robustness_measures,
    spearman,
    topk_intersection,
)
from attrbench.metrics.functional.topk import default_k, dilate, diverse_topk_mask, topk_mask


def points(h: int, w: int, *pixels: tuple[int, int]) -> torch.Tensor:
    """A (1, h, w) bool mask with the given (row, col) pixels set."""
    m = torch.zeros(1, h, w, dtype=torch.bool)
    for r, c in pixels:
        m[0, r, c] = True
    return m


def ranked_map(h: int, w: int, *pixels: tuple[int, int]) -> torch.Tensor:
    """A (1, h, w) map whose top pixels are ``pixels`` in that order, all others 0."""
    m = torch.zeros(1, h, w)
    for i, (r, c) in enumerate(pixels):
        m[0, r, c] = 100.0 - i
    return m


def literal_nms(values: np.ndarray, k: int, w: int) -> set[tuple[int, int]]:
    """The greedy NMS exactly as the paper describes it, one pixel at a time (slow reference)."""
    h, wd = values.shape
    order = sorted(((-values[r, c], r * wd + c) for r in range(h) for c in range(wd)))
    alive = {(r, c) for r in range(h) for c in range(wd)}
    chosen: set[tuple[int, int]] = set()
    for _, flat in order:
        r, c = divmod(flat, wd)
        if len(chosen) == k:
            break
        if (r, c) not in alive:
            continue
        chosen.add((r, c))
        for dr in range(-w, w + 1):
            for dc in range(-w, w + 1):
                alive.discard((r + dr, c + dc))
    return chosen


def as_set(mask: torch.Tensor) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in mask.nonzero().tolist()}


# ------------------------------------------------------------------ top-k, dilation, NMS by hand


def test_topk_ties_smaller_flat_index_wins() -> None:
    m = torch.tensor([[[3.0, 1.0], [3.0, 2.0]]])
    assert as_set(topk_mask(m, 1)[0]) == {(0, 0)}
    assert as_set(topk_mask(m, 2)[0]) == {(0, 0), (1, 0)}
    assert as_set(topk_mask(m, 3)[0]) == {(0, 0), (1, 0), (1, 1)}
    flat = torch.zeros(1, 2, 3)  # all tied: the first k flat indices
    assert as_set(topk_mask(flat, 4)[0]) == {(0, 0), (0, 1), (0, 2), (1, 0)}


def test_dilation_clips_at_borders_and_includes_pixel_zero() -> None:
    got = dilate(points(4, 5, (0, 0)), 1)[0]
    assert as_set(got) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    # last pixel of row 0: the window must not wrap to the start of row 1 (authors' flat-index bug)
    got = dilate(points(4, 5, (0, 4)), 1)[0]
    assert as_set(got) == {(0, 3), (0, 4), (1, 3), (1, 4)}
    assert not got[1, 0]
    corner = dilate(points(4, 5, (3, 4)), 2)[0]
    assert as_set(corner) == {(r, c) for r in (1, 2, 3) for c in (2, 3, 4)}
    assert torch.equal(dilate(points(4, 5, (2, 2)), 0), points(4, 5, (2, 2)))
    assert int(dilate(points(9, 9, (4, 4)), 3).sum()) == 49


def test_nms_takes_the_second_survivor() -> None:
    """1x6 ramp with w = 1: picks 0, 2, 4 (the authors' topkDiv would skip the 2nd survivor)."""
    m = torch.tensor([[[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]]])
    assert as_set(diverse_topk_mask(m, 3, 1)[0]) == {(0, 0), (0, 2), (0, 4)}
    assert as_set(diverse_topk_mask(m, 2, 2)[0]) == {(0, 0), (0, 3)}


def test_nms_2d_with_border_and_ties() -> None:
    # 4x4, best pixel in the corner (3,3); its 3x3 window is clipped by the border
    m = torch.zeros(1, 4, 4)
    m[0, 3, 3], m[0, 2, 2], m[0, 3, 1], m[0, 0, 0] = 9, 8, 7, 6
    got = as_set(diverse_topk_mask(m, 3, 1)[0])
    assert got == {(3, 3), (3, 1), (0, 0)}  # (2,2) is suppressed by (3,3)
    ties = torch.ones(1, 1, 5)
    assert as_set(diverse_topk_mask(ties, 3, 1)[0]) == {(0, 0), (0, 2), (0, 4)}


def test_nms_runs_out_of_candidates_and_candidate_limit() -> None:
    m = torch.zeros(1, 3, 3)
    m[0, 1, 1] = 1.0
    assert as_set(diverse_topk_mask(m, 5, 1)[0]) == {(1, 1)}
    ramp = torch.arange(9, 0, -1, dtype=torch.float32).view(1, 1, 9)
    assert as_set(diverse_topk_mask(ramp, 4, 1, candidates=3)[0]) == {(0, 0), (0, 2)}


def test_nms_matches_literal_loop_on_random_maps() -> None:
    gen = torch.Generator().manual_seed(3)
    maps = torch.randint(0, 6, (4, 9, 11), generator=gen).to(torch.float32)  # many ties
    for w in (1, 2, 3):
        got = diverse_topk_mask(maps, 12, w)
        for i in range(4):
            assert as_set(got[i]) == literal_nms(maps[i].numpy(), 12, w)


def test_lens_hand_computed_and_no_row_wrap() -> None:
    o = ranked_map(4, 4, (0, 0))
    p = ranked_map(4, 4, (1, 1))
    assert topk_intersection(o, p, 1).item() == 0.0
    assert lens_recall(o, p, 1, 1).item() == 1.0
    assert lens_precision(o, p, 1, 1).item() == 1.0
    far = ranked_map(4, 4, (0, 2))
    assert lens_recall(o, far, 1, 1).item() == 0.0
    assert lens_recall(o, far, 1, 2).item() == 1.0
    # (0,3) and (1,0) are neighbours in flat index (3, 4) but 3 columns apart in the image
    a, b = ranked_map(4, 4, (0, 3)), ranked_map(4, 4, (1, 0))
    assert lens_recall(a, b, 1, 1).item() == 0.0
    assert lens_precision(a, b, 1, 1).item() == 0.0


def test_lens_recall_and_precision_differ() -> None:
    o = ranked_map(5, 5, (0, 0), (4, 4))
    p = ranked_map(5, 5, (1, 1), (2, 4))  # (1,1) next to (0,0); (2,4) is 2 rows from (4,4)
    assert topk_intersection(o, p, 2).item() == 0.0
    assert lens_recall(o, p, 2, 1).item() == 0.5
    assert lens_precision(o, p, 2, 1).item() == 0.5
    assert lens_recall(o, p, 2, 2).item() == 1.0


def test_measures_hand_computed_diverse() -> None:
    o = torch.tensor([[[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]]])
    p = torch.tensor([[[1.0, 6.0, 5.0, 4.0, 3.0, 2.0]]])
    r = robustness_measures(o, p, k=2, windows=(1,), rank=False)
    # D_O = {0, 2}, D_P = {1, 3}; N_1(D_O) = {0..3} -> recall 2/2; N_1(D_P) = {0..4} -> precision 1
    assert r["topk_intersection"].item() == 0.5  # O = {0, 1}, P = {1, 2}
    assert r["topk_div_intersection_w1"].item() == 0.0
    assert r["lens_recall_div_w1"].item() == 1.0
    assert r["lens_precision_div_w1"].item() == 1.0


def test_rank_correlations_match_scipy_with_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (3, 6, 7), generator=gen).to(torch.float32)
    b = a + torch.randint(0, 3, (3, 6, 7), generator=gen).to(torch.float32)
    sp, kd = spearman(a, b), kendall(a, b)
    for i in range(3):
        x, y = a[i].flatten().numpy(), b[i].flatten().numpy()
        assert sp[i].item() == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert kd[i].item() == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    flat = torch.ones(1, 3, 3)
    assert spearman(flat, flat).item() == 1.0 and kendall(flat, flat).item() == 1.0
    assert spearman(flat, a[:1, :3, :3]).item() == 0.0


def test_batch_equals_per_image_and_names() -> None:
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 10, 12, generator=gen), torch.rand(3, 10, 12, generator=gen)
    full = robustness_measures(a, b, k=15)
    assert list(full) == measure_names()
    for i in range(3):
        one = robustness_measures(a[i : i + 1], b[i : i + 1], k=15)
        for name in full:
            assert full[name][i].item() == pytest.approx(one[name].item(), abs=1e-12)


def test_attribution_map_and_default_k() -> None:
    e = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])
    assert torch.equal(attribution_map(e), torch.tensor([[[4.0, 2.5]]]))
    assert default_k(28, 28) == 100
    assert default_k(128, 128) == 1000
    assert default_k(227, 227) == 1000
    assert default_k(32, 32) == 122
    assert default_k(1, 1) == 1


# ------------------------------------------------------------------ properties


@st.composite
def map_pairs(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    levels = draw(st.sampled_from([2, 4, 1000]))  # few levels = many ties
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(0, levels, (2, h, w), generator=gen).to(torch.float32)
    b = torch.randint(0, levels, (2, h, w), generator=gen).to(torch.float32)
    k = draw(st.integers(1, h * w))
    radius = draw(st.integers(0, 3))
    return a, b, k, radius


@settings(max_examples=60, deadline=None)
@given(map_pairs())
def test_plain_le_lens_le_one(case: tuple[torch.Tensor, torch.Tensor, int, int]) -> None:
    a, b, k, w = case
    r = robustness_measures(a, b, k=k, windows=(w,), rank=False)
    inter = r["topk_intersection"]
    for name in (f"lens_recall_w{w}", f"lens_precision_w{w}"):
        assert bool((inter <= r[name] + 1e-12).all()) and bool((r[name] <= 1.0).all())
    div = r[f"topk_div_intersection_w{w}"]
    for name in (f"lens_recall_div_w{w}", f"lens_precision_div_w{w}"):
        assert bool((div <= r[name] + 1e-12).all()) and bool((r[name] <= 1.0 + 1e-12).all())
    assert bool((div >= 0).all())


@settings(max_examples=40, deadline=None)
@given(map_pairs())
def test_identical_maps_give_one(case: tuple[torch.Tensor, torch.Tensor, int, int]) -> None:
    a, _, k, w = case
    r = robustness_measures(a, a.clone(), k=k, windows=(w,))
    for name, value in r.items():
        assert torch.allclose(value, torch.ones_like(value)), name


# ------------------------------------------------------------------ errors


def test_errors() -> None:
    m = torch.rand(2, 4, 4)
    with pytest.raises(AttrbenchError, match=r"k = 17 exceeds the 16 pixels of a 4x4 map"):
        robustness_measures(m, m, k=17)
    with pytest.raises(AttrbenchError, match=r"k must be >= 1"):
        topk_intersection(m, m, 0)
    with pytest.raises(AttrbenchError, match=r"radius w must be >= 0"):
        robustness_measures(m, m, k=3, windows=(-1,))
    with pytest.raises(AttrbenchError, match=r"radius w must be >= 0"):
        diverse_topk_mask(m, 3, -2)
    with pytest.raises(AttrbenchError, match=r"same shape"):
        spearman(m, torch.rand(2, 4, 5))
    with pytest.raises(AttrbenchError, match=r"shape \(B, H, W\)"):
        kendall(m.unsqueeze(1), m.unsqueeze(1))
    with pytest.raises(AttrbenchError, match=r"contain NaN"):
        topk_mask(torch.full((1, 2, 2), float("nan")), 1)
    with pytest.raises(AttrbenchError, match=r"candidates must be an integer >= 1"):
        diverse_topk_mask(m, 3, 1, candidates=0)
    with pytest.raises(AttrbenchError, match=r"\(B, C, H, W\)"):
        attribution_map(m)
