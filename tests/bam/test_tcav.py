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


@pytest.mark.parametrize("arch, blocks", [
    ("small_cnn", [f"features.block{i}" for i in range(1, 6)]),
    ("cifar_resnet20", ["layer1", "layer2", "layer3"]),
    ("cifar_resnet18", ["layer1", "layer2", "layer3", "layer4"]),
    ("resnet50", ["layer1", "layer2", "layer3", "layer4"]),  # BAM: block_layer1-4 + logit
])
def test_tcav_layers_are_every_block_and_the_logits(arch: str, blocks: list[str]) -> None:
    from attrbench.bam.tcav import tcav_layers
    from attrbench.models import create_model

    with torch.device("meta"):
        model = create_model(arch, num_classes=3)
    assert tcav_layers(model) == [*blocks, "fc"]
    with pytest.raises(AttrbenchError, match="registered model"):
        tcav_layers(nn.Sequential(model))  # a foreign container: its blocks are unknown


def test_bam_tcav_reports_every_layer_with_its_t_test(make_small_cnn) -> None:
    from attrbench.bam.evaluate import BamRunConfig, run_bam_metrics
    from attrbench.bam.manifest import BamFolder, bam_mini_path

    folder = BamFolder(bam_mini_path())
    models = {name: make_small_cnn(i, num_classes=5) for i, name in enumerate(("f_o", "f_s"))}
    cfg = BamRunConfig(methods=("GC",), num_images=4, tcav_random=2, commonality=False,
                       delta_steps=1)
    res = run_bam_metrics(folder, models, cfg)
    layers = [*(f"features.block{i}" for i in range(1, 6)), "fc"]
    assert res.tcav is not None
    for name in ("f_o", "f_s"):
        part = res.tcav[res.tcav["model"] == name]
        assert part["layer"].tolist() == layers
        assert ((part["p"] >= 0) & (part["p"] <= 1)).all()
        assert (part["passed"] == (part["p"] <= 0.01)).all()
