"""Differentiable attribution maps for the gradient attacks (second-order gradients).

The registry's explainers return detached attributions (``attrbench.methods``); an attributional
attack needs the map *as a function of the input* so that the gradient of a loss on the map can be
back-propagated to the input (``create_graph=True``; Ghorbani et al. 2019, Sec. 3). This module
re-expresses the differentiable methods with the explainer's own resolved hyperparameters
(IG's steps, baseline and quadrature), so the attacker differentiates the same map the benchmark
evaluates, only on the smooth surrogate network (:mod:`.surrogate`).

Unlike Ghorbani's code, which takes the sign of an IG-path-weighted sum of loss gradients at each
counterfactual, we differentiate the IG map itself (exact gradient of the surrogate loss).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import Explainer
from attrbench.methods.quadrature import ig_points
from attrbench.methods.spec import baseline_tensor

#: Methods the gradient attacks can differentiate through.
DIFFERENTIABLE_METHODS: tuple[str, ...] = (
    "input_x_gradient", "integrated_gradients", "vanilla_gradient"
)


def check_differentiable(explainer: Explainer) -> None:
    """Raise AttrbenchError unless the attacks can differentiate ``explainer``'s map."""
    if explainer.name not in DIFFERENTIABLE_METHODS:
        raise AttrbenchError(
            f"Method {explainer.name!r} has no differentiable form for the gradient attacks; use "
            f"one of {', '.join(DIFFERENTIABLE_METHODS)}, or the 'random' attack (random-sign "
            "noise), which works with any method."
        )


def _target_logit_gradient(
    model: nn.Module, inputs: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    logits = model(inputs)
    selected = logits.gather(1, target.unsqueeze(1)).sum()
    (grad,) = torch.autograd.grad(selected, inputs, create_graph=True)
    return grad


def differentiable_attributions(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, params: dict[str, Any]
) -> torch.Tensor:
    """Raw attributions ``(B, C, H, W)`` that stay in the autograd graph of ``x``.

    Args:
        model: the (surrogate-wrapped) classifier, eval mode, parameters frozen.
        x: ``(B, C, H, W)`` input requiring grad.
        target: ``(B,)`` int64 classes.
        method: one of :data:`DIFFERENTIABLE_METHODS`.
        params: the explainer's resolved hyperparameters.

    Returns:
        VG: dS/dx; G x I: x * dS/dx; IG: (x - x0) * sum_k w_k dS(x0 + a_k (x - x0))/dx (the
        explainer's quadrature; all m path points in one batch of B*m inputs).
    """
    if method == "vanilla_gradient":
        return _target_logit_gradient(model, x, target)
    if method == "input_x_gradient":
        return x * _target_logit_gradient(model, x, target)
    if method == "integrated_gradients":
        x0 = baseline_tensor(params["baseline"], x)
        alphas, weights = ig_points(params["quadrature"], params["steps"], x.dtype, x.device)
        m = alphas.numel()
        diff = x - x0
        path = x0 + alphas.view(1, m, 1, 1, 1) * diff.unsqueeze(1)  # (B, m, C, H, W)
        grads = _target_logit_gradient(model, path.flatten(0, 1), target.repeat_interleave(m))
        avg = (weights.view(1, m, 1, 1, 1) * grads.view_as(path)).sum(dim=1)
        return diff * avg
    raise AttrbenchError(f"No differentiable form for method {method!r}.")


def differentiable_map(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, explainer: Explainer
) -> torch.Tensor:
    """Sum_c |e| of the explainer's method, differentiable w.r.t. ``x``, normalised to sum 1.

    Returns:
        ``(B, H, W)`` float, each map summing to 1 (Ghorbani et al. normalise the saliency map so
        that the attack cannot simply scale it down).
    """
    e = differentiable_attributions(model, x, target, explainer.name, dict(explainer.params))
    s = e.abs().sum(dim=1)
    return s / s.flatten(1).sum(dim=1).clamp_min(1e-12).view(-1, 1, 1)
