"""A tiny MNIST classifier trained in a few seconds on the embedded ``mnist-mini`` set."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench.adversarial import InputSpace
from attrbench.data import load_dataset


def tiny_mnist_net() -> nn.Module:
    """conv(8,5x5)-ReLU-pool-conv(16,5x5)-ReLU-pool-linear; module and functional ReLUs mixed."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 49, 10),
    )


def stack(dataset, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(dataset) if n is None else n
    xs, ys = zip(*(dataset[i] for i in range(n)))
    return torch.stack(xs), torch.tensor(ys)


@pytest.fixture(scope="session")
def mnist_train() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5000 mnist-mini training images (B, 1, 28, 28) in [-1, 1] and labels (B,)."""
    return stack(load_dataset("mnist-mini", "train"))


@pytest.fixture(scope="session")
def mnist_model(mnist_train: tuple[torch.Tensor, torch.Tensor]) -> nn.Module:
    """Two Adam epochs on the 5000 mnist-mini training images (~97 % test accuracy, ~3 s)."""
    x, y = mnist_train
    with torch.random.fork_rng():  # seeded init without leaving the global RNG changed
        torch.manual_seed(0)
        model = tiny_mnist_net()
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(2):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 100):
            idx = perm[i : i + 100]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="session")
def mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    return stack(load_dataset("mnist-mini", "test"), 64)


@pytest.fixture()
def mnist_space() -> InputSpace:
    return InputSpace((0.5,), (0.5,))
