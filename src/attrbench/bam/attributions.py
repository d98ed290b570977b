"""BAM-specific attribution settings: the squared IG-SmoothGrad of the authors' code.

BAM's ``bam/attributions.py`` wraps every method in the TF1 ``saliency`` package's
``GetSmoothedMask`` with its default ``magnitude=True`` (NOTES §2.3): "SG" is the mean of the
*squared* gradients over noisy copies (``smoothgrad_sq`` in our registry) and "IG-SG" is the mean of
the *squared* IG maps, ``e = 1/n sum_s IG(x + eps_s)^2`` (element-wise square of each copy's IG,
then the mean), not the mean of IG. The registry's ``integrated_gradients_smoothgrad`` is the
plain mean; the squared form lives here, as an unregistered :class:`MethodSpec` that
:func:`bam_explainer` builds for BAM only (the registry's set of names stays fixed).

Path points: ``saliency``'s ``IntegratedGradients.GetMask`` evaluates gradients at
``alpha = linspace(0, 1, x_steps)`` (both ends) with weight ``1 / x_steps``; BAM uses
``x_steps = 25``. Noise: the same per-image, per-sample draws as the registry's IG-SG
(:class:`~attrbench.methods.noise.ImageNoise`), sigma = ``noise_level * (max(x) - min(x))``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrbench.methods import create_method, get_method_spec
from attrbench.methods.engine import DEFAULT_MAX_BATCH, accumulate_gradients
from attrbench.methods.explainer import Explainer
from attrbench.methods.noise import ImageNoise
from attrbench.methods.quadrature import ig_points
from attrbench.methods.smoothing import noise_sigma
from attrbench.methods.spec import MethodSpec, Params, baseline_tensor

__all__ = ["IG_SG_SQ", "bam_explainer", "integrated_gradients_smoothgrad_sq",
           "noisy_integrated_gradients"]


def noisy_integrated_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """IG of every noisy copy, ``IG(x_b + eps_bs)`` from the baseline, float64 (B, n, C, H, W).

    ``IG(z) = (z - x0) * sum_k w_k dS_t(x0 + a_k (z - x0))/dz`` with ``(a_k, w_k)`` from
    ``params["quadrature"]`` and ``params["steps"]``; ``eps_bs`` as in the registry's IG-SG.
    Images are processed ``max(1, max_batch // n)`` at a time, so memory stays O(max_batch)
    images; gradients run ``max_batch`` model inputs per pass.

    Args:
        model: classifier in eval mode with frozen parameters (inside ``attribution_mode``).
        x: images (B, C, H, W) in the model's input space.
        target: (B,) int64 classes whose logit is differentiated.
        params: ``steps``, ``quadrature``, ``baseline``, ``n_samples``, ``noise_level``, ``seed``.
        max_batch: model inputs per forward/backward pass.

    Returns:
        (B, n, C, H, W) float64, in logits.
    """
    n, m = params["n_samples"], params["steps"]
    sigma = noise_sigma(x, params["noise_level"])
    noise = ImageNoise(x, params["seed"])
    x0 = baseline_tensor(params["baseline"], x)
    alphas, weights = ig_points(params["quadrature"], m, x.dtype, x.device)
    out = torch.empty((x.shape[0], n, *x.shape[1:]), dtype=torch.float64, device=x.device)
    per_chunk = max(1, max_batch // n)
    for start in range(0, x.shape[0], per_chunk):
        images = torch.arange(start, min(x.shape[0], start + per_chunk), device=x.device)
        image = images.repeat_interleave(n)
        sample = torch.arange(n, device=x.device).repeat(len(images))
        noisy = x[image] + sigma[image] * noise.normal(image, sample)
        diff = noisy - x0

        def build(copy: torch.Tensor, step: torch.Tensor,
                  diff: torch.Tensor = diff) -> tuple[torch.Tensor, torch.Tensor]:
            return x0 + alphas[step].view(-1, 1, 1, 1) * diff[copy], weights[step]

        first, _ = accumulate_gradients(model, noisy, target[image], m, build, max_batch,
                                        what="IG-SmoothGrad points")
        out[images] = (diff.to(torch.float64) * first).view(len(images), n, *x.shape[1:])
    return out


def integrated_gradients_smoothgrad_sq(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """BAM's IG-SG: ``e = 1/n sum_s IG(x + eps_s)^2`` >= 0, (B, C, H, W), in logits squared."""
    return noisy_integrated_gradients(model, x, target, params, max_batch).square().mean(
        dim=1).to(x.dtype)


_IG_SG = get_method_spec("integrated_gradients_smoothgrad")

#: The squared IG-SG (``magnitude=True``); not in the registry, built by :func:`bam_explainer`.
IG_SG_SQ = MethodSpec(
    name="integrated_gradients_smoothgrad_sq",
    compute=integrated_gradients_smoothgrad_sq,
    defaults={**_IG_SG.defaults, "quadrature": "linspace"},
    signed=False,
    stochastic=True,
    needs_baseline=True,
    summary="IG-SG^2: mean over n noisy copies of the squared IG map (BAM's IG-SG).",
    reference="BAM (Yang & Kim 2019) code: saliency GetSmoothedMask(magnitude=True) around IG",
    prepare=_IG_SG.prepare,
)

_LOCAL = {IG_SG_SQ.name: IG_SG_SQ}


def bam_explainer(name: str, model: nn.Module, *, max_batch: int = DEFAULT_MAX_BATCH,
                  **overrides: Any) -> Explainer:
    """:func:`~attrbench.methods.create_method` that also knows BAM's squared IG-SG.

    Raises:
        AttrbenchError: unknown method or parameter, or a bad value (as ``create_method``).
    """
    spec = _LOCAL.get(name)
    if spec is None:
        return create_method(name, model, max_batch=max_batch, **overrides)
    # build through the registry's checks on the unsquared spec, then swap in the squared compute
    plain = create_method(_IG_SG.name, model, max_batch=max_batch,
                          **{**spec.defaults, **overrides})
    return Explainer(spec, model, plain.params, plain.max_batch)
