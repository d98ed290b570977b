"""Pixel rankings: MIF/LIF order, tie-breaks, inversion, the authors' argsort, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional import ConstantMapWarning, pixel_order, pixel_ranks

from .conftest import FPA_REFERENCE


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("tie_break", ["random", "reference"])
def test_order_without_ties_is_sorted_by_score(tie_break: str) -> None:
    maps = torch.tensor([[[0.1, 0.4], [0.2, 0.3]], [[-1.0, 5.0], [2.0, -3.0]]])
    assert pixel_order(maps, "mif", tie_break).tolist() == [[1, 3, 2, 0], [1, 2, 0, 3]]
    assert pixel_order(maps, "lif", tie_break).tolist() == [[0, 2, 3, 1], [3, 0, 2, 1]]


def test_random_tie_break_is_seeded_and_keeps_score_order() -> None:
    maps = torch.randint(0, 4, (3, 8, 8), generator=gen(0)).float()  # many ties
    a = pixel_order(maps, "mif", "random", gen(5))
    assert torch.equal(a, pixel_order(maps, "mif", "random", gen(5)))
    assert not torch.equal(a, pixel_order(maps, "mif", "random", gen(6)))
    assert torch.equal(
        pixel_order(maps, "mif"), pixel_order(maps, "mif", "random", gen(0))
    )  # default seed 0
    scores = maps.flatten(1).gather(1, a)
    assert bool((scores[:, 1:] <= scores[:, :-1]).all())  # still most important first
    lif_scores = maps.flatten(1).gather(1, pixel_order(maps, "lif", "random", gen(5)))
    assert bool((lif_scores[:, 1:] >= lif_scores[:, :-1]).all())


def test_random_tie_break_shuffles_ties_uniformly_enough() -> None:
    maps = torch.zeros(400, 1, 3)
    with pytest.warns(ConstantMapWarning):
        first = pixel_order(maps, "mif", "random", gen(0))[:, 0]
    counts = torch.bincount(first, minlength=3)
    assert bool((counts > 100).all()), counts  # each of 3 tied pixels comes first ~1/3 of the time


def test_reference_mode_mif_is_reversed_lif_and_stable_argsort() -> None:
    maps = torch.randint(0, 3, (4, 5, 5), generator=gen(2)).float()
    lif = pixel_order(maps, "lif", "reference")
    mif = pixel_order(maps, "mif", "reference")
    assert torch.equal(mif, lif.flip(1))
    expected = np.argsort(maps.flatten(1).numpy(), axis=1, kind="stable")
    assert np.array_equal(lif.numpy(), expected)


def test_pixel_ranks_inverts_the_order() -> None:
    order = pixel_order(torch.randn(3, 4, 4, generator=gen(3)), "mif")
    ranks = pixel_ranks(order)
    assert torch.equal(ranks.gather(1, order), torch.arange(16).expand(3, 16))
    assert ranks.dtype == torch.int64


@pytest.mark.shared_data
@pytest.mark.parametrize("model", ["none", "fpa", "rectangle"])
def test_reference_order_matches_numpy_argsort_on_authors_ig_maps(model: str) -> None:
    if not FPA_REFERENCE.exists():
        pytest.skip("shared FPA reference data not available")
    maps = np.load(FPA_REFERENCE)[f"{model}_ig_maps"].sum(axis=1)  # IG_sum: (10, 32, 32) float64
    flat = maps.reshape(10, -1)
    assert all(np.unique(row).size == row.size for row in flat)  # no ties in these float64 maps
    authors = np.argsort(flat, axis=1)  # the authors' (unstable) ascending argsort
    t = torch.from_numpy(maps)
    assert np.array_equal(pixel_order(t, "lif", "reference").numpy(), authors)
    assert np.array_equal(pixel_order(t, "mif", "reference").numpy(), authors[:, ::-1])
    assert np.array_equal(pixel_order(t, "mif", "random").numpy(), authors[:, ::-1])


def test_constant_map_warns() -> None:
    maps = torch.randn(3, 4, 4, generator=gen(0))
    maps[1] = 0.7
    with pytest.warns(ConstantMapWarning, match="1 of 3 importance maps are constant"):
        pixel_order(maps, "mif")


@pytest.mark.parametrize(
    ("maps", "kwargs", "match"),
    [
        (torch.zeros(4, 4), {}, r"shape \(B, H, W\)"),
        (torch.zeros(1, 3, 4, 4), {}, "Reduce the channels"),
        (torch.zeros(0, 4, 4), {}, "empty batch"),
        (torch.tensor([[[0.0, float("nan")]]]), {}, r"NaN for images \[0\]"),
        (torch.zeros(1, 2, 2), {"order": "most"}, "Unknown order 'most'"),
        (torch.zeros(1, 2, 2), {"tie_break": "stable"}, "Unknown tie_break 'stable'"),
    ],
)
def test_bad_maps_raise(maps: torch.Tensor, kwargs: dict, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        pixel_order(maps, **kwargs)
