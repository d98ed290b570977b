"""Fidelity A: hand computation, SciPy CIs, the authors' CIFAR curves, exclusion rule, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional import auc, fidelity, normalise_curves

from .conftest import FPA_REFERENCE


def test_hand_computed_areas() -> None:
    mif = torch.tensor([[2.0, 1.0, 0.0], [4.0, 4.0, 2.0]])
    lif = torch.tensor([[2.0, 2.0, 2.0], [4.0, 6.0, 4.0]])
    # x = 0, 50, 100. Normalised MIF rows [1, .5, 0] -> 37.5 + 12.5 = 50;
    # [1, 1, .5] -> 50 + 37.5 = 87.5
    # LIF rows [1, 1, 1] -> 100; [1, 1.5, 1] -> 62.5 + 62.5 = 125
    torch.testing.assert_close(
        normalise_curves(mif)[0], torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        auc(normalise_curves(mif), torch.tensor([0.0, 50.0, 100.0])),
        torch.tensor([50.0, 87.5], dtype=torch.float64),
    )
    r = fidelity(mif, lif)
    assert r.auc_mif_mean == pytest.approx(68.75) and r.auc_lif_mean == pytest.approx(112.5)
    assert r.a == pytest.approx(43.75)
    # var_MIF = 18.75^2, var_LIF = 12.5^2 (ddof 0)
    z95 = float(stats.norm.ppf(0.975))  # the default: the exact quantile, 1.959964
    assert r.z == z95
    assert r.ci_half_width == pytest.approx(z95 * math.sqrt(18.75**2 + 12.5**2) / math.sqrt(2))
    printed = fidelity(mif, lif, z=1.96)  # the paper's printed 1.96 stays available
    assert printed.ci_half_width == pytest.approx(1.96 * math.sqrt(18.75**2 + 12.5**2) / 2**0.5)
    assert r.n_used == 2 and r.n_excluded == 0 and r.excluded == ()
    assert fidelity(mif, lif, [0.0, 10.0, 20.0]).a == pytest.approx(43.75 / 5)


def test_ci_against_scipy() -> None:
    gen = torch.Generator().manual_seed(0)
    mif = torch.rand(50, 11, generator=gen) + 0.5
    lif = mif + torch.rand(50, 11, generator=gen)
    lif[:, 0] = mif[:, 0]
    x = np.linspace(0, 100, 11)
    am = np.trapezoid(mif.numpy() / mif.numpy()[:, :1], x, axis=1)
    al = np.trapezoid(lif.numpy() / lif.numpy()[:, :1], x, axis=1)
    for ci, scale in (
        ("independent", np.sqrt(np.var(am) + np.var(al)) / np.sqrt(50)),
        ("paired", np.std(al - am) / np.sqrt(50)),
    ):
        for level in (0.9, 0.95, 0.99):
            lo, hi = stats.norm.interval(level, loc=al.mean() - am.mean(), scale=scale)
            exact_z = float(stats.norm.ppf((1 + level) / 2))
            r = fidelity(mif, lif, ci=ci, level=level, z=exact_z)
            assert r.a == pytest.approx(al.mean() - am.mean(), rel=1e-5)
            assert r.ci_half_width == pytest.approx((hi - lo) / 2, rel=1e-5)
            # Default: the exact quantile of the requested level (as scipy's norm.interval).
            default = fidelity(mif, lif, ci=ci, level=level)
            assert default.z == exact_z
            assert default.ci_half_width == pytest.approx((hi - lo) / 2, rel=1e-5)
            printed = fidelity(mif, lif, ci=ci, level=level, z=round(exact_z, 2))
            assert printed.ci_half_width == pytest.approx(round(exact_z, 2) * scale, rel=1e-5)
    paired = fidelity(mif, lif, ci="paired")
    assert paired.ci == "paired" and paired.a == fidelity(mif, lif).a


def test_nonpositive_step0_excluded_and_reported() -> None:
    mif = torch.tensor([[2.0, 1.0, 0.0], [-1.0, 0.0, 1.0], [4.0, 4.0, 2.0], [0.0, 1.0, 1.0]])
    lif = torch.tensor([[2.0, 2.0, 2.0], [-1.0, 3.0, 4.0], [4.0, 6.0, 4.0], [0.0, 1.0, 1.0]])
    r = fidelity(mif, lif)
    assert r.n_used == 2 and r.n_excluded == 2 and r.excluded == (1, 3)
    clean = fidelity(mif[[0, 2]], lif[[0, 2]])
    assert r.a == clean.a and r.ci_half_width == clean.ci_half_width
    with pytest.raises(
        AttrbenchError, match=r"2 images have a step-0 logit <= 0 \(rows \[1, 3\]\)"
    ):
        fidelity(mif, lif, nonpositive="error")
    with pytest.raises(AttrbenchError, match="No image has a positive step-0 logit"):
        fidelity(mif[[1, 3]], lif[[1, 3]])


def test_format() -> None:
    r = fidelity(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[2.0, 2.0, 2.0]]))
    assert r.format() == "50.00 ± 0.00" and r.format(1) == "50.0 ± 0.0"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("model", "mif", "lif", "text", "text_z196"),
    [
        ("fpa", 28.469, 87.881, "59.41 ± 13.41", "59.41 ± 13.41"),
        ("none", 21.203, 37.688, "16.48 ± 12.50", "16.48 ± 12.50"),
        # default: the authors' exact quantile, 21.2749; z = 1.96 as the paper prints it: 21.2753
        ("rectangle", 21.017, 33.204, "12.19 ± 21.27", "12.19 ± 21.28"),
    ],
)
def test_authors_cifar_ig_sum_curves(
    model: str, mif: float, lif: float, text: str, text_z196: str
) -> None:
    if not FPA_REFERENCE.exists():
        pytest.skip("shared FPA reference data not available")
    data = np.load(FPA_REFERENCE)
    r = fidelity(data[f"{model}_mif"], data[f"{model}_lif"])
    assert r.auc_mif_mean == pytest.approx(mif, abs=5e-4)
    assert r.auc_lif_mean == pytest.approx(lif, abs=5e-4)
    assert r.format() == text and r.n_used == 10 and r.n_excluded == 0
    assert r.z == float(stats.norm.ppf(0.975))
    exact = r
    assert fidelity(data[f"{model}_mif"], data[f"{model}_lif"], z=1.96).format() == text_z196
    if model == "fpa":  # the values the authors' notebook printed from its pickle (perturb.ipynb)
        assert (exact.a, exact.ci_half_width) == pytest.approx((59.411431, 13.412625), abs=1e-6)
        assert (r.auc_mif_mean, r.auc_lif_mean) == pytest.approx((28.469208, 87.880639), abs=1e-6)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (
            (torch.ones(3, 5), torch.ones(3, 4)),
            {},
            r"mif \(3, 5\) and lif \(3, 4\) must have the same shape",
        ),
        ((torch.ones(3), torch.ones(3)), {}, r"shape \(N, S\+1\)"),
        ((torch.ones(0, 5), torch.ones(0, 5)), {}, "no curves"),
        ((torch.tensor([[1.0, float("nan")]]), torch.ones(1, 2)), {}, "NaN or infinite"),
        ((torch.ones(2, 3), torch.ones(2, 3)), {"ci": "bootstrap"}, "Unknown ci 'bootstrap'"),
        (
            (torch.ones(2, 3), torch.ones(2, 3)),
            {"level": 95},
            "level must lie strictly between 0 and 1",
        ),
        ((torch.ones(2, 3), torch.ones(2, 3)), {"nonpositive": "clip"}, "Unknown nonpositive rule"),
        ((torch.ones(2, 3), torch.ones(2, 3)), {"z": -1.0}, "z must be a positive"),
        (
            (torch.ones(2, 3), torch.ones(2, 3), [0.0, 1.0]),
            {},
            "x has 2 points but the curves have 3",
        ),
    ],
)
def test_bad_input_raises(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        fidelity(*args, **kwargs)
