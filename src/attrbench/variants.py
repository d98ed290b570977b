"""Named estimator variants: a method plus a post-processing chain, ``"method|step|step"``.

The composed name is what results and reports show; the FPA paper's names are aliases of it
(Sec. 3, NOTES §1.5): ``IG_sum`` = ``integrated_gradients|sum``, ``VG'_abs`` =
``vanilla_gradient|input_abs_sum``, ``SQ-SG_sum`` = ``smoothgrad_sq|sum``, ``Random`` =
``random|sum``.
A *preset* names a list of variants; ``fpa-table`` is the paper's ten columns in the paper's order.

>>> [v.label for v in resolve_variants(["fpa-table"])][:3]
['Random', 'IG_sum', 'IG_abs']
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.methods import Explainer, create_method, get_method_spec, list_methods, method_name
from attrbench.postprocess import keeps_sign, list_postprocess, parse_steps, postprocess

#: Paper names -> composed names. Primed = multiplied by the input (FPA Sec. 3). The ``*_sum`` of VG
#: and SG and ``SQ-SG'_sum`` exist only in the authors' code (NOTES §1.5).
ALIASES: dict[str, str] = {
    "Random": "random|sum",
    "IG_sum": "integrated_gradients|sum",
    "IG_abs": "integrated_gradients|abs_sum",
    "VG_sum": "vanilla_gradient|sum",
    "VG_abs": "vanilla_gradient|abs_sum",
    "VG'_sum": "vanilla_gradient|input_sum",
    "VG'_abs": "vanilla_gradient|input_abs_sum",
    "SG_sum": "smoothgrad|sum",
    "SG_abs": "smoothgrad|abs_sum",
    "SG'_sum": "smoothgrad|input_sum",
    "SG'_abs": "smoothgrad|input_abs_sum",
    "SQ-SG_sum": "smoothgrad_sq|sum",
    "SQ-SG'_sum": "smoothgrad_sq|input_sum",
}
_BY_NAME: dict[str, str] = {v: k for k, v in ALIASES.items()}

#: Named lists of variants (aliases or composed names).
PRESETS: dict[str, tuple[str, ...]] = {
    # FPA paper Table 1 / App. D.1-D.2, columns in the paper's order.
    "fpa-table": (
        "Random", "IG_sum", "IG_abs", "VG_abs", "VG'_sum",
        "VG'_abs", "SG_abs", "SG'_sum", "SG'_abs", "SQ-SG_sum",
    ),
    # The paper's two settings (Sec. 4.3): magnitude only, and signed scores; Random as the control.
    "fpa-unsigned": ("Random", "IG_abs", "VG_abs", "VG'_abs", "SG_abs", "SG'_abs", "SQ-SG_sum"),
    "fpa-signed": ("Random", "IG_sum", "VG'_sum", "SG'_sum"),
}

#: Where the FPA paper's text and the authors' code disagree on a method's parameters (NOTES §1.4,
#: issue 11 item 6). ``"paper"``: App. B, IG from a *black* image (``"black"``, resolved per
#: dataset by :func:`parity_method_params`) with the right Riemann sum k = 1..m, m = 200, and
#: SG / SQ-SG with n = 15. ``"code"``: the authors' ``saliency.core`` calls, IG from 0 in the
#: model's input space (gray for [-1, 1] inputs, the dataset mean for z-scored ones) at
#: linspace(0, 1, 200), SG / SQ-SG with n = 50. Neither (the default): the registry defaults, IG
#: baseline 0 (= the masking value) with the paper's right Riemann m = 200, SG / SQ-SG n = 15.
PARITY_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "integrated_gradients": {"baseline": "black", "quadrature": "riemann_right", "steps": 200},
        "smoothgrad": {"n_samples": 15},
        "smoothgrad_sq": {"n_samples": 15},
    },
    "code": {
        "integrated_gradients": {"baseline": 0.0, "quadrature": "linspace", "steps": 200},
        "smoothgrad": {"n_samples": 50},
        "smoothgrad_sq": {"n_samples": 50},
    },
}
PARITIES: tuple[str, ...] = tuple(PARITY_OVERRIDES)


def black_baseline(mean: Sequence[float], std: Sequence[float]) -> tuple[float, ...]:
    """A black image (pixel value 0) in the model's input space: ``(0 - mean) / std`` per channel.

    Args:
        mean, std: the dataset's per-channel normalisation of [0, 1] pixels.

    Returns:
        One baseline value per channel, e.g. ``(-1.0, -1.0, -1.0)`` for mean = std = 0.5.
    """
    if len(mean) != len(std) or not mean or any(float(v) <= 0 for v in std):
        raise AttrbenchError(
            f"A black baseline needs one mean and one std per channel (std > 0); got mean "
            f"{tuple(mean)}, std {tuple(std)}."
        )
    return tuple(-float(m) / float(v) for m, v in zip(mean, std, strict=True))


def resolve_black(
    overrides: Mapping[str, Mapping[str, Any]],
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    what: str = "this parity",
) -> dict[str, dict[str, Any]]:
    """Copy of ``overrides`` (method -> params), ``baseline="black"`` made per-channel values."""
    out: dict[str, dict[str, Any]] = {}
    for method, params in overrides.items():
        out[method] = dict(params)
        if params.get("baseline") == "black":
            if mean is None or std is None:
                raise AttrbenchError(
                    f"{what} uses a black IG baseline, which needs the dataset's normalisation "
                    "(mean and std per channel) to place black pixels in the model's input space."
                )
            out[method]["baseline"] = black_baseline(mean, std)
    return out


def parity_method_params(
    parity: str | None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-method overrides that reproduce the FPA paper's text or the authors' code.

    Args:
        parity: ``"paper"``, ``"code"`` or None (no overrides: the registry defaults).
        mean, std: the dataset's per-channel normalisation; needed by ``"paper"`` (black image).

    Returns:
        ``{method: {param: value}}`` for :func:`attrbench.methods.create_method`; explicit
        user overrides should be applied on top.

    Raises:
        AttrbenchError: an unknown parity, or ``"paper"`` without ``mean`` / ``std``.
    """
    if parity is None:
        return {}
    if parity not in PARITY_OVERRIDES:
        raise AttrbenchError(
            f"Unknown parity {parity!r}; use one of: {', '.join(PARITIES)} (or leave it out for "
            "the registry defaults)."
        )
    return resolve_black(PARITY_OVERRIDES[parity], mean, std, f"--parity {parity}")


_PRIMES = str.maketrans({"\u2032": "'", "\u2019": "'", "`": "'"})


@dataclass(frozen=True)
class Variant:
    """A method and the post-processing chain applied to its raw (B,C,H,W) output.

    Attributes:
        method: registered method name.
        steps: post-processing chain (one channel reduction, then map steps).
    """

    method: str
    steps: tuple[str, ...]

    @property
    def name(self) -> str:
        """The composed name, e.g. ``"vanilla_gradient|input_sum"``."""
        return "|".join((self.method, *self.steps))

    @property
    def alias(self) -> str | None:
        """The FPA paper's name (``"VG'_sum"``) or None."""
        return _BY_NAME.get(self.name)

    @property
    def label(self) -> str:
        """What tables show: the paper's alias when there is one, else the composed name."""
        return self.alias or self.name

    @property
    def signed(self) -> bool:
        """Whether maps can hold negative scores (counter-evidence, FPA Sec. 3): the reduction keeps
        the sign and the scores are signed (``input_sum`` makes any method signed: x can be < 0)."""
        sign_in = get_method_spec(self.method).signed or self.steps[0] == "input_sum"
        return sign_in and keeps_sign(self.steps)

    def apply(self, e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Post-process raw attributions ``e`` (B,C,H,W) of images ``x`` (B,C,H,W) to (B,H,W)."""
        return postprocess(e, x, self.steps)

    def create(self, model: nn.Module, **overrides: Any) -> VariantExplainer:
        """Bind to ``model``: see :func:`create_variant`."""
        return VariantExplainer(self, create_method(self.method, model, **overrides))


class VariantExplainer:
    """``(x (B,C,H,W), target (B,) | None) -> maps (B,H,W)``: explainer plus post-processing."""

    def __init__(self, variant: Variant, explainer: Explainer) -> None:
        self.variant = variant
        self.explainer = explainer

    @property
    def params(self) -> Mapping[str, Any]:
        """The method's resolved hyperparameters."""
        return self.explainer.params

    def describe(self) -> dict[str, Any]:
        """What results record: variant name, alias, method and its parameters."""
        head = {"variant": self.variant.name, "alias": self.variant.alias}
        return {**head, **self.explainer.describe()}

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor | Sequence[int] | None = None
    ) -> torch.Tensor:
        return self.variant.apply(self.explainer(x, target), x)

    def __repr__(self) -> str:
        return f"VariantExplainer({self.variant.label!r}, {self.explainer!r})"


def _unknown(name: str) -> AttrbenchError:
    known = [*ALIASES, *PRESETS, *list_methods()]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return AttrbenchError(
        f"Unknown variant {name!r}.{hint} Use 'method|step' (methods: {', '.join(list_methods())}; "
        f"steps: {', '.join(list_postprocess())}), a paper alias ({', '.join(ALIASES)}) "
        f"or a preset ({', '.join(PRESETS)})."
    )


#: Post-processing of a user method object given where a variant is expected: the channel sum of
#: what it returns (a (B, H, W) map unchanged). Register it and write "name|abs_sum" for another.
USER_POSTPROCESS: tuple[str, ...] = ("sum",)


def parse_variant(name: Any) -> Variant:
    """Parse ``"method|step[|step...]"`` or a paper alias into a :class:`Variant`.

    A :class:`Variant` is returned as is; a user method object (callable, Captum attribution,
    Quantus-style function; :mod:`attrbench.methods.custom`) is registered under its own name and
    gets :data:`USER_POSTPROCESS`.

    Raises:
        AttrbenchError: unknown method, alias or step (with suggestions), or no post-processing.
    """
    if isinstance(name, Variant):
        return name
    if not isinstance(name, str):
        return Variant(method_name(name), USER_POSTPROCESS)
    text = name.strip().translate(_PRIMES)
    text = ALIASES.get(text, text)
    method, _, chain = text.partition("|")
    method = method.strip()
    if method not in list_methods():
        if chain:
            get_method_spec(method)  # raises the registry's unknown-method error with suggestions
        raise _unknown(name)
    if not chain:
        raise AttrbenchError(
            f"Variant {name!r} needs a post-processing: e.g. '{method}|sum' (signed) or "
            f"'{method}|abs_sum' (unsigned); steps: {', '.join(list_postprocess())}."
        )
    return Variant(method, parse_steps(chain))


def resolve_variants(names: Any) -> list[Variant]:
    """Expand presets, aliases and composed names into variants, de-duplicated, order kept.

    Args:
        names: one string (one name, never split into characters) or several; each string may be
            comma-separated, e.g. ``["fpa-table", "grad_cam|positive_sum|minmax_p99"]``. Items may
            also be :class:`Variant` objects or user method objects (see :func:`parse_variant`).

    Raises:
        AttrbenchError: an unknown name (with suggestions) or an empty list.
    """
    single = isinstance(names, (str, Variant)) or not isinstance(names, Iterable)
    items = [names] if single else list(names)
    tokens = [t for item in items
              for t in ([s.strip() for s in item.split(",")] if isinstance(item, str) else [item])
              if not isinstance(t, str) or t]
    if not tokens:
        raise AttrbenchError(
            "No variants given; use e.g. 'fpa-table' or 'integrated_gradients|sum'. "
            f"Presets: {', '.join(PRESETS)}."
        )
    out: list[Variant] = []
    for token in tokens:
        for name in PRESETS.get(token, (token,)) if isinstance(token, str) else (token,):
            variant = parse_variant(name)
            if variant not in out:
                out.append(variant)
    return out


def create_variant(name: Any, model: nn.Module, **overrides: Any) -> VariantExplainer:
    """Build ``(x, target) -> (B,H,W)`` maps for a variant name (``"IG_sum"``) and ``model``.

    ``name`` may also be a :class:`Variant` or a user method object (see :func:`parse_variant`).
    ``overrides`` go to :func:`attrbench.methods.create_method` (hyperparameters, ``max_batch``).
    """
    variant = parse_variant(name)
    return variant.create(model, **overrides)


__all__ = [
    "ALIASES",
    "PARITIES",
    "PARITY_OVERRIDES",
    "PRESETS",
    "USER_POSTPROCESS",
    "Variant",
    "VariantExplainer",
    "black_baseline",
    "create_variant",
    "parity_method_params",
    "parse_variant",
    "resolve_black",
    "resolve_variants",
]
