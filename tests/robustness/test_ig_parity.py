"""The robustness pipeline's IG: registry defaults (baseline 0 = gray for [-1, 1] inputs, 200
right-Riemann points) unless ``parity="code"`` selects the LENS code's black image with 100 points
(NOTES §5.1); the LENS text fixes neither (issue 11 item 6)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.robustness.pipeline import RobustnessConfig, method_overrides, run_robustness
from attrbench.adversarial import InputSpace

IMAGENET = InputSpace((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_code_parity_is_the_lens_black_baseline_with_100_steps() -> None:
    cfg = RobustnessConfig(methods=("integrated_gradients",), parity="code").validate()
    ig = method_overrides(cfg, "integrated_gradients", InputSpace((0.5,), (0.5,)))
    assert ig == {"baseline": (-1.0,), "steps": 100, "quadrature": "riemann_right"}
    rgb = method_overrides(cfg, "integrated_gradients", IMAGENET)["baseline"]
    assert rgb == pytest.approx(tuple(-m / s for m, s in zip(IMAGENET.mean, IMAGENET.std)))
    assert method_overrides(cfg, "vanilla_gradient", IMAGENET) == {}
    mine = RobustnessConfig(methods=("integrated_gradients",), parity="code",
                            method_params={"integrated_gradients": {"steps": 7}})
    assert method_overrides(mine, "integrated_gradients", IMAGENET)["steps"] == 7  # user wins


def test_default_and_bad_parity() -> None:
    cfg = RobustnessConfig(methods=("integrated_gradients",)).validate()
    assert cfg.parity is None and "parity" not in cfg.to_dict()  # older folders still resume
    assert RobustnessConfig(parity="code").to_dict()["parity"] == "code"
    assert method_overrides(cfg, "integrated_gradients", IMAGENET) == {}
    with pytest.raises(AttrbenchError, match="fixes no IG setting; use parity 'code'"):
        RobustnessConfig(parity="paper").validate()
    with pytest.raises(AttrbenchError, match="Unknown parity 'lens'"):
        RobustnessConfig(parity="lens").validate()


def test_pipeline_explains_with_the_parity_baseline(monkeypatch) -> None:
    """run_robustness builds its IG explainer from the resolved overrides."""
    import attrbench.robustness.pipeline as pipeline

    seen: dict[str, dict] = {}

    def spy(method: str, model: nn.Module, **params):
        seen[method] = params
        raise RuntimeError("stop after creating the explainer")

    monkeypatch.setattr(pipeline, "create_method", spy)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
        model[1].bias.zero_()
    data = [(torch.ones(1, 2, 2), 0)]
    cfg = RobustnessConfig(methods=("integrated_gradients",), parity="code", num_images=1)
    with pytest.raises(RuntimeError, match="stop after"):
        run_robustness({"m": model}, data, cfg, InputSpace((0.5,), (0.5,)))
    assert seen["integrated_gradients"] == {"baseline": (-1.0,), "steps": 100,
                                            "quadrature": "riemann_right"}
