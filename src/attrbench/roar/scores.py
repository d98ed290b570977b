"""Importance scores of a whole split for ROAR / IteROAR, by variant name or the random baseline.

``"random"`` is the baseline of both benchmarks: an independent U[0, 1) score per pixel (spatial)
or per element, drawn from a seeded generator, ranked by the same rule as every method, so it
removes exactly as many features at the same rate (the ROAR code draws Bernoulli dropout at that
rate instead; exact counts make the comparison paired).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import create_method, get_method_spec, method_name
from attrbench.roar.removal import UNITS, check_choice, element_scores
from attrbench.runtime import make_generator, match_memory_format
from attrbench.variants import ALIASES, parse_variant

RANDOM = "random"


def check_variant(name: Any, unit: str) -> str:
    """Validate a variant for ``unit``; return its canonical name.

    Spatial ranking needs a post-processing (``"method|abs_sum"``); per-element ranking uses the
    raw attribution, so a bare method name is accepted (a given post-processing is ignored). A
    user method object (callable, Captum attribution class, Quantus-style function) is registered
    under its own name (``"<name>|sum"`` when spatial; :mod:`attrbench.methods.custom`).

    Raises:
        AttrbenchError: unknown method/step/alias (with suggestions) or unknown unit.
    """
    check_choice("ranking unit", unit, UNITS)
    if isinstance(name, str) and name == RANDOM:
        return RANDOM
    if not isinstance(name, str):
        return method_name(name) if unit == "element" else parse_variant(name).name
    if unit == "element":
        method = ALIASES.get(name, name).partition("|")[0].strip()
        get_method_spec(method)  # unknown -> the registry's error with suggestions
        return method
    return parse_variant(name).name


def split_scores(model: nn.Module, images: torch.Tensor, variant: str, unit: str, *,
                 targets: torch.Tensor | None = None, seed: int = 0, batch_size: int = 128,
                 device: torch.device | str = "cpu",
                 params: dict[str, Any] | None = None) -> torch.Tensor:
    """Scores of every image of a split.

    Args:
        model: the classifier the maps are computed on (eval mode, on ``device``).
        images: ``(N, C, H, W)`` in the model's input space (CPU is fine; moved per batch).
        variant: ``"random"``, a variant (``"vanilla_gradient|abs_sum"``) or, for
            ``unit="element"``, a method name.
        unit: ``"spatial"`` -> ``(N, H, W)`` maps; ``"element"`` -> ``(N, C, H, W)`` squared raw
            attributions.
        targets: ``(N,)`` class per image, or None for the model's prediction (ROAR code).
        seed: seeds the random baseline and stochastic methods.
        batch_size: images per explainer call.
        device: where the model runs.
        params: the method's parameters (e.g. ``{"steps": 16}`` for IG); None = its defaults.
            ``seed`` is always ``seed``.

    Returns:
        float64 scores on the CPU, higher = more important.
    """
    name = check_variant(variant, unit)
    n, c, h, w = images.shape
    if name == RANDOM:
        shape = (n, h, w) if unit == "spatial" else (n, c, h, w)
        return torch.rand(shape, generator=make_generator(seed), dtype=torch.float64)
    if unit == "spatial":
        v = parse_variant(name)
        method = v.method
    else:
        method = name
    overrides = dict(params or {})
    if "seed" in get_method_spec(method).defaults:
        overrides["seed"] = seed
    explainer = create_method(method, model, **overrides)
    out = []
    for start in range(0, n, batch_size):
        # channels-last when the model is (as every trained model here): same values, ~1.25x
        # faster input gradients on a CPU.
        x = match_memory_format(model, images[start:start + batch_size].to(device))
        t = None if targets is None else targets[start:start + batch_size].to(device)
        e = explainer(x, t)
        s = v.apply(e, x) if unit == "spatial" else element_scores(e)
        out.append(s.detach().double().cpu())
    scores = torch.cat(out)
    if not torch.isfinite(scores).all():
        raise AttrbenchError(f"{variant} produced NaN/Inf scores; check the model and method.")
    return scores


