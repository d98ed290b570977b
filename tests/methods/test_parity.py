"""``--parity paper|code``: the FPA paper's text (black IG baseline, right Riemann m = 200,
SG n = 15) versus the authors' code (IG baseline 0 = gray for [-1, 1] inputs, linspace(0, 1, 200),
n = 50)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.variants import black_baseline, parity_method_params

HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # CIFAR / FPA code: inputs in [-1, 1]
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class Linear(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T


def test_black_is_pixel_zero_in_input_space() -> None:
    assert black_baseline(*HALF) == (-1.0, -1.0, -1.0)
    want = tuple(-m / s for m, s in zip(*IMAGENET, strict=True))
    assert black_baseline(*IMAGENET) == pytest.approx(want)
    with pytest.raises(AttrbenchError, match="one mean and one std per channel"):
        black_baseline((0.5,), (0.5, 0.5))


def test_paper_and_code_parameters() -> None:
    paper = parity_method_params("paper", *HALF)
    assert paper["integrated_gradients"] == {
        "baseline": (-1.0, -1.0, -1.0), "quadrature": "riemann_right", "steps": 200}
    assert paper["smoothgrad"]["n_samples"] == paper["smoothgrad_sq"]["n_samples"] == 15
    code = parity_method_params("code", *HALF)
    assert code["integrated_gradients"] == {
        "baseline": 0.0, "quadrature": "linspace", "steps": 200}
    assert code["smoothgrad"]["n_samples"] == code["smoothgrad_sq"]["n_samples"] == 50
    assert parity_method_params(None) == {}
    with pytest.raises(AttrbenchError, match="Unknown parity 'authors'"):
        parity_method_params("authors", *HALF)
    with pytest.raises(AttrbenchError, match="needs the dataset's normalisation"):
        parity_method_params("paper")


@pytest.mark.parametrize(("parity", "shift"), [("paper", 1.0), ("code", 0.0)])
def test_ig_of_a_linear_model_uses_the_parity_baseline(parity: str, shift: float) -> None:
    """IG of f(x) = w.x is exactly (x - x0) * w for any quadrature: x0 = -1 (black) or 0."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(1, 3 * 4 * 4, generator=gen)
    x = torch.rand(2, 3, 4, 4, generator=gen) * 2 - 1
    params = dict(parity_method_params(parity, *HALF)["integrated_gradients"], steps=4)
    explainer = create_method("integrated_gradients", Linear(w), **params)
    e = explainer(x, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(e, (x + shift) * w.view(1, 3, 4, 4))


@pytest.mark.extended
def test_evaluate_cli_parity_paper_records_the_black_baseline(tmp_path: Path) -> None:
    from attrbench.cli import app
    from attrbench.models import create_model, save_checkpoint

    torch.manual_seed(0)
    stem = save_checkpoint(create_model("small_cnn", num_classes=10, in_channels=3),
                           tmp_path / "model")
    runs = {}
    for parity in ("paper", "code"):
        out = tmp_path / parity
        result = CliRunner().invoke(app, [
            "evaluate", "--checkpoint", str(stem), "--out", str(out), "--num-images", "1",
            "--method", "IG_sum", "--parity", parity, "--device", "cpu",
            "--method-param", "integrated_gradients.steps=4"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        runs[parity] = json.loads((out / "config.json").read_text())
    ig = {p: runs[p]["config"]["method_params"]["integrated_gradients"] for p in runs}
    assert ig["paper"] == {"baseline": [-1.0, -1.0, -1.0], "quadrature": "riemann_right",
                           "steps": 4}  # --method-param wins over the parity
    assert ig["code"] == {"baseline": 0.0, "quadrature": "linspace", "steps": 4}
