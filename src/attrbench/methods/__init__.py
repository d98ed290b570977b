"""Attribution methods ("importance estimators", FPA paper Sec. 3 and App. B).

- :func:`list_methods`, :func:`create_method`, :func:`get_method_spec`: the registry (timm style).
- :class:`Explainer`: ``explainer(x (B,C,H,W), target (B,) | None) -> (B,C,H,W)``, with ``.params``.
- :class:`MethodSpec`: the frozen registry entry (flags and every default hyperparameter).
- :func:`register_method`: bring your own method (callable, Captum, Quantus-style), see
  :mod:`.custom`.

Registration is explicit: the entries are the ``SPECS`` tuples of the modules below, registered in
this order, and a test asserts the exact set of names.
"""

from __future__ import annotations

from attrbench.methods import cam, control, gradient, guided, perturbation, smoothing
from attrbench.methods.custom import (
    as_method_spec,
    method_name,
    register_method,
    unregister_method,
)
from attrbench.methods.engine import DEFAULT_MAX_BATCH
from attrbench.methods.explainer import Explainer, create_method, get_method_spec, list_methods
from attrbench.methods.guard import attribution_mode
from attrbench.methods.quadrature import QUADRATURES, ig_points
from attrbench.methods.spec import METHODS, MethodSpec

for _module in (gradient, smoothing, guided, cam, perturbation, control):
    for _spec in _module.SPECS:
        METHODS.register(_spec.name, _spec)

__all__ = [
    "DEFAULT_MAX_BATCH",
    "METHODS",
    "QUADRATURES",
    "Explainer",
    "MethodSpec",
    "as_method_spec",
    "attribution_mode",
    "create_method",
    "get_method_spec",
    "ig_points",
    "list_methods",
    "method_name",
    "register_method",
    "unregister_method",
]
