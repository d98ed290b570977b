"""Tiny models, inputs and a literal (slow) perturbation-curve reference for the metric tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from torch import nn

SHARED_DATA = Path(__file__).resolve().parents[2] / "../shared/data"
FPA_REFERENCE = SHARED_DATA / "fpa-reference" / "cifar_ig_sum_curves.npz"


class LinearImageModel(nn.Module):
    """logits = flatten(x) @ weight.T + bias: closed-form curves for hand computation."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def tiny_cnn(seed: int = 0, channels: int = 3, classes: int = 5) -> nn.Module:
    """Conv-BN-ReLU-pool-linear; BatchNorm makes train vs eval mode matter."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, classes),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        bn = model[1]
        bn.running_mean.copy_(torch.randn(6, generator=gen) * 0.1)
        bn.running_var.copy_(torch.rand(6, generator=gen) + 0.5)
    return model


@pytest.fixture
def cnn() -> nn.Module:
    return tiny_cnn()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Images (5, 3, 6, 6) and continuous (tie-free) maps (5, 6, 6)."""
    gen = torch.Generator().manual_seed(1)
    return torch.randn(5, 3, 6, 6, generator=gen), torch.randn(5, 6, 6, generator=gen)


def literal_curves(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    counts: Sequence[int],
    order: str,
    mask_value: float = 0.0,
) -> torch.Tensor:
    """Perturbation curves written literally from the paper: one image, step and pixel at a time.

    Python's ``sorted`` is stable (also with ``reverse=True``), so on tie-free maps this equals both
    tie-break modes of the engine.
    """
    model.eval()
    _, _, h, w = images.shape
    rows = []
    with torch.no_grad():
        for b in range(images.shape[0]):
            scores = maps[b].flatten().tolist()
            ranked = sorted(range(h * w), key=lambda p: scores[p], reverse=(order == "mif"))
            target = int(model(images[b : b + 1]).argmax())
            row = []
            for n in counts:
                x = images[b].clone()
                for p in ranked[: int(n)]:
                    x[:, p // w, p % w] = mask_value
                row.append(float(model(x[None])[0, target]))
            rows.append(row)
    return torch.tensor(rows)
