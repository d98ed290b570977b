"""Occlusion (Zeiler & Fergus 2014): the logit drop when a square window is set to the baseline.

A thin adapter over Captum's ``Occlusion``; ``max_batch`` bounds images x window positions per
forward pass (Captum's ``perturbations_per_eval``).
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import Occlusion
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods.spec import MethodSpec, Params, baseline_tensor, check_baseline, check_int


def occlusion(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """Occlusion map (B, C, H, W) in logits.

    Every ``window`` x ``window`` square (all channels, moved by ``stride`` pixels) is replaced by
    the baseline; each pixel's score is the mean of S_c(x) - S_c(x occluded) over the windows
    covering it (0 for pixels no window covers when (H - window) is not a multiple of stride).

    Raises:
        AttrbenchError: the window is larger than the images.
    """
    window, stride = params["window"], params["stride"]
    channels, height, width = x.shape[1:]
    if window > min(height, width):
        raise AttrbenchError(
            f"occlusion: window {window} is larger than the {height}x{width} images; "
            "pass a smaller window=."
        )
    base = baseline_tensor(params["baseline"], x).expand(1, channels, height, width).contiguous()
    attr = Occlusion(model)
    outs = []
    for xc, tc in zip(torch.split(x, max_batch), torch.split(target, max_batch)):
        outs.append(
            attr.attribute(
                xc,
                sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride),
                baselines=base,
                target=tc,
                perturbations_per_eval=max(1, max_batch // xc.shape[0]),
            )
        )
    return torch.cat(outs)


def _prepare(model: nn.Module, params: dict[str, Any]) -> dict[str, Any]:
    check_int("occlusion", params, "window")
    check_int("occlusion", params, "stride")
    params["baseline"] = check_baseline("occlusion", params)
    return params


SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="occlusion",
        compute=occlusion,
        defaults={"window": 4, "stride": 2, "baseline": 0.0},
        signed=True,
        needs_baseline=True,
        summary="Occlusion: logit drop when a window x window square is set to the baseline "
        "(4/2 px suits 32 px images; use 16/8 for 224 px).",
        reference="Zeiler & Fergus 2014; IteROAR",
        prepare=_prepare,
    ),
)
