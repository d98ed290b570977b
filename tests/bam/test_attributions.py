"""BAM's own attribution settings: IG on linspace(0, 1, 25) and the squared IG-SmoothGrad.

The authors call ``saliency``'s ``GetSmoothedMask`` around ``IntegratedGradients.GetMask`` with
the default ``magnitude=True`` (NOTES §2.3): BAM's "IG-SG" is the mean over noisy copies of the
*squared* IG map, and IG's path points are ``linspace(0, 1, 25)`` (both ends included).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.bam.attributions import bam_explainer
from attrbench.bam.evaluate import resolve_method
from attrbench.methods import create_method
from attrbench.methods.noise import ImageNoise


class Linear(nn.Module):
    """logits = W x.flatten(): every input gradient is a row of W, so IG is exact at any m."""

    def __init__(self, gen: torch.Generator) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(3, 48, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class Square(nn.Module):
    """logits = [sum(x^2), 0]: grad = 2 x, so the IG quadrature rule shows in the result."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.square().flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def test_bam_ig_sg_is_mean_of_squared_ig_on_a_linear_model() -> None:
    gen = torch.Generator().manual_seed(0)
    model = Linear(gen).eval()
    x = torch.rand(5, 3, 4, 4, generator=gen) * 2 - 1
    target = torch.tensor([0, 1, 2, 0, 1])
    name, overrides = resolve_method("IG-SG", -1.0)
    e = bam_explainer(name, model, max_batch=7, **overrides)(x, target)
    # closed form: IG(x + eps) = (x + eps - x0) * w_target for any rule whose weights sum to 1
    n, sigma = 25, 0.15 * (x.flatten(1).amax(1) - x.flatten(1).amin(1))
    w = model.fc.weight.detach()[target].view(5, 3, 4, 4)
    noise = ImageNoise(x, 0)
    expected = torch.zeros_like(x, dtype=torch.float64)
    for s in range(n):
        eps = noise.normal(torch.arange(5), torch.full((5,), s)) * sigma.view(-1, 1, 1, 1)
        expected += ((x + eps + 1.0) * w).double().square() / n
    torch.testing.assert_close(e.double(), expected, rtol=1e-4, atol=1e-6)
    assert (e >= 0).all()


def test_unsquared_mean_matches_the_registered_ig_smoothgrad() -> None:
    # same noise draws and path points: the mean of the per-copy IGs is the library's IG-SG
    from attrbench.bam.attributions import noisy_integrated_gradients

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(),
                          nn.Linear(64, 3)).eval()
    x = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 2, 1])
    params = {"steps": 6, "quadrature": "linspace", "baseline": 0.0, "n_samples": 4,
              "noise_level": 0.2, "seed": 3}
    with torch.enable_grad():
        per_copy = noisy_integrated_gradients(model, x, target, params, max_batch=5)
    assert per_copy.shape == (3, 4, 3, 4, 4)
    ref = create_method("integrated_gradients_smoothgrad", model, **params)(x, target)
    torch.testing.assert_close(per_copy.mean(1).float(), ref, rtol=1e-4, atol=1e-6)


def test_bam_ig_uses_linspace_25_points() -> None:
    name, overrides = resolve_method("IG", -1.0)
    assert (name, overrides["steps"], overrides["quadrature"]) == (
        "integrated_gradients", 25, "linspace")
    x = torch.full((1, 1, 2, 2), 2.0)
    e = bam_explainer(name, Square(), **{**overrides, "baseline": 0.0})(x, torch.tensor([0]))
    # linspace(0, 1, 25) has mean 0.5: IG = x * 2 x * 0.5 = x^2 = 4 (exact, = f(x) - f(0) per px);
    # the right Riemann sum would give x * 2 x * 13/25 = 4.16.
    torch.testing.assert_close(e, torch.full_like(x, 4.0))


def test_bam_ig_sg_uses_linspace_and_black() -> None:
    name, overrides = resolve_method("IG-SG", (-1.0, -2.0, -3.0))
    assert overrides["quadrature"] == "linspace" and overrides["steps"] == 25
    assert overrides["n_samples"] == 25 and overrides["noise_level"] == pytest.approx(0.15)
    assert overrides["baseline"] == (-1.0, -2.0, -3.0)
