"""PGD (Madry et al. 2018; :mod:`attrbench.adversarial.pgd`) and the ``pgd`` training regime
(Kamath et al. 2024 compare it with natural training) on the tiny MNIST model."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench.adversarial import PGD_PRESETS, pgd_attack, pgd_config
from attrbench.errors import AttrbenchError
from attrbench.training.regimes import create_regime, training_step

def test_pgd_stays_in_ball_raises_loss_and_leaves_model_alone(
    mnist_model, mnist_test, mnist_space
) -> None:
    x, y = mnist_test[0][:16], mnist_test[1][:16]
    bn = nn.Sequential(nn.BatchNorm2d(1), copy.deepcopy(mnist_model)).train()
    bn.zero_grad(set_to_none=True)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    cfg = pgd_config("mnist", steps=5, step=0.05, eps=0.15)
    x_adv = pgd_attack(bn, x, y, cfg, mnist_space, torch.Generator().manual_seed(0))
    assert float((x_adv - x).abs().max()) <= 0.15 / 0.5 + 1e-6
    assert float(x_adv.min()) >= -1 - 1e-6 and float(x_adv.max()) <= 1 + 1e-6
    assert bn.training and all(torch.equal(before[k], v) for k, v in bn.state_dict().items())
    assert all(p.grad is None for p in bn.parameters())
    with torch.no_grad():
        assert F.cross_entropy(mnist_model(x_adv), y) > F.cross_entropy(mnist_model(x), y)
    again = pgd_attack(bn, x, y, cfg, mnist_space, torch.Generator().manual_seed(0))
    assert torch.equal(x_adv, again)


def test_pgd_fine_tuning_makes_the_model_more_robust(mnist_model, mnist_train, mnist_test,
                                                    mnist_space) -> None:
    """PGD fine-tuning of the natural model (20 batches) raises accuracy under PGD (ε = 0.1)."""
    x, y = mnist_train[0][:2000], mnist_train[1][:2000]
    attack = pgd_config(eps=0.1, step=0.025, steps=5)
    robust = copy.deepcopy(mnist_model).train()
    opt = torch.optim.Adam(robust.parameters(), 1e-3)
    regime = create_regime("pgd", None, {"eps": 0.1, "step": 0.025, "steps": 5}, mnist_space)
    assert regime.config == attack
    gen = torch.Generator().manual_seed(0)
    for i in range(0, len(x), 100):
        training_step(regime, robust, opt, x[i : i + 100], y[i : i + 100], gen)
    robust.eval()
    xt, yt = mnist_test
    accs = {}
    for name, model in (("natural", mnist_model), ("pgd", robust)):
        xa = pgd_attack(model, xt, yt, attack, mnist_space, torch.Generator().manual_seed(1))
        with torch.no_grad():
            accs[name] = float((model(xa).argmax(1) == yt).float().mean())
    # measured: natural 0.67, PGD fine-tuned 0.78 on these 64 test images
    assert accs["pgd"] > accs["natural"] + 0.05, accs


def test_presets_and_errors() -> None:
    assert PGD_PRESETS["mnist"].eps == 0.3 and PGD_PRESETS["mnist"].steps == 40
    assert PGD_PRESETS["mnist"].step == 0.01
    flower = PGD_PRESETS["flower"]
    assert (round(flower.eps * 255), round(flower.step * 255), flower.steps) == (8, 2, 7)
    with pytest.raises(AttrbenchError, match=r"eps must be in \[0, 1\]"):
        pgd_config(eps=8)
    with pytest.raises(AttrbenchError, match=r"PGD steps must be an integer >= 1"):
        pgd_config(steps=0)
    with pytest.raises(AttrbenchError, match=r"Unknown PGD preset 'cifar'"):
        pgd_config("cifar")
    with pytest.raises(AttrbenchError, match=r"Unknown PGD option\(s\) epsilon"):
        pgd_config(epsilon=0.1)
