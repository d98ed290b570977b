"""The random control: importance scores that know nothing about the model.

FPA's "Random" column (NOTES §1.5) draws a fresh U(0, 1) value per pixel and image. Here the draw
is seeded per image (:class:`~attrbench.methods.noise.ImageNoise`), so it is reproducible and
independent of batching, and the pixel value is tiled over the C channels like the CAM methods.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrbench.methods.noise import ImageNoise
from attrbench.methods.spec import MethodSpec, Params, check_int


def random_scores(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """U[0, 1) per pixel, tiled over channels: (B, C, H, W). The model and target are not used."""
    draws = ImageNoise(x, params["seed"]).uniform((1, *x.shape[-2:]))
    return draws.expand(-1, x.shape[1], -1, -1).contiguous()


def _prepare(model: nn.Module, params: dict[str, Any]) -> dict[str, Any]:
    check_int("random", params, "seed", minimum=-(2**63))
    return params


SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="random",
        compute=random_scores,
        defaults={"seed": 0},
        signed=False,
        stochastic=True,
        summary="Random control: seeded U[0, 1) score per pixel (FPA's 'Random').",
        reference="FPA paper Fig. 3 / Table 1 'Random'",
        prepare=_prepare,
    ),
)
