"""Seeds, devices and memory layout helpers."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.perturbation import perturbation_curves
from attrbench.runtime import (make_generator, match_memory_format, resolve_device, use_channels_last)


def test_foreign_model_keeps_its_input_layout() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    x = torch.randn(2, 3, 8, 8)
    assert match_memory_format(net, x) is x
    assert match_memory_format(nn.Linear(3, 2), torch.randn(2, 3)).is_contiguous()


def test_channels_last_model_gets_channels_last_input_and_same_curves(small_cnn_model) -> None:
    model = small_cnn_model
    fast = use_channels_last(copy.deepcopy(model))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 32, 32, generator=gen)
    assert match_memory_format(fast, x).is_contiguous(memory_format=torch.channels_last)
    maps = torch.randn(3, 32, 32, generator=gen)
    a = perturbation_curves(model, x, maps, generator=make_generator(0))
    b = perturbation_curves(fast, x, maps, generator=make_generator(0))
    torch.testing.assert_close(a.mif, b.mif, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(a.lif, b.lif, rtol=1e-4, atol=1e-4)


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(AttrbenchError, match="Unknown device 'gpu7'"):
        resolve_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(AttrbenchError, match="CUDA is not available; use --device cpu"):
            resolve_device("cuda")
