"""Contract tests, parametrised over the whole method registry (DESIGN.md, tests of kind 1)."""

from __future__ import annotations

import pytest
import torch

from attrbench.methods import get_method_spec, list_methods
from attrbench.methods.guard import hook_snapshot

EXPECTED = {
    "vanilla_gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "smoothgrad_sq",
    "vargrad", "integrated_gradients_smoothgrad", "guided_backprop", "grad_cam", "guided_grad_cam",
    "cam", "occlusion", "random",
}
ALL = list_methods()


def test_registry_has_exactly_the_expected_methods() -> None:
    assert set(ALL) == EXPECTED


@pytest.mark.parametrize("name", ALL)
def test_shape_dtype_finite(name: str, tiny_model, images, make) -> None:
    e = make(name, tiny_model)(images)
    assert e.shape == images.shape and e.dtype == images.dtype
    assert torch.isfinite(e).all()
    assert e.abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_deterministic_under_seed(name: str, tiny_model, images, make) -> None:
    first = make(name, tiny_model)(images)
    again = make(name, tiny_model)(images)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    if get_method_spec(name).stochastic:
        other = make(name, tiny_model, seed=1)(images)
        assert not torch.allclose(first, other)


@pytest.mark.parametrize("name", ALL)
def test_batch_equals_per_image_and_chunking(name: str, tiny_model, images, make) -> None:
    batched = make(name, tiny_model)(images)
    single = torch.cat([make(name, tiny_model)(images[i : i + 1]) for i in range(len(images))])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-6)
    chunked = make(name, tiny_model, max_batch=2)(images)
    torch.testing.assert_close(batched, chunked, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_explicit_target_and_default_prediction(name: str, tiny_model, images, make) -> None:
    with torch.no_grad():
        predicted = tiny_model.eval()(images).argmax(1)
    tiny_model.train()
    explainer = make(name, tiny_model)
    torch.testing.assert_close(explainer(images), explainer(images, predicted), rtol=0, atol=0)
    other = (predicted + 1) % 5
    if name != "random":
        assert not torch.allclose(explainer(images), explainer(images, other))


@pytest.mark.parametrize("name", ALL)
def test_model_state_restored_and_no_hooks_left(name: str, tiny_model, images, make) -> None:
    tiny_model.train()
    tiny_model.features[1].eval()  # mixed modes must come back per module
    conv = tiny_model.features[0]
    conv.weight.requires_grad_(False)
    marker = torch.full_like(tiny_model.fc.weight, 7.0)
    tiny_model.fc.weight.grad = marker
    calls: list[int] = []
    user_hook = tiny_model.fc.register_forward_hook(lambda *a: calls.append(1))
    modes = {n: m.training for n, m in tiny_model.named_modules()}
    flags = {n: p.requires_grad for n, p in tiny_model.named_parameters()}
    hooks = hook_snapshot(tiny_model)
    running = tiny_model.features[1].running_mean.clone()

    make(name, tiny_model)(images)

    assert {n: m.training for n, m in tiny_model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in tiny_model.named_parameters()} == flags
    assert tiny_model.fc.weight.grad is marker and torch.equal(marker, torch.full_like(marker, 7.0))
    assert all(p.grad is None for n, p in tiny_model.named_parameters() if n != "fc.weight")
    assert hook_snapshot(tiny_model) == hooks
    assert calls, "the user's own hook must still run during attribution"
    torch.testing.assert_close(tiny_model.features[1].running_mean, running)
    user_hook.remove()
    assert all(
        not getattr(m, d) for m in tiny_model.modules()
        for d in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    )


@pytest.mark.parametrize("name", ALL)
def test_works_inside_no_grad_and_inference_mode(name: str, tiny_model, images, make) -> None:
    expected = make(name, tiny_model)(images)
    with torch.no_grad():
        inside = make(name, tiny_model)(images)
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)
    with torch.inference_mode():
        frozen = images.clone()
        inside = make(name, tiny_model)(frozen)
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", ALL)
def test_params_record_every_default(name: str, tiny_model, make) -> None:
    spec = get_method_spec(name)
    explainer = make(name, tiny_model)
    assert set(explainer.params) == set(spec.defaults)
    assert explainer.describe()["method"] == name
    required = {"stochastic": "seed", "needs_baseline": "baseline", "needs_layer": "layer"}
    for flag, key in required.items():
        assert (key in spec.defaults) == getattr(spec, flag)


def test_stochastic_noise_differs_between_images(tiny_model, make) -> None:
    # Two copies of the same image get the same noise (content-keyed); different images differ.
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pair = torch.cat([x, x, x.flip(-1)])
    e = make("random", tiny_model)(pair)
    torch.testing.assert_close(e[0], e[1], rtol=0, atol=0)
    assert not torch.allclose(e[0], e[2].flip(-1))


def test_float64_inputs(tiny_model, images, make) -> None:
    model = tiny_model.double()
    e = make("integrated_gradients", model)(images.double())
    assert e.dtype == torch.float64
