"""Plain-gradient methods: vanilla gradient, gradient x input, integrated gradients.

VG and G x I are one gradient of the target logit (:func:`target_gradient`, run ``max_batch``
images at a time; the same arithmetic as Captum's ``Saliency`` / ``InputXGradient``). IG uses our
batched engine (see :mod:`attrbench.methods.engine` for why not Captum's
``IntegratedGradients``).

Each spec also carries its *differentiable* form (``MethodSpec.differentiable``): the same
attributions kept in the autograd graph of the input (``create_graph=True``), which the
attributional attacks differentiate (:mod:`attrbench.robustness.attacks`). VG and G x I share
:func:`target_gradient` with the explainer. IG's differentiable form shares the path (baseline,
quadrature points and weights, :func:`ig_path`) but sums all B x m path gradients in one batch in
the input's dtype, as the attacks always did, rather than in the engine's float64 accumulators:
the attacks' numbers stay exactly as before (design notes, "Bring your own method").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrbench.methods.engine import accumulate_gradients
from attrbench.methods.quadrature import QUADRATURES, ig_points
from attrbench.methods.spec import (
    MethodSpec,
    Params,
    baseline_tensor,
    check_baseline,
    check_choice,
    check_int,
)


def target_gradient(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, create_graph: bool = False
) -> torch.Tensor:
    """dS_c/dx of the target logits (B,) w.r.t. ``x`` (B,C,H,W), which must require grad.

    With ``create_graph`` the result stays in the autograd graph of ``x`` (second-order
    gradients, the attacks); else it is a plain tensor.
    """
    logits = model(x)
    selected = logits.gather(1, target.unsqueeze(1)).sum()
    (grad,) = torch.autograd.grad(selected, x, create_graph=create_graph)
    return grad


def _gradient_in_chunks(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, max_batch: int
) -> torch.Tensor:
    """:func:`target_gradient` of ``max_batch`` images at a time, each chunk a fresh leaf."""
    return torch.cat([
        target_gradient(model, xc.detach().clone().requires_grad_(True), tc)
        for xc, tc in zip(torch.split(x, max_batch), torch.split(target, max_batch))
    ])


def vanilla_gradient(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """VG (Simonyan et al. 2014; FPA App. B): e = dS_c/dx, (B,C,H,W), logit per input unit."""
    return _gradient_in_chunks(model, x, target, max_batch)


def input_x_gradient(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """G x I (Shrikumar et al. 2016): e = x * dS_c/dx, (B,C,H,W), in logits."""
    return x * _gradient_in_chunks(model, x, target, max_batch)


def ig_path(
    params: Params, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """IG's path for images ``x`` (B,C,H,W): ``(x0, alphas (m,), weights (m,), x - x0)``.

    ``x0`` is the baseline broadcastable to ``x``; point k is ``x0 + alphas[k] (x - x0)``.
    """
    x0 = baseline_tensor(params["baseline"], x)
    alphas, weights = ig_points(params["quadrature"], params["steps"], x.dtype, x.device)
    return x0, alphas, weights, x - x0


def integrated_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """IG (Sundararajan et al. 2017; FPA App. B) with the quadrature in ``params``.

    e = (x - x0) * sum_k w_k dS_c(x0 + a_k (x - x0))/dx, with (a_k, w_k) from
    :func:`~attrbench.methods.quadrature.ig_points`. Completeness: sum(e) ~ S_c(x) - S_c(x0).

    Returns:
        (B, C, H, W) attributions in logits.
    """
    x0, alphas, weights, diff = ig_path(params, x)

    def build(image: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x0 + alphas[point].view(-1, 1, 1, 1) * diff[image], weights[point]

    first, _ = accumulate_gradients(
        model, x, target, params["steps"], build, max_batch, what="integrated-gradients path points"
    )
    return (diff.to(torch.float64) * first).to(x.dtype)


def vanilla_gradient_differentiable(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params
) -> torch.Tensor:
    """VG kept in the graph of ``x``: dS_c/dx (B,C,H,W)."""
    return target_gradient(model, x, target, create_graph=True)


def input_x_gradient_differentiable(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params
) -> torch.Tensor:
    """G x I kept in the graph of ``x``: x * dS_c/dx (B,C,H,W)."""
    return x * target_gradient(model, x, target, create_graph=True)


def integrated_gradients_differentiable(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params
) -> torch.Tensor:
    """IG kept in the graph of ``x``: (x - x0) * sum_k w_k dS_c(x0 + a_k (x - x0))/dx.

    All m path points of the B images go through the model in one batch of B*m inputs (the
    caller bounds B); the weighted sum is taken in ``x``'s dtype.
    """
    x0, alphas, weights, diff = ig_path(params, x)
    m = alphas.numel()
    path = x0 + alphas.view(1, m, 1, 1, 1) * diff.unsqueeze(1)  # (B, m, C, H, W)
    grads = target_gradient(model, path.flatten(0, 1), target.repeat_interleave(m),
                            create_graph=True)
    avg = (weights.view(1, m, 1, 1, 1) * grads.view_as(path)).sum(dim=1)
    return diff * avg


def prepare_ig(
    model: nn.Module, params: dict[str, Any], method: str = "integrated_gradients"
) -> dict[str, Any]:
    """Check IG's ``steps``, ``quadrature`` and ``baseline``."""
    check_int(method, params, "steps")
    check_choice(method, params, "quadrature", QUADRATURES)
    params["baseline"] = check_baseline(method, params)
    return params


SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="vanilla_gradient",
        compute=vanilla_gradient,
        differentiable=vanilla_gradient_differentiable,
        signed=True,
        summary="VG: gradient of the target logit w.r.t. the input (as Captum Saliency, signed).",
        reference="Simonyan et al. 2014; FPA paper App. B",
    ),
    MethodSpec(
        name="input_x_gradient",
        compute=input_x_gradient,
        differentiable=input_x_gradient_differentiable,
        signed=True,
        summary="G x I: input times gradient (as Captum InputXGradient).",
        reference="Shrikumar et al. 2016; BAM code G x I",
    ),
    MethodSpec(
        name="integrated_gradients",
        compute=integrated_gradients,
        differentiable=integrated_gradients_differentiable,
        defaults={"steps": 200, "baseline": 0.0, "quadrature": "riemann_right"},
        signed=True,
        needs_baseline=True,
        summary="IG: path-integrated gradients from a baseline (m = 200, baseline 0).",
        reference="Sundararajan et al. 2017; FPA paper App. B (m = 200, right Riemann sum)",
        prepare=prepare_ig,
    ),
)
