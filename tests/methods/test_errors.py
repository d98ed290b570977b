"""Bad input: one-line AttrbenchErrors whose messages say what to do (DESIGN.md, kind 3 tests)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.methods.guard import hook_snapshot


def test_unknown_method_suggests_close_names(tiny_model) -> None:
    message = r"Unknown method 'integrated_gradient'\. Did you mean 'integrated_gradients'"
    with pytest.raises(AttrbenchError, match=message):
        create_method("integrated_gradient", tiny_model)
    with pytest.raises(AttrbenchError, match=r"Valid methods: cam, grad_cam"):
        create_method("xyz", tiny_model)


def test_unknown_parameter_lists_valid_ones(tiny_model) -> None:
    message = (
        r"integrated_gradients: unknown parameter\(s\) 'n_steps'\. "
        r"Valid parameters: steps, baseline, quadrature"
    )
    with pytest.raises(AttrbenchError, match=message):
        create_method("integrated_gradients", tiny_model, n_steps=10)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("integrated_gradients", {"steps": 0}, r"steps must be an integer >= 1, got 0"),
        ("integrated_gradients", {"steps": 2.5}, r"steps must be an integer >= 1"),
        ("integrated_gradients", {"quadrature": "simpson"},
         r"quadrature must be one of riemann_right, linspace, gauss_legendre"),
        ("integrated_gradients", {"baseline": "black"},
         r"baseline must be a number or a list of one number per channel"),
        ("smoothgrad", {"noise_level": -0.1}, r"noise_level must be a finite number >= 0"),
        ("smoothgrad", {"n_samples": 0}, r"n_samples must be an integer >= 1"),
        ("random", {"seed": "a"}, r"seed must be an integer"),
        ("occlusion", {"window": 0}, r"window must be an integer >= 1"),
        ("grad_cam", {"layer": "features", "relu": "yes"}, r"relu must be true or false"),
    ],
)
def test_bad_hyperparameters(name: str, kwargs: dict, message: str, tiny_model) -> None:
    with pytest.raises(AttrbenchError, match=message):
        create_method(name, tiny_model, **kwargs)


def test_bad_max_batch(tiny_model) -> None:
    with pytest.raises(AttrbenchError, match=r"max_batch must be an integer >= 1, got 0"):
        create_method("vanilla_gradient", tiny_model, max_batch=0)


@pytest.mark.parametrize("name", ["grad_cam", "guided_grad_cam", "cam"])
def test_layer_needed_for_foreign_model(name: str, tiny_model) -> None:
    with pytest.raises(AttrbenchError, match=rf"{name} needs a layer: pass layer='<dotted name>'"):
        create_method(name, tiny_model)


def test_bad_layer_name_suggests(tiny_model) -> None:
    message = r"Layer 'feature' not found in TinyConv\. Did you mean 'features'"
    with pytest.raises(AttrbenchError, match=message + r".*Top-level modules: features, drop, fc"):
        create_method("grad_cam", tiny_model, layer="feature")


def test_cam_fc_layer_must_be_linear(tiny_model) -> None:
    with pytest.raises(AttrbenchError, match=r"fc_layer 'features' is a Sequential, not an nn"):
        create_method("cam", tiny_model, layer="features", fc_layer="features")


def test_cam_rejects_non_gap_model_and_leaves_no_hook(smooth_model, images) -> None:
    explainer = create_method("cam", smooth_model, layer="c2", fc_layer="fc")
    before = hook_snapshot(smooth_model)
    with pytest.raises(AttrbenchError, match=r"fc expects 384 channels|cam needs logits = fc"):
        explainer(images)
    assert hook_snapshot(smooth_model) == before


def test_cam_rejects_wrong_layer_on_gap_model(gap_model, images) -> None:
    gap_model.fc2 = nn.Linear(4, 4)  # unused extra linear: the GAP check must catch a wrong fc
    explainer = create_method("cam", gap_model, layer="features", fc_layer="fc")
    explainer(images)  # fine
    with pytest.raises(AttrbenchError, match=r"fc expects 4 channels"):
        create_method("cam", gap_model, layer="features", fc_layer="fc2")(images)


def test_nan_input_names_the_images(tiny_model, images) -> None:
    bad = images.clone()
    bad[1, 0, 2, 2] = float("nan")
    bad[2, 1, 0, 0] = float("inf")
    with pytest.raises(AttrbenchError, match=r"Input images \[1, 2\] contain NaN or Inf"):
        create_method("vanilla_gradient", tiny_model)(bad)


class Exploding(nn.Module):
    """A broken model: NaN logits for images whose mean lies in (0.2, 0.4) or exceeds 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x.flatten(1))
        mean = x.flatten(1).mean(1, keepdim=True)
        broken = ((mean > 0.2) & (mean < 0.4)) | (mean > 0.5)
        return torch.where(broken, torch.full_like(out, float("nan")), out)


def test_nan_from_model_names_the_images(images) -> None:
    x = images.clone()
    x[2] = 0.9
    message = r"The model produced NaN or Inf logits for images \[2\] on the input images"
    with pytest.raises(AttrbenchError, match=message):
        create_method("vanilla_gradient", Exploding())(x)


def test_nan_from_model_on_path_points(images) -> None:
    x = images.clone() * 0.01
    x[0] = 0.45  # fine itself, but the path from the 0 baseline passes through mean 0.225
    message = r"NaN or Inf logits for images \[0\] on integrated-gradients path points"
    with pytest.raises(AttrbenchError, match=message):
        create_method("integrated_gradients", Exploding(), steps=4)(x)


def test_target_out_of_range(tiny_model, images) -> None:
    message = r"Targets \[1\] are outside the model's classes \[0, 4\]: got \[5\]"
    with pytest.raises(AttrbenchError, match=message):
        create_method("vanilla_gradient", tiny_model)(images, torch.tensor([0, 5, 1]))
    with pytest.raises(AttrbenchError, match=r"Targets \[0\] are outside"):
        create_method("integrated_gradients", tiny_model, steps=2)(images, [-1, 0, 0])


def test_target_shape_and_dtype(tiny_model, images) -> None:
    with pytest.raises(AttrbenchError, match=r"Targets must have shape \(B,\) = \(3,\), got \(2,"):
        create_method("vanilla_gradient", tiny_model)(images, torch.tensor([0, 1]))
    with pytest.raises(AttrbenchError, match=r"Targets must be integer class indices"):
        create_method("vanilla_gradient", tiny_model)(images, torch.tensor([0.0, 1.0, 2.0]))


def test_image_shape_and_type(tiny_model, images) -> None:
    message = r"Images must have shape \(B, C, H, W\) with B >= 1, got \(3, 8, 8\)"
    with pytest.raises(AttrbenchError, match=message):
        create_method("vanilla_gradient", tiny_model)(images[0])
    with pytest.raises(AttrbenchError, match=r"Images must be floating point"):
        create_method("vanilla_gradient", tiny_model)((images * 100).to(torch.uint8))
    with pytest.raises(AttrbenchError, match=r"Images must be a torch.Tensor"):
        create_method("vanilla_gradient", tiny_model)(images.numpy())


def test_guided_backprop_needs_relus(smooth_model, images) -> None:
    with pytest.raises(AttrbenchError, match=r"guided_backprop needs a ReLU network"):
        create_method("guided_backprop", smooth_model)(images)


def test_occlusion_window_too_large(tiny_model, images) -> None:
    with pytest.raises(AttrbenchError, match=r"occlusion: window 9 is larger than the 8x8 images"):
        create_method("occlusion", tiny_model, window=9)(images)


def test_per_channel_baseline_length(tiny_model, images) -> None:
    with pytest.raises(AttrbenchError, match=r"baseline has 2 values but the images have 3 chan"):
        create_method("integrated_gradients", tiny_model, steps=2, baseline=[0.0, 0.0])(images)


def test_model_restored_after_error(tiny_model, images) -> None:
    tiny_model.train()
    with pytest.raises(AttrbenchError):
        create_method("occlusion", tiny_model, window=9)(images)
    assert tiny_model.training and all(p.requires_grad for p in tiny_model.parameters())


def test_model_on_other_device_is_reported(tiny_model, images) -> None:
    meta = tiny_model.to("meta")
    message = r"Images are on cpu but the model is on meta; move both to the same device"
    with pytest.raises(AttrbenchError, match=message):
        create_method("vanilla_gradient", meta)(images)
