"""The shared tiny model: a seeded ``small_cnn`` (CIFAR-shaped input, 10 classes, eval mode).

Most end-to-end tests need *a* real registry model, not a particular one: they build it here
instead of each writing ``torch.manual_seed(0); create_model("small_cnn", ...)``. Directory
conftests keep the models whose structure a test relies on (``tests/methods``: BN, in-place and
functional ReLUs for the method contract; ``tests/metrics``: closed-form linear models;
``tests/robustness``: an MNIST net trained for a few seconds).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from attrbench.models import create_model


def small_cnn(seed: int = 0, *, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """``create_model("small_cnn")`` with weights drawn after ``torch.manual_seed(seed)``, in eval
    mode; the caller's global RNG state is left as it was. Input ``(B, in_channels, 32, 32)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model("small_cnn", num_classes=num_classes, in_channels=in_channels)
    return model.eval()


@pytest.fixture(scope="session")
def make_small_cnn() -> Callable[..., nn.Module]:
    """The factory :func:`small_cnn` (``make_small_cnn(seed=1)``), for module-scoped fixtures and
    tests that need several distinct models."""
    return small_cnn


@pytest.fixture
def small_cnn_model() -> nn.Module:
    """A fresh seed-0 ``small_cnn`` for cifar10-mini (10 classes, 3 x 32 x 32, eval mode)."""
    return small_cnn()


class UserNet(nn.Module):
    """A classifier the model registry does not know (the "bring your own model" tests)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class OtherNet(UserNet):
    """Same layers as :class:`UserNet`, another class (so another model identity)."""


@pytest.fixture(scope="session")
def user_nets() -> tuple[type[nn.Module], type[nn.Module]]:
    """``(UserNet, OtherNet)``: two user model classes for the train / ROAR / BAM entry points;
    a folder trained with one refuses the other. Their identity names them
    ``user:<module>.UserNet`` (``UserNet.__module__``)."""
    return UserNet, OtherNet
