"""TCAV through Captum with our torch CAV classifier: a planted concept the model uses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attrbench.bam.tcav import tcav_score
from attrbench.errors import AttrbenchError


def _model() -> nn.Module:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, 0] = 1.0  # feature 0 = red channel
        conv.weight[1, 1] = 1.0
        conv.weight[2, 2] = 1.0
    fc = nn.Linear(4, 2)
    with torch.no_grad():
        fc.weight.zero_()
        fc.weight[1, 0] = 1.0  # class 1 grows with the red feature
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc).eval()


def test_planted_concept_is_significant_and_random_is_not() -> None:
    gen = torch.Generator().manual_seed(0)
    scenes = torch.rand(80, 3, 8, 8, generator=gen) - 0.5
    concept = scenes[:20].clone()
    concept[:, 0] += 1.0  # "red object" concept
    inputs = torch.rand(16, 3, 8, 8, generator=gen) - 0.5  # ReLU gates vary per input
    result = tcav_score(_model(), ["0"], inputs, torch.ones(16, dtype=torch.long), concept,
                        scenes[20:], n_random=6)
    layer = result["layers"]["0"]
    assert layer["concept"] == pytest.approx(1.0) and layer["passed"]
    assert result["score"] == pytest.approx(1.0)
    # the class-0 logit does not depend on the concept at all: every directional derivative is 0
    flat = tcav_score(_model(), ["0"], inputs, torch.zeros(16, dtype=torch.long), concept,
                      scenes[20:], n_random=6)
    assert math.isnan(flat["score"]) or flat["score"] < 0.5
    with pytest.raises(AttrbenchError, match="n_random >= 2"):
        tcav_score(_model(), ["0"], inputs, torch.ones(16, dtype=torch.long), concept, scenes,
                   n_random=1)
