"""Class activation maps: Grad-CAM, Guided Grad-CAM and CAM.

All three read one internal layer (by dotted name, ``model.get_submodule``), produce one value per
feature-map location (B, 1, h, w), upsample it bilinearly to the input's H x W and tile it over the
C input channels (BAM's convention, NOTES §2.3), so the output is (B, C, H, W) like every other
method; a ``sum`` post-processing therefore gives C times the map (rankings are unchanged).

Default layer: for models built by :func:`attrbench.models.create_model`, the registry's
``ModelSpec.cam_layer`` (and ``fc_layer`` for CAM); other models must pass ``layer=``.
"""

from __future__ import annotations

import difflib
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods.engine import captum_in_chunks
from attrbench.methods.guard import capture_output
from attrbench.methods.guided import guided_backprop
from attrbench.methods.spec import MethodSpec, Params
from attrbench.models import model_spec_of, unwrap_model


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name`` of ``model`` (dotted; relative to the bare network inside an input
    normalisation wrapper, or to the wrapper itself).

    Raises:
        AttrbenchError: no such submodule; suggests close names.
    """
    for root in (unwrap_model(model), model):
        try:
            return root.get_submodule(name)
        except AttributeError:
            continue
    bare = unwrap_model(model)
    names = [n for n, _ in bare.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    top = ", ".join(n for n, _ in bare.named_children())
    raise AttrbenchError(
        f"Layer {name!r} not found in {type(bare).__name__}.{hint} "
        f"Top-level modules: {top} (dotted names as in model.named_modules())."
    )


def _prepare_layer(method: str, model: nn.Module, params: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``layer`` (None -> the model spec's ``cam_layer``) and check that it exists."""
    if params["layer"] is None:
        spec = model_spec_of(model)
        if spec is None:
            raise AttrbenchError(
                f"{method} needs a layer: pass layer='<dotted name>' (e.g. 'layer4'), a module "
                "name from model.named_modules(); only attrbench models have a default."
            )
        params["layer"] = spec.cam_layer
    if not isinstance(params["layer"], str):
        raise AttrbenchError(
            f"{method}: layer must be a dotted module name (str), got {params['layer']!r}."
        )
    find_layer(model, params["layer"])
    if "relu" in params and not isinstance(params["relu"], bool):
        raise AttrbenchError(f"{method}: relu must be true or false, got {params['relu']!r}.")
    return params


def _to_input(cam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) map -> bilinear upsampling to x's H x W -> tiled to (B, C, H, W)."""
    if cam.ndim != 4 or cam.shape[1] != 1:
        raise AttrbenchError(
            "The CAM layer must output (B, K, h, w) feature maps; "
            f"got a map of shape {tuple(cam.shape)}."
        )
    up = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return up.expand(-1, x.shape[1], -1, -1).contiguous()


def grad_cam(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) via Captum ``LayerGradCam``.

    map = ReLU(sum_k a_k A_k) with a_k = mean_{h,w} dS_c/dA_k, then upsampled and tiled:
    (B, C, H, W), in logits.
    """
    layer = find_layer(model, params["layer"])
    low = captum_in_chunks(
        LayerGradCam(model, layer), x, target, max_batch, relu_attributions=params["relu"]
    )
    return _to_input(low, x)


def guided_grad_cam(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times upsampled Grad-CAM.

    Composed from our own pieces rather than Captum's ``GuidedGradCam``, whose guided backprop
    misses functional ReLUs (see :mod:`attrbench.methods.guided`) and which upsamples with nearest
    neighbours. Returns (B, C, H, W).
    """
    guided = guided_backprop(model, x, target, params, max_batch)
    return guided * grad_cam(model, x, target, params, max_batch)


def _find_fc(model: nn.Module, name: str | None) -> nn.Linear:
    if name is None:
        spec = model_spec_of(model)
        if spec is not None:
            name = spec.fc_layer
        else:
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise AttrbenchError(
                    "cam needs a final nn.Linear after global average pooling; the model has none."
                )
            return linears[-1]
    fc = find_layer(model, name)
    if not isinstance(fc, nn.Linear):
        raise AttrbenchError(f"cam: fc_layer {name!r} is a {type(fc).__name__}, not an nn.Linear.")
    return fc


def cam(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """CAM (Zhou et al. 2016) for networks with logits = fc(mean_{h,w} A) (GAP + one linear layer).

    map(i, j) = sum_k W_{c,k} A_k(i, j) / (h w): Zhou et al.'s map divided by the number of
    locations, so the low-resolution map sums to logit_c - bias_c and equals Grad-CAM before its
    ReLU. Optional ReLU (``relu``), then upsampled and tiled: (B, C, H, W), in logits.

    Raises:
        AttrbenchError: the model is not GAP + linear at the chosen layers (checked numerically).
    """
    layer = find_layer(model, params["layer"])
    fc = _find_fc(model, params["fc_layer"])
    with torch.no_grad(), capture_output(layer) as acts:
        logits = torch.cat([model(chunk) for chunk in torch.split(x, max_batch)])
    feats = torch.cat(acts)
    if feats.ndim != 4 or feats.shape[1] != fc.in_features:
        raise AttrbenchError(
            f"cam: layer {params['layer']!r} outputs {tuple(feats.shape[1:])}, but fc expects "
            f"{fc.in_features} channels; choose the last convolutional block before global "
            "average pooling."
        )
    with torch.no_grad():
        pooled = fc(feats.mean(dim=(2, 3)))
        atol = 1e-4 * float(logits.abs().max()) + 1e-6
        if not torch.allclose(pooled, logits, rtol=1e-3, atol=atol):
            raise AttrbenchError(
                f"cam needs logits = fc(global-average-pool({params['layer']})); this model "
                "computes something else there. Use grad_cam instead."
            )
        weights = fc.weight[target]  # (B, K)
        locations = feats.shape[2] * feats.shape[3]
        low = torch.einsum("bkhw,bk->bhw", feats, weights).unsqueeze(1) / locations
        if params["relu"]:
            low = low.clamp_min(0)
    return _to_input(low, x)


def _prepare_cam(model: nn.Module, params: dict[str, Any]) -> dict[str, Any]:
    params = _prepare_layer("cam", model, params)
    if params["fc_layer"] is None:
        spec = model_spec_of(model)
        if spec is not None:
            params["fc_layer"] = spec.fc_layer
    _find_fc(model, params["fc_layer"])
    return params


SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="grad_cam",
        compute=grad_cam,
        defaults={"layer": None, "relu": True},
        signed=False,
        needs_layer=True,
        summary="Grad-CAM: gradient-weighted layer activations, ReLU, bilinear upsampling.",
        reference="Selvaraju et al. 2017; BAM",
        prepare=lambda model, params: _prepare_layer("grad_cam", model, params),
    ),
    MethodSpec(
        name="guided_grad_cam",
        compute=guided_grad_cam,
        defaults={"layer": None, "relu": True},
        signed=True,
        needs_layer=True,
        summary="Guided Grad-CAM: guided backprop times upsampled Grad-CAM.",
        reference="Selvaraju et al. 2017; BAM",
        prepare=lambda model, params: _prepare_layer("guided_grad_cam", model, params),
    ),
    MethodSpec(
        name="cam",
        compute=cam,
        defaults={"layer": None, "fc_layer": None, "relu": False},
        signed=True,
        needs_layer=True,
        summary="CAM: final-layer weights times the last feature maps (GAP + linear models only).",
        reference="Zhou et al. 2016; IteROAR",
        prepare=_prepare_cam,
    ),
)
