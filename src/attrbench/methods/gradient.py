"""Plain-gradient methods: vanilla gradient, gradient x input, integrated gradients.

VG and G x I are thin adapters over Captum's ``Saliency`` and ``InputXGradient`` (run ``max_batch``
images at a time). IG uses our batched engine (see :mod:`attrbench.methods.engine` for why not
Captum's ``IntegratedGradients``).
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import InputXGradient, Saliency
from torch import nn

from attrbench.methods.engine import accumulate_gradients, captum_in_chunks
from attrbench.methods.quadrature import QUADRATURES, ig_points
from attrbench.methods.spec import (
    MethodSpec,
    Params,
    baseline_tensor,
    check_baseline,
    check_choice,
    check_int,
)


def vanilla_gradient(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """VG (Simonyan et al. 2014; FPA App. B): e = dS_c/dx, (B,C,H,W), logit per input unit."""
    return captum_in_chunks(Saliency(model), x, target, max_batch, abs=False)


def input_x_gradient(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """G x I (Shrikumar et al. 2016): e = x * dS_c/dx, (B,C,H,W), in logits."""
    return captum_in_chunks(InputXGradient(model), x, target, max_batch)


def integrated_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """IG (Sundararajan et al. 2017; FPA App. B) with the quadrature in ``params``.

    e = (x - x0) * sum_k w_k dS_c(x0 + a_k (x - x0))/dx, with (a_k, w_k) from
    :func:`~attrbench.methods.quadrature.ig_points`. Completeness: sum(e) ~ S_c(x) - S_c(x0).

    Returns:
        (B, C, H, W) attributions in logits.
    """
    x0 = baseline_tensor(params["baseline"], x)
    alphas, weights = ig_points(params["quadrature"], params["steps"], x.dtype, x.device)
    diff = x - x0

    def build(image: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x0 + alphas[point].view(-1, 1, 1, 1) * diff[image], weights[point]

    first, _ = accumulate_gradients(
        model, x, target, params["steps"], build, max_batch, what="integrated-gradients path points"
    )
    return (diff.to(torch.float64) * first).to(x.dtype)


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
        signed=True,
        summary="VG: gradient of the target logit w.r.t. the input (Captum Saliency, signed).",
        reference="Simonyan et al. 2014; FPA paper App. B",
    ),
    MethodSpec(
        name="input_x_gradient",
        compute=input_x_gradient,
        signed=True,
        summary="G x I: input times gradient (Captum InputXGradient).",
        reference="Shrikumar et al. 2016; BAM code G x I",
    ),
    MethodSpec(
        name="integrated_gradients",
        compute=integrated_gradients,
        defaults={"steps": 200, "baseline": 0.0, "quadrature": "riemann_right"},
        signed=True,
        needs_baseline=True,
        summary="IG: path-integrated gradients from a baseline (m = 200, baseline 0).",
        reference="Sundararajan et al. 2017; FPA paper App. B (m = 200, right Riemann sum)",
        prepare=prepare_ig,
    ),
)
