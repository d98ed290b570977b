"""IG-NORM attribution regularisation (Chen et al. 2019; :mod:`attrbench.adversarial.ig_norm` and
the ``ig-norm`` training regime) on the tiny MNIST model: completeness, inner maximisation, the
λ = 0 limit and errors. The objective against its hand-computed definition:
tests/training/test_regimes.py."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench.adversarial import (
    IG_NORM_PRESETS,
    ig_norm,
    ig_norm_attack,
    ig_norm_config,
    loss_integrated_gradients,
)
from attrbench.errors import AttrbenchError
from attrbench.training.regimes import create_regime, training_step


def smooth_net() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))


def test_completeness_on_a_smooth_model() -> None:
    model = smooth_net()
    gen = torch.Generator().manual_seed(0)
    x, xp = torch.rand(4, 1, 4, 4, generator=gen), torch.rand(4, 1, 4, 4, generator=gen)
    y = torch.tensor([0, 1, 2, 0])
    ig = loss_integrated_gradients(model, x, xp, y, 400)
    with torch.no_grad():
        delta = F.cross_entropy(model(xp), y, reduction="none") - F.cross_entropy(model(x), y,
                                                                                  reduction="none")
    assert torch.allclose(ig.flatten(1).sum(1), delta, atol=2e-3)


def test_inner_attack_raises_the_norm_and_stays_in_ball(
    mnist_model, mnist_test, mnist_space
) -> None:
    x, y = mnist_test[0][:8], mnist_test[1][:8]
    cfg = ig_norm_config("mnist", steps=5, step=0.05, eps=0.2, ig_steps=4, random_start=False)
    start = ig_norm_config("mnist", steps=1, step=0.001, eps=0.2, ig_steps=4)
    x_adv = ig_norm_attack(mnist_model, x, y, cfg, mnist_space)
    x_rand = ig_norm_attack(mnist_model, x, y, start, mnist_space, torch.Generator().manual_seed(0))
    assert float((x_adv - x).abs().max()) <= 0.4 + 1e-6
    assert float(x_adv.abs().max()) <= 1 + 1e-6
    strong = ig_norm(mnist_model, x, x_adv, y, 4).detach()
    weak = ig_norm(mnist_model, x, x_rand, y, 4).detach()
    assert float(strong.mean()) > float(weak.mean())


def test_lambda_zero_is_a_plain_cross_entropy_step(mnist_model, mnist_test, mnist_space) -> None:
    x, y = mnist_test[0][:8], mnist_test[1][:8]
    a, b = copy.deepcopy(mnist_model).train(), copy.deepcopy(mnist_model).train()
    opt_a = torch.optim.SGD(a.parameters(), 0.1)
    opt_b = torch.optim.SGD(b.parameters(), 0.1)
    regime = create_regime("ig-norm", "mnist", {"lam": 0.0, "steps": 1, "ig_steps": 2},
                           mnist_space)
    training_step(regime, a, opt_a, x, y)
    loss = F.cross_entropy(b(x), y)
    opt_b.zero_grad()
    loss.backward()
    opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
    c = copy.deepcopy(mnist_model).train()
    regime = create_regime("ig-norm", "mnist", {"steps": 1, "ig_steps": 2}, mnist_space)
    total, _ = training_step(regime, c, torch.optim.SGD(c.parameters(), 0.1), x, y)
    assert float(total) > float(loss.detach())  # the regulariser adds a positive term


def test_presets_and_errors() -> None:
    assert IG_NORM_PRESETS["mnist"].lam == 1.0 and IG_NORM_PRESETS["flower"].lam == 0.1
    with pytest.raises(AttrbenchError, match=r"eps must be in \[0, 1\]"):
        ig_norm_config(eps=2)
    with pytest.raises(AttrbenchError, match=r"IG-NORM lam must be a number >= 0"):
        ig_norm_config(lam=-1)
    with pytest.raises(AttrbenchError, match=r"IG-NORM ig_steps must be an integer >= 1"):
        ig_norm_config(ig_steps=0)
    with pytest.raises(AttrbenchError, match=r"Unknown IG-NORM preset"):
        ig_norm_config("imagenet")
