"""IteROAR overlap metrics (Palacio et al. Eqs. 1-4): hand-made sequences, controls, references."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import (
    accumulated_overlap,
    check_budget,
    consecutive_overlap,
    cumulative_masked_area,
    iteration_count,
    masked_count,
    overlap_summary,
    pairwise_overlap,
    random_mask_expectations,
    top_fraction_masks,
)
from attrbench.metrics.functional.ranking import ConstantMapWarning


def _seq(*rows: list[list[int]]) -> torch.Tensor:
    """Masks (T, B=1, A) from lists of removed pixel indices on a 1x8 image."""
    out = torch.zeros(len(rows), 1, 1, 8, dtype=torch.bool)
    for i, idx in enumerate(rows):
        out[i, 0, 0, idx] = True
    return out


def _literal(masks: torch.Tensor) -> tuple[float, float, float]:
    """Slow, literal Eqs. (1), (2), (4) with Python sets, written from the paper."""
    t, b = masks.shape[:2]
    sets = [[set(masks[i, j].flatten().nonzero().flatten().tolist()) for j in range(b)]
            for i in range(t)]
    mmo = [len(sets[i][j] & sets[i + 1][j]) for i in range(t - 1) for j in range(b)]
    mamo = [len(set().union(*[sets[q][j] for q in range(i + 1)]) & sets[i + 1][j])
            for i in range(t - 1) for j in range(b)]
    cma = [len(set().union(*[sets[i][j] for i in range(t)])) for j in range(b)]
    return sum(mmo) / len(mmo), sum(mamo) / len(mamo), sum(cma) / len(cma)


def test_hand_made_sequence_known_answers() -> None:
    # masks {0,1}, {1,2}, {0,3}: MMO pairs 1, 0 -> 0.5; MAMO pairs |{0,1}&{1,2}|=1,
    # |{0,1,2}&{0,3}|=1 -> 1; CMA = |{0,1,2,3}| = 4.
    m = _seq([0, 1], [1, 2], [0, 3])
    assert consecutive_overlap(m).flatten().tolist() == [1, 0]
    assert accumulated_overlap(m).flatten().tolist() == [1, 1]
    assert cumulative_masked_area(m).tolist() == [4]
    s = overlap_summary(m, rho=0.5)
    assert (s["mmo"], s["mamo"], s["cma"]) == (0.5, 1.0, 4.0)
    assert s["mamo_frac_mask"] == 0.5 and s["mmo_frac_area"] == 0.5 / 8
    assert s["cma_frac_area"] == 0.5 and s["cma_frac_budget"] == 1.0
    assert pairwise_overlap(m).tolist() == [[2, 1, 1], [1, 2, 0], [1, 0, 2]]


def test_control_method_marks_masked_pixels_gives_maximal_mamo() -> None:
    # The "method" always re-marks the first mask: every new mask is already occluded.
    m = _seq([2, 5], [2, 5], [5, 2], [2, 5])
    s = overlap_summary(m)
    assert s["mamo"] == 2 == s["k"] and s["mamo_frac_mask"] == 1.0 and s["cma"] == 2


def test_control_method_never_marks_masked_pixels_gives_zero() -> None:
    m = _seq([0, 1], [2, 3], [4, 5], [6, 7])
    s = overlap_summary(m, rho=1 - 1e-9)
    assert s["mamo"] == 0 == s["mmo"] and s["cma"] == 8
    assert (pairwise_overlap(m) - torch.diag(torch.full((4,), 2.0))).abs().max() == 0


def test_matches_literal_loop_on_random_sequences() -> None:
    g = torch.Generator().manual_seed(3)
    masks = torch.rand(5, 7, 4, 4, generator=g) < 0.3
    s = overlap_summary(masks)
    mmo, mamo, cma = _literal(masks)
    assert s["mmo"] == pytest.approx(mmo) and s["mamo"] == pytest.approx(mamo)
    assert s["cma"] == pytest.approx(cma)


def test_random_mask_expectation_matches_simulation() -> None:
    g = torch.Generator().manual_seed(0)
    t, b, area, k = 6, 4000, 64, 8
    order = torch.rand(t, b, area, generator=g).argsort(-1)[..., :k]
    masks = torch.zeros(t, b, area, dtype=torch.bool).scatter_(-1, order, True).reshape(t, b, 8, 8)
    s = overlap_summary(masks)
    ref = random_mask_expectations(k, area, t)
    assert ref.mmo == k * k / area
    assert s["mmo"] == pytest.approx(ref.mmo, rel=0.03)
    assert s["mamo"] == pytest.approx(ref.mamo, rel=0.03)
    assert s["cma"] == pytest.approx(ref.cma, rel=0.01)
    assert s["random_cma"] == pytest.approx(ref.cma)


def test_threshold_masks_exact_count_and_tie_rule() -> None:
    scores = torch.tensor([[[0.0, 3.0], [2.0, 1.0]], [[1.0, 1.0], [1.0, 5.0]]])
    m = top_fraction_masks(scores, 50.0)
    assert m.tolist() == [[[False, True], [True, False]], [[True, False], [False, True]]]
    with pytest.warns(ConstantMapWarning, match="first 2 pixels in reading order"):
        c = top_fraction_masks(torch.full((1, 2, 2), 7.0), 50.0)
    assert c.flatten().tolist() == [True, True, False, False]
    per_elem = top_fraction_masks(torch.arange(24.0).reshape(1, 2, 3, 4), 75.0, sample_dims=3)
    assert per_elem.sum() == 6 and per_elem[0, 1, 2].all() and per_elem[0, 1, 1, 2:].all()


def test_threshold_masks_match_percentile_without_ties() -> None:
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(3, 10, 10, generator=g, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = top_fraction_masks(scores, 95.0)
    assert m.flatten(1).sum(1).tolist() == [5, 5, 5]
    for j in range(3):
        kth = scores[j].flatten().sort(descending=True).values[4]
        assert torch.equal(m[j], scores[j] >= kth)


def test_literal_percentile_rule_would_break_the_budget() -> None:
    # Documented departure: numpy's strict "> 95th percentile" keeps 52 of 1024 untied pixels.
    e = np.random.default_rng(0).random(1024)
    literal = int((e > np.percentile(e, 95)).sum())
    ours = int(top_fraction_masks(torch.from_numpy(e).view(1, 32, 32), 95.0).sum())
    assert (literal, ours) == (52, 51) and 10 * ours <= 512 < 10 * literal


@pytest.mark.parametrize(("tau", "rho", "expected"), [(95, 0.5, 10), (90, 0.5, 5), (80, 0.3, 1)])
def test_iteration_count(tau: float, rho: float, expected: int) -> None:
    assert iteration_count(tau, rho) == expected


@pytest.mark.parametrize(("tau", "rho", "match"), [
    (0, 0.5, "tau must be a percentile strictly between 0 and 100"),
    (100, 0.5, "tau must be a percentile"),
    (95, 0.0, "rho must lie strictly between 0 and 1"),
    (95, 1.0, "rho must lie strictly between 0 and 1"),
    (60, 0.3, "rho=0.3 allows less than one mask"),
])
def test_bad_tau_rho(tau: float, rho: float, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        iteration_count(tau, rho)


def test_budget_refuses_too_many_iterations() -> None:
    assert check_budget(10, 95.0, 0.5, 1024) == 51
    with pytest.raises(AttrbenchError, match="more than rho\\*A = 512; use at most 10 iterations"):
        check_budget(11, 95.0, 0.5, 1024)
    with pytest.raises(AttrbenchError, match="removes no pixel"):
        masked_count(99.9, 64)


def test_bad_inputs() -> None:
    with pytest.raises(AttrbenchError, match="contain NaN"):
        top_fraction_masks(torch.tensor([[[float("nan"), 1.0]]]), 50.0)
    with pytest.raises(AttrbenchError, match="sample dimensions"):
        top_fraction_masks(torch.zeros(4, 4), 50.0)
    with pytest.raises(AttrbenchError, match="bool \\(T, B, ...\\)"):
        consecutive_overlap(torch.zeros(2, 2, 4))
    with pytest.raises(AttrbenchError, match="at least 2 masks"):
        overlap_summary(torch.zeros(1, 2, 4, 4, dtype=torch.bool))


def test_literal_pairwise_matches() -> None:
    g = torch.Generator().manual_seed(5)
    masks = torch.rand(4, 3, 2, 3, generator=g) < 0.5
    o = pairwise_overlap(masks)
    for i, n in itertools.product(range(4), repeat=2):
        lit = sum(int((masks[i, j] & masks[n, j]).sum()) for j in range(3)) / 3
        assert math.isclose(float(o[i, n]), lit)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**31 - 1), st.floats(0.05, 0.6))
def test_identities(steps: int, batch: int, seed: int, density: float) -> None:
    """MAMO >= MMO termwise; the union grows by each new mask minus its accumulated overlap."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(steps, batch, 3, 5, generator=g) < density
    mmo, mamo = consecutive_overlap(masks), accumulated_overlap(masks)
    assert (mamo >= mmo).all()
    sizes = masks.flatten(2).sum(-1)
    assert torch.equal(cumulative_masked_area(masks), sizes[0] + (sizes[1:] - mamo).sum(0))
    assert torch.allclose(pairwise_overlap(masks).diagonal(), sizes.double().mean(1))
