"""Noise-averaged gradients: SmoothGrad, squared SmoothGrad, VarGrad, IG-SmoothGrad.

All four run on the batched engine (images x samples [x IG steps] in chunks of ``max_batch``), not
on Captum's ``NoiseTunnel``: NoiseTunnel expands every input n times in memory before the wrapped
method expands it again, and it draws from the global RNG, whereas here the noise for image b and
sample s comes from :class:`~attrbench.methods.noise.ImageNoise` (seeded per image,
batch-independent) and SQ-SG and VarGrad are computed from the same draws in one pass.

Noise: eps ~ N(0, sigma^2) per element with sigma = noise_level * (max(x_b) - min(x_b)) over the
whole image b (all channels), as ``saliency.core`` (``stdev_spread = 0.15``) used by the FPA code
(NOTES §1.4).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrbench.methods.engine import accumulate_gradients
from attrbench.methods.gradient import prepare_ig
from attrbench.methods.noise import ImageNoise
from attrbench.methods.quadrature import ig_points
from attrbench.methods.spec import MethodSpec, Params, baseline_tensor, check_float, check_int


def noise_sigma(x: torch.Tensor, noise_level: float) -> torch.Tensor:
    """(B, 1, 1, 1) noise standard deviation: ``noise_level`` times each image's value range."""
    flat = x.flatten(1)
    return (noise_level * (flat.amax(dim=1) - flat.amin(dim=1))).view(-1, 1, 1, 1)


def _noisy_gradient_sums(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean gradient, mean squared gradient), float64 (B,C,H,W), over n noisy copies per image."""
    n = params["n_samples"]
    sigma = noise_sigma(x, params["noise_level"])
    noise = ImageNoise(x, params["seed"])

    def build(image: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noisy = x[image] + sigma[image] * noise.normal(image, point)
        return noisy, torch.full(image.shape, 1.0 / n, dtype=x.dtype, device=x.device)

    mean, mean_sq = accumulate_gradients(
        model, x, target, n, build, max_batch, squares=True, what="SmoothGrad noisy copies"
    )
    assert mean_sq is not None
    return mean, mean_sq


def smoothgrad(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """SG (Smilkov et al. 2017; FPA App. B): e = 1/n sum_s dS_c(x + eps_s)/dx, (B,C,H,W)."""
    return _noisy_gradient_sums(model, x, target, params, max_batch)[0].to(x.dtype)


def smoothgrad_sq(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """SQ-SG (Hooker et al. 2019; FPA App. B): e = 1/n sum_s (dS_c(x + eps_s)/dx)^2 >= 0."""
    return _noisy_gradient_sums(model, x, target, params, max_batch)[1].to(x.dtype)


def vargrad(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """VarGrad (Adebayo et al. 2018): per-element variance (1/n) of noisy gradients = SQ-SG - SG^2.

    Computed in float64 from the same draws; clipped at 0 against rounding.
    """
    mean, mean_sq = _noisy_gradient_sums(model, x, target, params, max_batch)
    return (mean_sq - mean.square()).clamp_min(0.0).to(x.dtype)


def integrated_gradients_smoothgrad(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """IG-SG (Smilkov et al. 2017; BAM): mean over n noisy copies x + eps_s of IG(x + eps_s).

    e = 1/n sum_s (x + eps_s - x0) * sum_k w_k dS_c(x0 + a_k (x + eps_s - x0))/dx, one pass over
    images x samples x steps.
    """
    n, m = params["n_samples"], params["steps"]
    sigma = noise_sigma(x, params["noise_level"])
    noise = ImageNoise(x, params["seed"])
    x0 = baseline_tensor(params["baseline"], x)
    alphas, weights = ig_points(params["quadrature"], m, x.dtype, x.device)

    def build(image: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sample, step = point // m, point % m
        diff = x[image] + sigma[image] * noise.normal(image, sample) - x0
        coef = (weights[step] / n).view(-1, 1, 1, 1) * diff
        return x0 + alphas[step].view(-1, 1, 1, 1) * diff, coef

    first, _ = accumulate_gradients(
        model, x, target, n * m, build, max_batch, what="IG-SmoothGrad points"
    )
    return first.to(x.dtype)


def prepare_noise(
    model: nn.Module, params: dict[str, Any], method: str = "smoothgrad"
) -> dict[str, Any]:
    """Check ``n_samples``, ``noise_level`` and ``seed``."""
    check_int(method, params, "n_samples")
    params["noise_level"] = check_float(method, params, "noise_level")
    check_int(method, params, "seed", minimum=-(2**63))
    return params


def _prepare_ig_sg(model: nn.Module, params: dict[str, Any]) -> dict[str, Any]:
    params = prepare_noise(model, params, "integrated_gradients_smoothgrad")
    return prepare_ig(model, params, "integrated_gradients_smoothgrad")


_NOISE_DEFAULTS = {"n_samples": 15, "noise_level": 0.15, "seed": 0}
_SG_REF = "Smilkov et al. 2017; FPA paper App. B (n = 15; code: n = 50, sigma 0.15 (max - min))"

SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="smoothgrad",
        compute=smoothgrad,
        defaults=_NOISE_DEFAULTS,
        signed=True,
        stochastic=True,
        summary="SG: mean gradient over n noisy copies (n = 15, sigma = 0.15 (max - min)).",
        reference=_SG_REF,
        prepare=prepare_noise,
    ),
    MethodSpec(
        name="smoothgrad_sq",
        compute=smoothgrad_sq,
        defaults=_NOISE_DEFAULTS,
        signed=False,
        stochastic=True,
        summary="SQ-SG: mean squared gradient over n noisy copies (non-negative).",
        reference="Hooker et al. 2019; FPA paper App. B",
        prepare=lambda model, params: prepare_noise(model, params, "smoothgrad_sq"),
    ),
    MethodSpec(
        name="vargrad",
        compute=vargrad,
        defaults=_NOISE_DEFAULTS,
        signed=False,
        stochastic=True,
        summary="VarGrad: variance of the gradient over n noisy copies (= SQ-SG - SG^2).",
        reference="Adebayo et al. 2018; ROAR (Hooker et al. 2019)",
        prepare=lambda model, params: prepare_noise(model, params, "vargrad"),
    ),
    MethodSpec(
        name="integrated_gradients_smoothgrad",
        compute=integrated_gradients_smoothgrad,
        defaults={
            "steps": 25, "quadrature": "riemann_right", "baseline": 0.0,
            "n_samples": 25, "noise_level": 0.15, "seed": 0,
        },
        signed=True,
        stochastic=True,
        needs_baseline=True,
        summary="IG-SG: IG averaged over n noisy copies (25 steps x 25 samples as BAM's code).",
        reference="Smilkov et al. 2017; BAM (Yang & Kim 2019) code defaults",
        prepare=_prepare_ig_sg,
    ),
)
