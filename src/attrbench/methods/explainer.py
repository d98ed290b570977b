"""``create_method`` / ``list_methods`` and the :class:`Explainer` they return.

An explainer is a callable ``(x (B,C,H,W), target (B,) int64 | None) -> (B,C,H,W)`` bound to one
model and one set of resolved hyperparameters. The target defaults to the class the model predicts
on the unperturbed images, and gradients are taken of the pre-softmax logit (FPA paper App. B).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods.engine import DEFAULT_MAX_BATCH, forward_logits
from attrbench.methods.guard import attribution_mode
from attrbench.methods.spec import METHODS, MethodSpec
from attrbench.methods.validate import (
    check_attributions,
    check_images,
    check_logits,
    resolve_targets,
)


class Explainer:
    """An attribution method bound to a model, with its resolved hyperparameters.

    Create with :func:`create_method`. Calling it never changes the model: train/eval mode,
    ``requires_grad`` flags and ``.grad`` are restored and no hooks are left behind.

    Attributes:
        spec: the registry entry.
        model: the classifier (returns logits (B, K)).
        params: resolved hyperparameters (read-only), to be recorded with results.
        max_batch: most model inputs in one forward/backward pass (images x IG steps x SG samples
            are batched together up to this number); changes speed and memory, not results.
    """

    def __init__(
        self, spec: MethodSpec, model: nn.Module, params: Mapping[str, Any], max_batch: int
    ) -> None:
        self.spec = spec
        self.model = model
        self.params: Mapping[str, Any] = MappingProxyType(dict(params))
        self.max_batch = max_batch

    @property
    def name(self) -> str:
        """The registry name, e.g. ``"integrated_gradients"``."""
        return self.spec.name

    def describe(self) -> dict[str, Any]:
        """``{"method": name, **params}``: what results record about this explainer."""
        return {"method": self.name, **self.params}

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor | Sequence[int] | None = None
    ) -> torch.Tensor:
        """Attribute the target logit to the input features.

        Args:
            x: images (B, C, H, W), floating point, in the model's input space and on its device.
            target: (B,) int64 class per image, or None for the model's prediction on ``x``.

        Returns:
            Attributions (B, C, H, W) with the dtype and device of ``x`` (units: logit per input
            unit for gradients, logit for IG/occlusion; see each method).

        Raises:
            AttrbenchError: bad images (shape, dtype, NaN/Inf: names the images), targets out of
                range, or NaN/Inf produced by the model.
        """
        x = check_images(x, self.model)
        with attribution_mode(self.model):
            if x.is_inference():  # made under torch.inference_mode(): a normal copy can be traced
                x = x.clone()
            logits = check_logits(forward_logits(self.model, x, self.max_batch), x.shape[0])
            t = resolve_targets(target, logits)
            e = self.spec.compute(self.model, x, t, self.params, self.max_batch)
        return check_attributions(e.detach(), self.name).to(x.dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Explainer({self.name}: {args}; max_batch={self.max_batch})"


def list_methods(pattern: str = "*") -> list[str]:
    """Registered method names matching a shell pattern, sorted (``list_methods("smooth*")``)."""
    return METHODS.names(pattern)


def get_method_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` registered as ``name`` (AttrbenchError with suggestions if not)."""
    return METHODS.get(name)


def create_method(
    name: Any, model: nn.Module, *, max_batch: int = DEFAULT_MAX_BATCH, **overrides: Any
) -> Explainer:
    """Build the explainer ``name`` for ``model``.

    Args:
        name: a registered method (see :func:`list_methods`), or a user method object (callable,
            Captum attribution, Quantus-style function, MethodSpec), registered under its own
            name (:func:`attrbench.methods.custom.method_name`).
        model: classifier returning pre-softmax logits (B, K).
        max_batch: most model inputs per forward/backward pass (memory bound; results unchanged).
        **overrides: hyperparameters replacing the spec's defaults, e.g. ``steps=50``.

    Returns:
        The bound :class:`Explainer`; its ``params`` hold every resolved hyperparameter.

    Raises:
        AttrbenchError: unknown method or parameter, a bad value, or a missing/unknown layer.
    """
    if not isinstance(name, str):
        from attrbench.methods.custom import method_name

        name = method_name(name)
    spec = METHODS.get(name)
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        valid = ", ".join(spec.defaults) or "none"
        raise AttrbenchError(
            f"{name}: unknown parameter(s) {', '.join(repr(u) for u in unknown)}. "
            f"Valid parameters: {valid}."
        )
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise AttrbenchError(f"max_batch must be an integer >= 1, got {max_batch!r}.")
    params = {**spec.defaults, **overrides}
    if spec.prepare is not None:
        params = spec.prepare(model, params)
    return Explainer(spec, model, params, max_batch)
