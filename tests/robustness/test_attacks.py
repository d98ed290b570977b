"""Attribution attacks: budget and range, label preservation, strength vs random noise, surrogate,
presets and error messages (Ghorbani et al. 2019; Kamath et al. 2024)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench.adversarial import InputSpace
from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.methods.guard import attribution_mode
from attrbench.robustness.attacks import (
    ATTACK_PRESETS,
    attack_config,
    attribution_attack,
    differentiable_map,
    differentiable_methods,
)
from attrbench.robustness.surrogate import smooth_relu


def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    return x[ok][:n]


@pytest.mark.parametrize("kind", ["random", "random_sign", "topk", "lens_topk", "mass_center"])
def test_stays_in_ball_and_range_and_keeps_label(
    kind, mnist_model, mnist_test, mnist_space
) -> None:
    x = correct(mnist_model, *mnist_test, 6)
    ex = create_method("vanilla_gradient", mnist_model)
    cfg = attack_config(kind, eps=0.3, step=0.05, iterations=8, restarts=2, k=50, k_attack=50)
    r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(0))
    radius = 0.3 / 0.5  # pixel budget / std in input units
    assert float((r.x_adv - x).abs().max()) <= radius + 1e-6
    assert float(r.x_adv.min()) >= -1.0 - 1e-6 and float(r.x_adv.max()) <= 1.0 + 1e-6
    with torch.no_grad():
        assert torch.equal(mnist_model(r.x_adv).argmax(1), r.target)
    assert bool(r.changed.any())
    assert bool((r.criterion <= 1.0).all())


def test_random_sign_uses_the_full_budget(mnist_model, mnist_test, mnist_space) -> None:
    x = correct(mnist_model, *mnist_test, 4)
    ex = create_method("random", mnist_model)  # random attacks work with any method
    cfg = attack_config("random_sign", eps=0.05, restarts=3, k=50)
    r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(0))
    moved = r.x_adv[r.changed] - x[r.changed]
    at_bound = (r.x_adv[r.changed].abs() >= 1 - 1e-6)  # clipped by the valid range
    assert bool(r.changed.any())
    assert bool((((moved.abs() - 0.1).abs() < 1e-5) | at_bound).all())


def test_label_changing_iterates_are_never_returned_as_kept(
    mnist_model, mnist_test, mnist_space
) -> None:
    """A budget large enough to flip labels (ε = 1 = the whole range): an example flagged kept
    keeps the label; one flagged not kept is the last iterate tried, with criterion NaN."""
    x = correct(mnist_model, *mnist_test, 8)
    ex = create_method("vanilla_gradient", mnist_model)
    cfg = attack_config("random", eps=1.0, step=0.5, iterations=4, k=50)
    r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(mnist_model(r.x_adv).argmax(1) == r.target, r.kept)
    assert bool(r.kept.any()) and not bool(r.kept.all())  # measured: 4 of 8 kept
    assert bool(torch.isnan(r.criterion[~r.kept]).all())
    assert bool((r.criterion[r.kept] <= 1).all())
    assert bool((r.iteration[~r.kept] == 4).all())


def test_topk_attack_beats_random_sign(mnist_model, mnist_test, mnist_space) -> None:
    x = correct(mnist_model, *mnist_test, 8)
    ex = create_method("vanilla_gradient", mnist_model)
    common = dict(eps=0.1, step=0.01, iterations=20, k=100, k_attack=100)
    gen = torch.Generator().manual_seed(1)
    rand = attribution_attack(ex, x, attack_config("random", **common), mnist_space, generator=gen)
    topk = attribution_attack(ex, x, attack_config("topk", **common), mnist_space, generator=gen)
    sign = attribution_attack(ex, x, attack_config("random_sign", **common), mnist_space,
                              generator=gen)
    # measured: random walk 0.69, random_sign 0.65, topk 0.42 mean top-100 intersection (8 images)
    assert float(topk.criterion.mean()) < float(rand.criterion.mean()) - 0.1
    assert float(topk.criterion.mean()) < float(sign.criterion.mean()) - 0.1


def test_restarts_never_worse_and_deterministic(mnist_model, mnist_test, mnist_space) -> None:
    x = correct(mnist_model, *mnist_test, 4)
    ex = create_method("input_x_gradient", mnist_model)
    one = attack_config("topk", eps=0.1, step=0.02, iterations=4, k=60, k_attack=60)
    two = attack_config("topk", eps=0.1, step=0.02, iterations=4, k=60, k_attack=60, restarts=2)
    r1 = attribution_attack(ex, x, one, mnist_space, generator=torch.Generator().manual_seed(0))
    r2 = attribution_attack(ex, x, two, mnist_space, generator=torch.Generator().manual_seed(0))
    r2b = attribution_attack(ex, x, two, mnist_space, generator=torch.Generator().manual_seed(0))
    assert bool((r2.criterion <= r1.criterion).all())
    assert torch.equal(r2.x_adv, r2b.x_adv)


def test_integrated_gradients_and_quantized_grid(mnist_model, mnist_test, mnist_space) -> None:
    x = correct(mnist_model, *mnist_test, 3)
    x = torch.round((x + 1) / 2 * 255) / 255 * 2 - 1  # already on the 8-bit grid
    ex = create_method("integrated_gradients", mnist_model, steps=4)
    cfg = attack_config("topk", preset="flower", iterations=3, restarts=1, k=50, k_attack=50)
    r = attribution_attack(ex, x, cfg, mnist_space)
    pixels = (r.x_adv + 1) / 2 * 255
    assert torch.allclose(pixels, pixels.round(), atol=1e-3)
    assert float((r.x_adv - x).abs().max()) <= 2 * 8 / 255 + 1e-6


def test_eps_zero_returns_the_input(mnist_model, mnist_test, mnist_space) -> None:
    x = correct(mnist_model, *mnist_test, 2)
    r = attribution_attack(create_method("vanilla_gradient", mnist_model), x,
                           attack_config("topk", eps=0.0, k=10, k_attack=10), mnist_space)
    assert torch.equal(r.x_adv, x) and bool((r.criterion == 1).all())


def test_smooth_relu_swaps_module_and_functional_relus_and_restores() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu(self.act(self.lin(x)) - 0.5)

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Net()
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    before = net(x)
    with smooth_relu("softplus", beta=1.0):
        inside = net(x)
        lin = net.lin(x)
        expect = F.softplus(F.softplus(lin) - 0.5)
    assert torch.allclose(inside, expect)
    assert torch.equal(net(x), before)  # restored: ReLU again, model untouched
    assert isinstance(net.act, nn.ReLU)
    with pytest.raises(RuntimeError), smooth_relu("mixed"):
        raise RuntimeError("boom")
    assert torch.equal(net(x), before)
    with smooth_relu("mixed", beta=2.0):
        v = torch.tensor([-1.0, 0.0, 2.0])
        assert torch.allclose(F.relu(v), 0.1 * v + 0.9 * F.softplus(v, beta=2.0))


def test_presets_follow_notes() -> None:
    mnist = attack_config("topk", preset="mnist")
    assert (mnist.eps, mnist.step, mnist.iterations, mnist.restarts) == (0.3, 0.01, 100, 3)
    flower = attack_config("topk", preset="flower")
    assert (flower.eps * 255, flower.step * 255, flower.iterations, flower.restarts) == (
        pytest.approx(8), pytest.approx(1), 100, 3)
    assert set(ATTACK_PRESETS) == {"mnist", "flower", "imagenet"}
    assert attack_config("random", preset="mnist", eps=0.1).eps == 0.1


def test_errors(mnist_model, mnist_test, mnist_space) -> None:
    x = mnist_test[0][:2]
    with pytest.raises(AttrbenchError, match=r"eps must be in \[0, 1\] in pixel units"):
        attack_config("topk", eps=8)
    with pytest.raises(AttrbenchError, match=r"eps must be in \[0, 1\]"):
        attack_config("topk", eps=-0.1)
    with pytest.raises(AttrbenchError, match=r"Unknown attack 'topK'. Did you mean 'topk'"):
        attack_config("topK")
    with pytest.raises(AttrbenchError, match=r"Unknown attack preset"):
        attack_config("topk", preset="cifar")
    with pytest.raises(AttrbenchError, match=r"step must be in \(0, 1\]"):
        attack_config("topk", step=0)
    with pytest.raises(AttrbenchError, match=r"Unknown attack option\(s\) epsilon"):
        attack_config("topk", epsilon=0.1)
    occl = create_method("occlusion", mnist_model)
    with pytest.raises(AttrbenchError, match=r"'occlusion' has no differentiable form"):
        attribution_attack(occl, x, attack_config("topk", k=10, k_attack=10), mnist_space)
    rnd = create_method("random", mnist_model)
    with pytest.raises(AttrbenchError, match=r"'random' has no differentiable form"):
        attribution_attack(rnd, x, attack_config("mass_center", k=10), mnist_space)
    ex = create_method("vanilla_gradient", mnist_model)
    with pytest.raises(AttrbenchError, match=r"k = 1000 exceeds the 784 pixels"):
        attribution_attack(ex, x, attack_config("topk", k=1000), mnist_space)
    with pytest.raises(AttrbenchError, match=r"outside the valid range"):
        attribution_attack(ex, x * 3, attack_config("topk", k=10, k_attack=10), mnist_space)
    with pytest.raises(AttrbenchError, match=r"3 channels but the images have 1"):
        attribution_attack(ex, x, attack_config("topk", k=10, k_attack=10),
                           InputSpace((0.5,) * 3, (0.5,) * 3))
    with pytest.raises(AttrbenchError, match=r"Unknown surrogate"):
        with smooth_relu("gelu"):
            pass


def test_chunked_surrogate_gradient_equals_one_pass(mnist_model, mnist_test, mnist_space) -> None:
    """max_batch only bounds memory: 1 image per pass gives the same attack as all at once."""
    x = correct(mnist_model, *mnist_test, 4)
    cfg = attack_config("mass_center", eps=0.1, step=0.02, iterations=3, k=40)
    results = []
    for max_batch in (1000, 3):  # IG with 3 steps: 333 images vs 1 image per pass
        ex = create_method("integrated_gradients", mnist_model, steps=3, max_batch=max_batch)
        r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(0))
        results.append(r)
    assert torch.allclose(results[0].x_adv, results[1].x_adv, atol=1e-6)


def _smooth_net() -> nn.Module:
    """A tanh network in float64: its input gradients have non-zero derivatives everywhere."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(),
                             nn.Linear(3 * 25, 4)).double().eval()


@pytest.mark.parametrize("method, params", [
    ("vanilla_gradient", {}), ("input_x_gradient", {}),
    ("integrated_gradients", {"steps": 6, "baseline": 0.1}),
    ("integrated_gradients", {"steps": 5, "quadrature": "gauss_legendre"}),
])
def test_attack_map_is_the_registry_methods_map_and_differentiates(method, params) -> None:
    """The map a gradient attack differentiates is the registry method's own map (values equal
    to the explainer's, |e| summed over channels and normalised), and its input gradient is the
    true one (central differences in float64)."""
    assert {"vanilla_gradient", "input_x_gradient", "integrated_gradients"} <= set(
        differentiable_methods())
    model = _smooth_net()
    x = torch.rand(3, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 3, 1])
    explainer = create_method(method, model, **params)
    e = explainer(x, target).abs().sum(1)
    expected = e / e.flatten(1).sum(1).view(-1, 1, 1)
    weights = torch.rand(3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def objective(inp: torch.Tensor) -> torch.Tensor:
        with attribution_mode(model):
            s = differentiable_map(model, inp.requires_grad_(True), target, explainer)
        return (s * weights).sum().detach()

    x_var = x.clone().requires_grad_(True)
    with attribution_mode(model):
        s = differentiable_map(model, x_var, target, explainer)
    torch.testing.assert_close(s.detach(), expected, rtol=1e-9, atol=1e-12)
    (grad,) = torch.autograd.grad((s * weights).sum(), x_var)
    assert bool(grad.abs().sum() > 0)
    h = 1e-6
    for index in [(0, 0, 2, 2), (1, 1, 0, 4), (2, 0, 4, 1)]:
        up, down = x.clone(), x.clone()
        up[index] += h
        down[index] -= h
        numeric = (objective(up) - objective(down)) / (2 * h)
        assert float(grad[index]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-9)
