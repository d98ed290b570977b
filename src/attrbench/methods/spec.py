"""The frozen description of one attribution method and the registry that holds them.

A :class:`MethodSpec` carries every default hyperparameter (IG's ``steps`` and ``baseline``,
SmoothGrad's ``n_samples`` and ``noise_level`` ...) so nothing is hidden inside an adapter: the
resolved parameters are exposed on the explainer and recorded with results (DESIGN.md,
"Registries").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.registry import Registry

#: Resolved hyperparameters of one explainer (read-only mapping, name -> value).
Params = Mapping[str, Any]

#: ``compute(model, x (B,C,H,W), target (B,) int64, params, max_batch) -> (B,C,H,W)``. Called inside
#: :func:`attrbench.methods.guard.attribution_mode` with validated inputs and targets.
ComputeFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, Params, int], torch.Tensor]

#: ``differentiable(model, x (B,C,H,W) requiring grad, target (B,) int64, params) -> (B,C,H,W)``:
#: the same attributions kept in the autograd graph of ``x`` (gradients taken with
#: ``create_graph=True``), for the attributional attacks; called inside ``attribution_mode``.
DifferentiableFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, Params], torch.Tensor]

#: ``prepare(model, params) -> params``: check and resolve parameters once, when the explainer is
#: created (e.g. turn ``layer=None`` into the model's default CAM layer). Raises AttrbenchError.
PrepareFn = Callable[[nn.Module, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    """One registered attribution method.

    Attributes:
        name: snake_case registry key, e.g. ``"integrated_gradients"``.
        compute: the implementation, see :data:`ComputeFn`.
        defaults: every hyperparameter with its default value (read-only mapping).
        signed: raw scores can be negative (evidence vs counter-evidence, FPA paper Sec. 3).
        stochastic: draws random numbers; then ``defaults`` holds a ``seed``.
        needs_baseline: uses a reference input; then ``defaults`` holds a ``baseline``.
        needs_layer: needs an internal layer; then ``defaults`` holds a ``layer``.
        summary: one line for ``list`` output.
        reference: the paper the method comes from.
        prepare: optional parameter resolution at creation time, see :data:`PrepareFn`.
        differentiable: the attributions as a function of the input (:data:`DifferentiableFn`),
            or None when the gradient attacks cannot differentiate the method.
        origin: for a user method, where it came from (``"mypkg.mod.my_fn"``,
            ``"captum.attr.Saliency"``); empty for the built-in methods.
        source: for a user method, the object it was made from (not compared).
    """

    name: str
    compute: ComputeFn
    defaults: Mapping[str, Any] = field(default_factory=dict)
    signed: bool = True
    stochastic: bool = False
    needs_baseline: bool = False
    needs_layer: bool = False
    summary: str = ""
    reference: str = ""
    prepare: PrepareFn | None = None
    differentiable: DifferentiableFn | None = None
    origin: str = ""
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def user(self) -> bool:
        """Registered by the user (:func:`attrbench.methods.register_method`), not built in."""
        return bool(self.origin)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        required = {"stochastic": "seed", "needs_baseline": "baseline", "needs_layer": "layer"}
        for flag, key in required.items():
            if getattr(self, flag) and key not in self.defaults:
                raise TypeError(f"MethodSpec {self.name!r}: {flag} requires a {key!r} default")


METHODS: Registry[MethodSpec] = Registry("method")


# ---------------------------------------------------------------------------------------------
# Parameter checks shared by the method modules (messages name the method and say what to pass).
# ---------------------------------------------------------------------------------------------


def check_int(method: str, params: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    """Return ``params[key]`` as an int >= ``minimum`` or raise AttrbenchError."""
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AttrbenchError(f"{method}: {key} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_float(method: str, params: Mapping[str, Any], key: str, minimum: float = 0.0) -> float:
    """Return ``params[key]`` as a finite float >= ``minimum`` or raise AttrbenchError."""
    value = params[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not minimum <= value < float("inf"):
        raise AttrbenchError(
            f"{method}: {key} must be a finite number >= {minimum}, got {value!r}."
        )
    return float(value)


def check_choice(method: str, params: Mapping[str, Any], key: str, choices: Sequence[str]) -> str:
    """Return ``params[key]`` if it is one of ``choices`` or raise AttrbenchError."""
    value = params[key]
    if value not in choices:
        raise AttrbenchError(f"{method}: {key} must be one of {', '.join(choices)}; got {value!r}.")
    return str(value)


def check_baseline(method: str, params: Mapping[str, Any]) -> float | tuple[float, ...]:
    """The reference input in model input space: one number, or one number per channel.

    Returns:
        A float, or a tuple of floats (per channel); lists are turned into tuples so the resolved
        parameters stay hashable and JSON-friendly.
    """
    value = params["baseline"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        return tuple(float(v) for v in value)
    raise AttrbenchError(
        f"{method}: baseline must be a number or a list of one number per channel (model input "
        f"space), got {value!r}."
    )


def baseline_tensor(baseline: float | Sequence[float], x: torch.Tensor) -> torch.Tensor:
    """Broadcastable baseline for images ``x`` (B,C,H,W): shape (1,C,1,1) or a 0-d tensor.

    Raises:
        AttrbenchError: a per-channel baseline whose length is not C.
    """
    if isinstance(baseline, (int, float)):
        return torch.tensor(float(baseline), dtype=x.dtype, device=x.device)
    if len(baseline) != x.shape[1]:
        raise AttrbenchError(
            f"baseline has {len(baseline)} values but the images have {x.shape[1]} channels; "
            "give one value per channel or a single number."
        )
    return torch.tensor(list(baseline), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
