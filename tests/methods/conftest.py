"""Tiny models and images for the method tests (CPU, milliseconds per call)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

#: Per-method overrides that keep the contract tests fast (fewer IG steps and SG samples).
FAST: dict[str, dict] = {
    "integrated_gradients": {"steps": 8},
    "integrated_gradients_smoothgrad": {"steps": 3, "n_samples": 2},
    "smoothgrad": {"n_samples": 4},
    "smoothgrad_sq": {"n_samples": 4},
    "vargrad": {"n_samples": 4},
    "occlusion": {"window": 2, "stride": 2},
}


class ConvReLU(nn.Module):
    """A conv followed by a *functional* ReLU (what Captum's GuidedBackprop cannot see)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class TinyConv(nn.Module):
    """conv-BN-ReLU(module, in place) -> conv-ReLU(functional) -> dropout -> GAP -> linear (5).

    ``features`` ends at the last conv block, so CAM applies with layer='features', fc_layer='fc'.
    """

    def __init__(self, in_channels: int = 3, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
            ConvReLU(6, 8, stride=2),
        )
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.fc(self.drop(h).mean(dim=(2, 3)))


class SmoothNet(nn.Module):
    """A smooth (softplus/tanh) conv net: IG's path integral is well approximated by quadrature."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 8 * 8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.softplus(self.c1(x))
        h = torch.tanh(self.c2(h))
        return self.fc(h.flatten(1))


class GapNet(nn.Module):
    """Hand-built global-average-pooling model: logits = fc(mean_{h,w} features(x))."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, stride=2), nn.ReLU())
        self.fc = nn.Linear(6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _seeded(module: nn.Module, seed: int = 0, scale: float = 0.5) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module


@pytest.fixture
def tiny_model() -> TinyConv:
    model = _seeded(TinyConv())
    # Non-trivial BN statistics, so train vs eval mode would change the output.
    model.features[1].running_mean.fill_(0.3)
    model.features[1].running_var.fill_(2.0)
    return model


@pytest.fixture
def smooth_model() -> SmoothNet:
    return _seeded(SmoothNet(), 1, scale=0.3).eval()


@pytest.fixture
def gap_model() -> GapNet:
    return _seeded(GapNet(), 2).eval()


@pytest.fixture
def images() -> torch.Tensor:
    """(3, 3, 8, 8) images in [-1, 1] (the FPA input space)."""
    return torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1


def layer_kwargs(name: str) -> dict:
    """The layer arguments a registry method needs for :class:`TinyConv`."""
    if name in ("grad_cam", "guided_grad_cam"):
        return {"layer": "features"}
    if name == "cam":
        return {"layer": "features", "fc_layer": "fc"}
    return {}


@pytest.fixture
def make():
    """``make(name, model, **extra)``: a registry explainer with the fast test overrides."""
    from attrbench.methods import create_method

    def build(name: str, model: nn.Module, **extra: object):
        return create_method(name, model, **{**FAST.get(name, {}), **layer_kwargs(name), **extra})

    return build
