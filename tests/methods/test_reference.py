"""Reference tests: closed forms, slow literal loops written from the papers, outside libraries."""

from __future__ import annotations

import pytest
import scipy.special
import torch
from captum.attr import GuidedBackprop, IntegratedGradients
from torch import nn

from attrbench.methods import create_method
from attrbench.methods.noise import ImageNoise

# --------------------------------------------------------------------------- literal references


def literal_ig(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, m: int, rule: str, baseline: float = 0
) -> torch.Tensor:
    """IG written as FPA App. B states it, one image and one step at a time."""
    if rule == "riemann_right":
        alphas, weights = [k / m for k in range(1, m + 1)], [1.0 / m] * m
    elif rule == "linspace":
        alphas, weights = [k / (m - 1) for k in range(m)], [1.0 / m] * m
    else:  # gauss_legendre, nodes from SciPy rather than NumPy
        nodes, w = scipy.special.roots_legendre(m)
        alphas, weights = [(t + 1) / 2 for t in nodes], [v / 2 for v in w]
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        x0 = torch.full_like(x[b], baseline)
        total = torch.zeros_like(x[b])
        for a, w in zip(alphas, weights):
            point = (x0 + a * (x[b] - x0)).unsqueeze(0).requires_grad_(True)
            (g,) = torch.autograd.grad(model(point)[0, target[b]], point)
            total += w * g[0]
        out[b] = (x[b] - x0) * total
    return out


def literal_sg(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, n: int, level: float, seed: int,
    square: bool,
) -> torch.Tensor:
    """SmoothGrad / SQ-SG as in FPA App. B, one image and one sample at a time (same noise)."""
    noise = ImageNoise(x, seed)
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        sigma = level * (x[b].max() - x[b].min())
        for s in range(n):
            eps = noise.normal(torch.tensor([b]), torch.tensor([s]))[0]
            point = (x[b] + sigma * eps).unsqueeze(0).requires_grad_(True)
            (g,) = torch.autograd.grad(model(point)[0, target[b]], point)
            out[b] += (g[0] ** 2 if square else g[0]) / n
    return out


def _targets(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


# --------------------------------------------------------------------------- integrated gradients


@pytest.mark.parametrize("rule", ["riemann_right", "linspace", "gauss_legendre"])
def test_ig_completeness_at_m200(rule: str, smooth_model) -> None:
    # Sum of attributions = S_t(x) - S_t(0) within 1% (Sundararajan et al. 2017), for the class
    # whose logit changes most along the path (a well-conditioned ratio).
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        delta = smooth_model(x) - smooth_model(torch.zeros_like(x))
    t = delta.argmax(1)
    expected = delta[torch.arange(8), t]
    e = create_method("integrated_gradients", smooth_model, quadrature=rule)(x, t)
    total = e.flatten(1).sum(1)
    tol = 1e-4 if rule == "gauss_legendre" else 0.01
    assert torch.all((total - expected).abs() <= tol * expected.abs()), (total, expected)


@pytest.mark.parametrize("rule", ["riemann_right", "linspace", "gauss_legendre"])
def test_ig_batched_equals_literal_loop(rule: str, smooth_model, images) -> None:
    t = _targets(smooth_model, images)
    ig = create_method("integrated_gradients", smooth_model, steps=12, quadrature=rule, max_batch=5)
    fast = ig(images)
    slow = literal_ig(smooth_model, images, t, 12, rule)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)


def test_ig_quadratures_converge_to_the_same_map(smooth_model, images) -> None:
    maps = {
        rule: create_method("integrated_gradients", smooth_model, quadrature=rule)(images)
        for rule in ("riemann_right", "linspace", "gauss_legendre")
    }
    def gl(m: int) -> torch.Tensor:
        return create_method(
            "integrated_gradients", smooth_model, steps=m, quadrature="gauss_legendre"
        )(images)

    exact = gl(64)
    for rule, e in maps.items():
        rel = (e - exact).norm() / exact.norm()
        assert rel < 0.01, (rule, float(rel))
    few = gl(16)
    assert (few - exact).norm() / exact.norm() < 1e-3


def test_ig_matches_captum_gauss_legendre(smooth_model, images) -> None:
    t = _targets(smooth_model, images)
    ig = create_method("integrated_gradients", smooth_model, steps=10, quadrature="gauss_legendre")
    ours = ig(images)
    theirs = IntegratedGradients(smooth_model).attribute(
        images, target=t, n_steps=10, method="gausslegendre"
    )
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-4, atol=1e-6)


def test_ig_per_channel_baseline(smooth_model, images) -> None:
    t = _targets(smooth_model, images)
    base = (0.1, -0.2, 0.3)
    e = create_method("integrated_gradients", smooth_model, steps=6, baseline=list(base))(images)
    x0 = torch.tensor(base).view(1, 3, 1, 1).expand_as(images)
    theirs = IntegratedGradients(smooth_model).attribute(
        images, baselines=x0, target=t, n_steps=6, method="riemann_right"
    )
    torch.testing.assert_close(e, theirs.float(), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- linear models


@pytest.fixture
def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(4, 192, generator=torch.Generator().manual_seed(5)))
        model[1].bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    return model


def test_vanilla_gradient_of_linear_model_is_its_weights(linear_model, images) -> None:
    t = torch.tensor([0, 2, 3])
    e = create_method("vanilla_gradient", linear_model)(images, t)
    torch.testing.assert_close(e, linear_model[1].weight[t].view(3, 3, 8, 8))


def test_input_times_gradient_on_linear_model_is_exact_contribution(linear_model, images) -> None:
    t = torch.tensor([1, 1, 2])
    w = linear_model[1].weight[t].view(3, 3, 8, 8)
    for name in ("input_x_gradient", "integrated_gradients"):
        extra = {"steps": 3} if name != "input_x_gradient" else {}
        e = create_method(name, linear_model, **extra)(images, t)
        torch.testing.assert_close(e, images * w, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        logits = linear_model(images)
    contributions = (images * w).flatten(1).sum(1)
    torch.testing.assert_close(contributions, logits[torch.arange(3), t] - linear_model[1].bias[t])


def test_occlusion_single_pixel_on_linear_model(linear_model, images) -> None:
    t = torch.tensor([0, 1, 2])
    e = create_method("occlusion", linear_model, window=1, stride=1)(images, t)
    pixel = (images * linear_model[1].weight[t].view(3, 3, 8, 8)).sum(1, keepdim=True)
    torch.testing.assert_close(e, pixel.expand_as(e), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- SmoothGrad family


@pytest.mark.parametrize("square", [False, True])
def test_smoothgrad_batched_equals_literal_loop(square: bool, tiny_model, images) -> None:
    tiny_model.eval()
    t = _targets(tiny_model, images)
    name = "smoothgrad_sq" if square else "smoothgrad"
    fast = create_method(name, tiny_model, n_samples=5, seed=3, max_batch=4)(images)
    slow = literal_sg(tiny_model, images, t, 5, 0.15, 3, square)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-7)


def test_smoothgrad_without_noise_is_vanilla_gradient(tiny_model, images) -> None:
    vg = create_method("vanilla_gradient", tiny_model)(images)
    sg = create_method("smoothgrad", tiny_model, noise_level=0.0, n_samples=3)(images)
    torch.testing.assert_close(sg, vg, rtol=1e-5, atol=1e-7)
    tiny = create_method("smoothgrad", tiny_model, noise_level=1e-7, n_samples=3)(images)
    torch.testing.assert_close(tiny, vg, rtol=1e-3, atol=1e-5)


def test_smoothgrad_sq_nonnegative_and_vargrad_identity(tiny_model, images) -> None:
    kw = {"n_samples": 6, "seed": 11}
    sg = create_method("smoothgrad", tiny_model, **kw)(images)
    sq = create_method("smoothgrad_sq", tiny_model, **kw)(images)
    var = create_method("vargrad", tiny_model, **kw)(images)
    assert (sq >= 0).all() and (var >= 0).all()
    torch.testing.assert_close(var, (sq - sg.square()).clamp_min(0), rtol=1e-4, atol=1e-7)


def test_ig_smoothgrad_without_noise_is_ig(smooth_model, images) -> None:
    ig = create_method("integrated_gradients", smooth_model, steps=7)(images)
    igsg = create_method(
        "integrated_gradients_smoothgrad", smooth_model, steps=7, n_samples=2, noise_level=0.0
    )(images)
    torch.testing.assert_close(igsg, ig, rtol=1e-5, atol=1e-7)


def test_ig_smoothgrad_equals_mean_of_ig_on_noisy_copies(smooth_model, images) -> None:
    t = _targets(smooth_model, images)
    igsg = create_method(
        "integrated_gradients_smoothgrad", smooth_model, steps=5, n_samples=3, seed=4, max_batch=7
    )(images, t)
    noise = ImageNoise(images, 4)
    sigma = 0.15 * (images.flatten(1).amax(1) - images.flatten(1).amin(1)).view(-1, 1, 1, 1)
    copies = [images + sigma * noise.normal(torch.arange(3), torch.full((3,), s)) for s in range(3)]
    expected = sum(literal_ig(smooth_model, c, t, 5, "riemann_right") for c in copies) / 3
    torch.testing.assert_close(igsg, expected, rtol=1e-4, atol=1e-6)


def test_smoothgrad_noise_scale(tiny_model) -> None:
    # sigma = 0.15 (max - min) per image: images of range 2 and 20 differ by 10x in their noise.
    from attrbench.methods.smoothing import noise_sigma

    x = torch.stack([torch.linspace(-1, 1, 192), torch.linspace(-10, 10, 192)]).view(2, 3, 8, 8)
    torch.testing.assert_close(noise_sigma(x, 0.15).flatten(), torch.tensor([0.3, 3.0]))


# ------------------------------------------------------------------------ guided backprop and CAM


def test_guided_backprop_matches_captum_and_sees_functional_relus(tiny_model, images) -> None:
    tiny_model.eval()
    t = _targets(tiny_model, images)
    ours = create_method("guided_backprop", tiny_model)(images, t)
    vg = create_method("vanilla_gradient", tiny_model)(images, t)
    assert not torch.allclose(ours, vg)
    # Captum only hooks nn.ReLU modules; swap the functional ReLU for a module so it sees both.

    class ModuleBlock(nn.Module):
        def __init__(self, conv: nn.Conv2d) -> None:
            super().__init__()
            self.conv, self.relu = conv, nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.conv(x))

    tiny_model.features[3] = ModuleBlock(tiny_model.features[3].conv)
    with pytest.warns(UserWarning, match="backward hooks"):
        theirs = GuidedBackprop(tiny_model).attribute(images.clone().requires_grad_(True), target=t)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_grad_cam_equals_cam_on_gap_model(gap_model, images) -> None:
    t = torch.tensor([0, 1, 3])
    for relu in (True, False):
        gc = create_method("grad_cam", gap_model, layer="features", relu=relu)(images, t)
        cm = create_method("cam", gap_model, layer="features", fc_layer="fc", relu=relu)(images, t)
        torch.testing.assert_close(gc, cm, rtol=1e-5, atol=1e-7)


def test_cam_sums_to_logit_minus_bias(gap_model) -> None:
    # Same-size feature maps (stride 1) -> no resampling, so completeness is exact.
    gap_model.features[0].stride = (1, 1)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    e = create_method("cam", gap_model, layer="features")(x)
    with torch.no_grad():
        logits = gap_model(x)
    t = logits.argmax(1)
    expected = logits[torch.arange(2), t] - gap_model.fc.bias[t]
    torch.testing.assert_close(e[:, 0].flatten(1).sum(1), expected, rtol=1e-5, atol=1e-5)


def test_guided_grad_cam_is_product(tiny_model, images) -> None:
    gb = create_method("guided_backprop", tiny_model)(images)
    gc = create_method("grad_cam", tiny_model, layer="features")(images)
    ggc = create_method("guided_grad_cam", tiny_model, layer="features")(images)
    torch.testing.assert_close(ggc, gb * gc)


def test_default_layer_from_attrbench_model_spec(images) -> None:
    from attrbench.models import create_model

    model = create_model("small_cnn", 10, 3, input_normalization="half")
    explainer = create_method("grad_cam", model)
    assert explainer.params["layer"] == "features.block5"
    cam = create_method("cam", model, relu=True)
    assert cam.params["fc_layer"] == "fc"
    torch.testing.assert_close(explainer(images), cam(images), rtol=1e-4, atol=1e-6)


def test_random_is_uniform_per_pixel(tiny_model) -> None:
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    e = create_method("random", tiny_model)(x)
    assert torch.equal(e[:, 0], e[:, 2]) and (e >= 0).all() and (e < 1).all()
    assert abs(float(e[:, 0].mean()) - 0.5) < 0.02
