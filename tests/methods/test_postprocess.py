"""Post-processing steps against NumPy, and chain validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.postprocess import keeps_sign, list_postprocess, minmax_p99, parse_steps, postprocess


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 5, 6, generator=gen), torch.rand(2, 3, 5, 6, generator=gen) * 2 - 1


def test_registered_steps() -> None:
    assert list_postprocess() == [
        "abs_sum", "input_abs_sum", "input_sum", "minmax_p99", "positive_sum", "sum"
    ]
    assert list_postprocess("map") == ["minmax_p99"]


def test_reductions_against_numpy(pair) -> None:
    e, x = pair
    en, xn = e.numpy(), x.numpy()
    expected = {
        "sum": en.sum(1),
        "abs_sum": np.abs(en).sum(1),
        "input_sum": (xn * en).sum(1),
        "input_abs_sum": np.abs(xn * en).sum(1),  # abs after the product (NOTES §1.5)
        "positive_sum": np.maximum(en, 0).sum(1),
    }
    for name, want in expected.items():
        got = postprocess(e, x, name)
        assert got.shape == (2, 5, 6)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)


def test_minmax_p99_against_numpy(pair) -> None:
    m = pair[0].sum(1)
    got = minmax_p99(m).numpy()
    for b in range(2):
        a = m[b].numpy().astype(np.float64)
        want = np.clip((a - a.min()) / (np.percentile(a, 99) - a.min()), 0, 1)
        np.testing.assert_allclose(got[b], want, rtol=1e-5, atol=1e-6)
    assert got.min() == 0 and got.max() == 1


def test_minmax_p99_degenerate_maps() -> None:
    flat = torch.zeros(1, 4, 4)
    assert torch.equal(minmax_p99(flat), flat)
    spike = torch.zeros(1, 10, 10)
    spike[0, 0, 0] = 5.0  # P99 equals the minimum: the spike maps to 1, the rest to 0
    assert torch.equal(minmax_p99(spike), (spike > 0).float())


def test_chain(pair) -> None:
    e, x = pair
    out = postprocess(e, x, "positive_sum|minmax_p99")
    torch.testing.assert_close(out, minmax_p99(e.clamp_min(0).sum(1)))
    assert parse_steps(["abs_sum", "minmax_p99"]) == ("abs_sum", "minmax_p99")
    assert keeps_sign("input_sum")
    assert not keeps_sign("sum|minmax_p99") and not keeps_sign("abs_sum")


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        ("minmax_p99", r"must start with exactly one channel reduction"),
        ("sum|abs_sum", r"must start with exactly one channel reduction"),
        ("sum||minmax_p99", r"Empty post-processing step"),
        ("abs", r"Unknown post-processing step 'abs'\. Did you mean 'abs_sum'"),
    ],
)
def test_bad_chains(chain: str, message: str, pair) -> None:
    with pytest.raises(AttrbenchError, match=message):
        postprocess(*pair, chain)


def test_input_steps_need_images(pair) -> None:
    e, x = pair
    with pytest.raises(AttrbenchError, match=r"'input_sum' multiplies by the input; pass the"):
        postprocess(e, None, "input_sum")
    with pytest.raises(AttrbenchError, match=r"must have the same shape"):
        postprocess(e, x[:1], "input_abs_sum")
    with pytest.raises(AttrbenchError, match=r"Attributions must have shape \(B, C, H, W\)"):
        postprocess(e[0], x[0], "sum")
