"""Differentiable attribution maps for the gradient attacks (second-order gradients).

The registry's explainers return detached attributions (``attrbench.methods``); an attributional
attack needs the map *as a function of the input* so that the gradient of a loss on the map can be
back-propagated to the input (``create_graph=True``; Ghorbani et al. 2019, Sec. 3). That form
belongs to the method itself: ``MethodSpec.differentiable`` (VG, G x I and IG in
:mod:`attrbench.methods.gradient`, with the explainer's own resolved hyperparameters: IG's steps,
baseline and quadrature; a user method registered with ``differentiable=True``). This module only
turns it into the attack's normalised map, computed on the smooth surrogate network
(:mod:`.surrogate`).

Unlike Ghorbani's code, which takes the sign of an IG-path-weighted sum of loss gradients at each
counterfactual, we differentiate the IG map itself (exact gradient of the surrogate loss).
"""

from __future__ import annotations

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import METHODS, Explainer

#: Built-in methods the gradient attacks can differentiate through (user methods registered with
#: ``differentiable=True`` also qualify).
DIFFERENTIABLE_METHODS: tuple[str, ...] = tuple(
    n for n in METHODS if METHODS.get(n).differentiable is not None
)


def check_differentiable(explainer: Explainer) -> None:
    """Raise AttrbenchError unless the attacks can differentiate ``explainer``'s map."""
    if explainer.spec.differentiable is None:
        names = [n for n in METHODS if METHODS.get(n).differentiable is not None]
        raise AttrbenchError(
            f"Method {explainer.name!r} has no differentiable form for the gradient attacks; use "
            f"one of {', '.join(names)} (or register yours with differentiable=True), or a random "
            "attack (random, random_sign), which works with any method."
        )


def differentiable_map(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, explainer: Explainer
) -> torch.Tensor:
    """Sum_c |e| of the explainer's method, differentiable w.r.t. ``x``, normalised to sum 1.

    Args:
        model: the (surrogate-wrapped) classifier, eval mode, parameters frozen.
        x: ``(B, C, H, W)`` input requiring grad.
        target: ``(B,)`` int64 classes.
        explainer: the method under attack (its ``spec.differentiable`` and resolved ``params``).

    Returns:
        ``(B, H, W)`` float, each map summing to 1 (Ghorbani et al. normalise the saliency map so
        that the attack cannot simply scale it down).
    """
    check_differentiable(explainer)
    e = explainer.spec.differentiable(model, x, target, explainer.params)  # type: ignore[misc]
    s = e.abs().sum(dim=1)
    return s / s.flatten(1).sum(dim=1).clamp_min(1e-12).view(-1, 1, 1)
