"""Attribution maps of a batch of images: the library side of ``attrbench explain``.

:func:`explain` takes what every benchmark takes as a method: a registered method
(``"integrated_gradients"``, shown with the signed channel sum), a variant or paper alias
(``"smoothgrad|input_sum"``, ``"SG'_sum"``), or a user method object (a callable
``(model, x, target)``, a Captum attribution, a Quantus-style ``explain_func``), which is
registered under its own name and shown with the channel sum (:mod:`attrbench.methods.custom`).
One string is one method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import DEFAULT_MAX_BATCH, get_method_spec, list_methods
from attrbench.variants import Variant, create_variant, parse_variant

#: Which class is explained: the model's prediction (as the FPA paper) or the true label.
TARGETS = ("predicted", "label")


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` returns (tensors on the model's device).

    Attributes:
        variant: the method and its post-processing.
        named: True when a variant or alias was named; False for a method given alone (its maps
            are the signed channel sum of the raw attributions).
        attributions: raw attributions (B, C, H, W), in the method's units.
        maps: post-processed maps (B, H, W).
        targets: (B,) int64 classes explained.
        predictions: (B,) int64 classes the model predicts.
        config: ``variant``, ``alias``, the method and its resolved parameters
            (``VariantExplainer.describe``) and ``signed``.
    """

    variant: Variant
    named: bool
    attributions: torch.Tensor
    maps: torch.Tensor
    targets: torch.Tensor
    predictions: torch.Tensor
    config: dict[str, Any]

    @property
    def title(self) -> str:
        """What a figure heading shows: the variant's label, or ``"<method> (channel sum)"``."""
        return self.variant.label if self.named else f"{self.variant.method} (channel sum)"


def variant_for(method: Any) -> tuple[Variant, bool]:
    """``(variant, named)`` of a method name, a variant / alias or a user method object.

    A bare method name gets the signed channel sum (``named`` False); a user method object is
    registered under its own name and gets the channel sum too.

    Raises:
        AttrbenchError: an unknown name (with suggestions) or an unaccepted object.
    """
    if isinstance(method, str) and method.strip() in list_methods():
        return Variant(method.strip(), ("sum",)), False
    variant = parse_variant(method)
    return variant, isinstance(method, (str, Variant))


def explain(model: nn.Module, x: torch.Tensor, method: Any = "integrated_gradients", *,
            labels: torch.Tensor | Sequence[int] | None = None, target: str = "predicted",
            max_batch: int = DEFAULT_MAX_BATCH, **params: Any) -> Explanation:
    """Explain images ``x`` with one method.

    Args:
        model: classifier returning logits (B, K); put in eval mode.
        x: images (B, C, H, W) in the model's input space, on the model's device.
        method: a method name, variant, alias or user method object (see the module docstring).
        labels: (B,) true classes; needed for ``target="label"``.
        target: ``"predicted"`` (the model's class, as the FPA paper) or ``"label"``.
        max_batch: model inputs per forward/backward pass (memory bound; results unchanged).
        **params: the method's hyperparameters, e.g. ``steps=50``.

    Returns:
        :class:`Explanation`.

    Raises:
        AttrbenchError: a bad method, parameter or target, or labels that do not fit ``x``.
    """
    if target not in TARGETS:
        raise AttrbenchError(f"target must be 'predicted' or 'label', got {target!r}.")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise AttrbenchError("x must be a tensor of images (B, C, H, W); stack a dataset's "
                             "images first.")
    variant, named = variant_for(method)
    explainer = create_variant(variant, model, max_batch=max_batch, **params)
    with torch.no_grad():
        predictions = model.eval()(x).argmax(1)
    if target == "label":
        if labels is None:
            raise AttrbenchError("target='label' needs labels= (B,) true classes.")
        targets = torch.as_tensor(labels, dtype=torch.int64, device=x.device)
        if targets.shape != predictions.shape:
            raise AttrbenchError(f"labels has shape {tuple(targets.shape)} but there are "
                                 f"{len(x)} images; give one label per image.")
    else:
        targets = predictions
    raw = explainer.explainer(x, targets)
    maps = variant.apply(raw, x)
    config = {**explainer.describe(), "signed": get_method_spec(variant.method).signed}
    return Explanation(variant, named, raw.detach(), maps.detach(), targets, predictions, config)


__all__ = ["TARGETS", "Explanation", "explain", "variant_for"]
