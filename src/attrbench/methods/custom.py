"""Bring your own attribution method: plain callables, Captum objects, Quantus explain functions.

Each form becomes a :class:`~attrbench.methods.spec.MethodSpec` in the method registry, so a user
method runs through the same :class:`~attrbench.methods.Explainer` as the built-in ones (image and
target checks, ``attribution_mode``, NaN refusal, ``max_batch`` images per call) and every
benchmark takes it wherever it takes a method name:

- a plain callable ``fn(model, x, target, **params) -> (B, C, H, W) | (B, 1, H, W) | (B, H, W)``:
  ``x`` (B, C, H, W) is a fresh leaf tensor that requires grad, ``target`` (B,) int64; a tensor
  or a NumPy array comes back;
- a Captum ``Attribution`` instance (``captum.attr.Saliency(model)``), called as
  ``attr.attribute(x, target=target, **params)``; it must be bound to the model explained. A
  Captum attribution *class* (``captum.attr.Saliency``) is bound to each model;
- a Quantus-style ``explain_func(model, inputs, targets, **kwargs) -> ndarray`` (recognised by its
  parameters named ``inputs`` and ``targets``): called with keywords, ``inputs`` a float32 NumPy
  array (B, C, H, W) on the CPU and ``targets`` int64 (B,), as Quantus calls it.

A map (B, H, W) is taken as one channel, (B, 1, H, W): the channel reductions of the
post-processing then apply to it (``sum`` leaves it unchanged, ``abs_sum`` takes |m|).

Registration: :func:`register_method` names a method explicitly (with its ``signed`` and
``differentiable`` flags and default parameters); :func:`method_name` registers an object passed
where a name is expected under its own name (a function's ``__name__``, ``captum_<class>`` for
Captum). Built-in names are never replaced; a user name is replaced by a newer object given under
the same name (re-running a notebook cell), and kept for the same object.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods.spec import METHODS, MethodSpec, Params
from attrbench.methods.validate import _indices, bad_rows

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

#: What the adapters accept, for error messages.
FORMS = ("a registered name, a callable (model, x, target) -> (B, C, H, W) or (B, H, W), a "
         "Captum Attribution (instance or class), a Quantus-style explain_func(model, inputs, "
         "targets, **kwargs) or a MethodSpec")


def _captum_attribution() -> type | None:
    try:
        from captum.attr import Attribution
    except ImportError:  # pragma: no cover - captum is a dependency
        return None
    return Attribution


def _snake(text: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()


def method_kind(obj: object) -> str:
    """``"spec"``, ``"captum"`` (instance), ``"captum_class"``, ``"quantus"`` or ``"callable"``.

    Raises:
        AttrbenchError: ``obj`` is none of the accepted forms.
    """
    if isinstance(obj, MethodSpec):
        return "spec"
    attribution = _captum_attribution()
    if attribution is not None:
        if isinstance(obj, type) and issubclass(obj, attribution):
            return "captum_class"
        if isinstance(obj, attribution):
            return "captum"
    if isinstance(obj, (str, bytes, nn.Module, torch.Tensor, np.ndarray)) or not callable(obj):
        raise AttrbenchError(f"Cannot use a {type(obj).__name__} as an attribution method; give "
                             f"{FORMS}.")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}
    return "quantus" if "inputs" in params and "targets" in params else "callable"


def _default_name(obj: object, kind: str) -> str:
    if kind == "spec":
        return obj.name  # type: ignore[attr-defined]
    if kind in ("captum", "captum_class"):
        cls = obj if kind == "captum_class" else type(obj)
        return f"captum_{_snake(cls.__name__)}"  # type: ignore[attr-defined]
    name = getattr(obj, "__name__", None) or _snake(type(obj).__name__)
    if name == "<lambda>":
        raise AttrbenchError("A lambda has no name to show in results; name it: "
                             "attrbench.register_method('my_method', fn), or use a def.")
    return name


def _origin(obj: object, kind: str) -> str:
    target = obj if kind != "captum" else type(obj)
    module = getattr(target, "__module__", None) or type(target).__module__
    qual = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qual}"


def as_attributions(out: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """Check and shape what a user method returned for images ``x`` (B,C,H,W).

    Returns:
        (B, C, H, W) or (B, 1, H, W) on ``x``'s device in ``x``'s dtype (a (B, H, W) map gains a
        channel axis); the autograd graph, if any, is kept.

    Raises:
        AttrbenchError: not a tensor / array, a wrong shape, or NaN / Inf (names the images).
    """
    if isinstance(out, np.ndarray):
        out = torch.from_numpy(np.ascontiguousarray(out))
    if not isinstance(out, torch.Tensor):
        raise AttrbenchError(f"Method {name!r} returned a {type(out).__name__}; return a tensor or "
                             "NumPy array of shape (B, C, H, W) or (B, H, W).")
    b, c, h, w = x.shape
    if tuple(out.shape) == (b, h, w):
        out = out.unsqueeze(1)
    if out.ndim != 4 or out.shape[0] != b or tuple(out.shape[2:]) != (h, w) \
            or out.shape[1] not in (1, c):
        raise AttrbenchError(
            f"Method {name!r} returned shape {tuple(out.shape)} for images {tuple(x.shape)}; "
            f"return attributions ({b}, {c}, {h}, {w}) or maps ({b}, {h}, {w}) (upsample "
            "layer-sized maps to the image size).")
    bad = bad_rows(out)
    if bool(bad.any()):
        raise AttrbenchError(f"Method {name!r} returned NaN or Inf for images {_indices(bad)}; "
                             "a method must return finite scores.")
    return out.to(device=x.device, dtype=x.dtype)


def _chunks(x: torch.Tensor, target: torch.Tensor, max_batch: int):  # type: ignore[no-untyped-def]
    return zip(torch.split(x, max_batch), torch.split(target, max_batch))


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


def _captum_bound(attr: Any, model: nn.Module, name: str) -> Any:
    forward = getattr(attr, "forward_func", None)
    if forward is model or getattr(forward, "__self__", None) is model:
        return attr
    raise AttrbenchError(
        f"Method {name!r}: the Captum object is bound to another model than the one explained; "
        f"pass the class (captum.attr.{type(attr).__name__}) or a function (model, x, target) so "
        "each model gets its own.")


def _compute_fn(obj: Any, kind: str, name: str) -> Callable[..., torch.Tensor]:
    """The :data:`~attrbench.methods.spec.ComputeFn` of a user method."""

    def compute(model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params,
                max_batch: int) -> torch.Tensor:
        if kind == "captum":
            attr = _captum_bound(obj, model, name)
        elif kind == "captum_class":
            attr = obj(model)
        outs = []
        for xc, tc in _chunks(x, target, max_batch):
            if kind in ("captum", "captum_class"):
                out = attr.attribute(_leaf(xc), target=tc, **params)
            elif kind == "quantus":
                out = obj(model=model, inputs=xc.detach().cpu().numpy(),
                          targets=tc.cpu().numpy(), **params)
            else:
                out = obj(model, _leaf(xc), tc, **params)
            outs.append(as_attributions(out, xc, name).detach())
        return torch.cat(outs)

    return compute


def _differentiable_fn(obj: Any, name: str) -> Callable[..., torch.Tensor]:
    def differentiable(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                       params: Params) -> torch.Tensor:
        out = as_attributions(obj(model, x, target, **params), x, name)
        if not out.requires_grad:
            raise AttrbenchError(
                f"Method {name!r} is registered differentiable=True but its output is not in the "
                "autograd graph of x; take gradients with create_graph=True, or register it with "
                "differentiable=False (then only the random attacks apply).")
        return out

    return differentiable


def as_method_spec(obj: object, name: str | None = None, *, signed: bool = True,
                   differentiable: bool = False,
                   defaults: Mapping[str, Any] | None = None, summary: str = "") -> MethodSpec:
    """A :class:`MethodSpec` for a user method (not registered; see :func:`register_method`).

    Args:
        obj: a callable, Captum attribution (instance or class), Quantus-style explain function
            or a MethodSpec (then only ``name`` is applied).
        name: registry name (letters, digits, ``_ . -``); None = the object's own name.
        signed: the raw scores can be negative (drives ``Variant.signed``).
        differentiable: ``obj(model, x, target)`` keeps its output in the autograd graph of ``x``
            (gradients with ``create_graph=True``), so the gradient attacks can use it. Only for
            plain callables.
        defaults: the method's parameters and their defaults, passed to it as keywords (and
            overridable as ``method_params``); for Captum, keywords of ``attribute``.
        summary: one line for listings.

    Raises:
        AttrbenchError: an unaccepted object, a bad name, or ``differentiable`` for a form that
            cannot keep the graph.
    """
    kind = method_kind(obj)
    name = _default_name(obj, kind) if name is None else name
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise AttrbenchError(f"Method name {name!r} must start with a letter or _ and hold only "
                             "letters, digits, '_', '.' or '-' (no '|' or ',').")
    if kind == "spec":
        spec = obj  # type: ignore[assignment]
        return dataclasses.replace(spec, name=name, origin=spec.origin or f"spec:{spec.name}",
                                   source=spec.source if spec.source is not None else spec)
    if differentiable and kind != "callable":
        raise AttrbenchError(
            f"Method {name!r}: only a plain callable (model, x, target) can be differentiable "
            f"(a {kind.replace('_', ' ')} method breaks the autograd graph); wrap the computation "
            "in a function that takes gradients with create_graph=True.")
    return MethodSpec(
        name=name, compute=_compute_fn(obj, kind, name), defaults=dict(defaults or {}),
        signed=bool(signed), summary=summary or f"user method ({kind.replace('_', ' ')})",
        differentiable=_differentiable_fn(obj, name) if differentiable else None,
        origin=_origin(obj, kind), source=obj)


def _install(spec: MethodSpec) -> MethodSpec:
    """Register ``spec`` (replacing an older user entry of that name); return the entry kept."""
    if spec.name in METHODS:
        old = METHODS.get(spec.name)
        if not old.user:
            raise AttrbenchError(f"{spec.name!r} is a built-in method; give yours another name, "
                                 f"e.g. attrbench.register_method('my_{spec.name}', fn).")
        METHODS.unregister(spec.name)
    return METHODS.register(spec.name, spec)


def register_method(name: str, fn_or_spec: object, *, signed: bool = True,
                    differentiable: bool = False, defaults: Mapping[str, Any] | None = None,
                    summary: str = "") -> MethodSpec:
    """Register a user attribution method under ``name`` for every benchmark and ``explain``.

    Afterwards ``name`` works wherever a method name does: ``"name|abs_sum"`` as a variant in
    :func:`attrbench.evaluate`, ROAR and IteROAR, ``name`` in robustness and BAM.

    Args:
        name: registry name (not a built-in one; a previous user method of that name is replaced).
        fn_or_spec: see :func:`as_method_spec` for the accepted forms.
        signed, differentiable, defaults, summary: see :func:`as_method_spec`.

    Returns:
        The registered :class:`MethodSpec`.

    Raises:
        AttrbenchError: a built-in name, a bad name or object.
    """
    return _install(as_method_spec(fn_or_spec, name, signed=signed, differentiable=differentiable,
                                   defaults=defaults, summary=summary))


def method_name(obj: object) -> str:
    """The registry name of ``obj``: a name is checked, any other method form is registered.

    An object already registered (by :func:`register_method` or an earlier call) keeps its entry
    and flags; a new object under a user name replaces the older one.

    Raises:
        AttrbenchError: an unknown name (with suggestions) or an unaccepted object.
    """
    if isinstance(obj, str):
        METHODS.get(obj)
        return obj
    for existing in METHODS:
        spec = METHODS.get(existing)
        if spec.user and spec.source is obj:
            return existing
    if isinstance(obj, MethodSpec) and obj.name in METHODS and METHODS.get(obj.name) is obj:
        return obj.name
    return _install(as_method_spec(obj)).name


def one_or_many(items: object) -> tuple[object, ...]:
    """``items`` as a tuple: a bare string or one method object is *one* item.

    A string (``"IG_sum"``, ``"integrated_gradients|sum"``) is one name, never iterated character
    by character; a callable, Captum attribution or :class:`MethodSpec` is one method; a list,
    tuple or other iterable gives its items. Every benchmark's method / variant list goes through
    this (then through :func:`method_labels` or the variant parser).
    """
    attribution = _captum_attribution()
    single = (isinstance(items, (str, bytes, MethodSpec)) or callable(items)
              or (attribution is not None and isinstance(items, attribution))
              or not isinstance(items, Iterable))
    return (items,) if single else tuple(items)


def method_labels(items: object) -> tuple[str, ...]:
    """Method labels of one or several methods: strings kept, method objects registered.

    Strings are returned as given (the benchmark checks them: BAM also knows its paper labels
    ``GC`` ... ``GGC``); any other form is registered under its own name by :func:`method_name`.

    Raises:
        AttrbenchError: an unaccepted object (see :data:`FORMS`).
    """
    return tuple(m if isinstance(m, str) else method_name(m) for m in one_or_many(items))


def unregister_method(name: str) -> MethodSpec:
    """Remove a user method (built-in methods cannot be removed)."""
    spec = METHODS.get(name)
    if not spec.user:
        raise AttrbenchError(f"{name!r} is a built-in method and cannot be removed.")
    return METHODS.unregister(name)
