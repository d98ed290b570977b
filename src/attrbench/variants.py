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
from attrbench.methods import Explainer, create_method, get_method_spec, list_methods
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

#: Method overrides that reproduce a source: the paper's text (the registry defaults) or the
#: authors' code (NOTES §1.4: IG at linspace(0, 1, 200) incl. both ends; SG and SQ-SG with n = 50).
PARITY_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {},
    "code": {
        "integrated_gradients": {"quadrature": "linspace"},
        "smoothgrad": {"n_samples": 50},
        "smoothgrad_sq": {"n_samples": 50},
    },
}

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


def parse_variant(name: str) -> Variant:
    """Parse ``"method|step[|step...]"`` or a paper alias into a :class:`Variant`.

    Raises:
        AttrbenchError: unknown method, alias or step (with suggestions), or no post-processing.
    """
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


def resolve_variants(names: str | Iterable[str]) -> list[Variant]:
    """Expand presets, aliases and composed names into variants, de-duplicated, order kept.

    Args:
        names: one string or several; each may be comma-separated, e.g.
            ``["fpa-table", "grad_cam|positive_sum|minmax_p99"]``.

    Raises:
        AttrbenchError: an unknown name (with suggestions) or an empty list.
    """
    items = [names] if isinstance(names, str) else list(names)
    tokens = [t.strip() for item in items for t in item.split(",") if t.strip()]
    if not tokens:
        raise AttrbenchError(
            "No variants given; use e.g. 'fpa-table' or 'integrated_gradients|sum'. "
            f"Presets: {', '.join(PRESETS)}."
        )
    out: list[Variant] = []
    for token in tokens:
        for name in PRESETS.get(token, (token,)):
            variant = parse_variant(name)
            if variant not in out:
                out.append(variant)
    return out


def create_variant(name: str | Variant, model: nn.Module, **overrides: Any) -> VariantExplainer:
    """Build ``(x, target) -> (B,H,W)`` maps for a variant name (``"IG_sum"``) and ``model``.

    ``overrides`` go to :func:`attrbench.methods.create_method` (hyperparameters, ``max_batch``).
    """
    variant = name if isinstance(name, Variant) else parse_variant(name)
    return variant.create(model, **overrides)


def group_by_method(variants: Iterable[Variant]) -> dict[str, list[Variant]]:
    """Variants grouped by method, so each raw attribution is computed once (order kept)."""
    groups: dict[str, list[Variant]] = {}
    for v in variants:
        groups.setdefault(v.method, []).append(v)
    return groups


def list_presets() -> list[str]:
    """Names of the variant presets."""
    return list(PRESETS)


__all__ = [
    "ALIASES",
    "PARITY_OVERRIDES",
    "PRESETS",
    "Variant",
    "VariantExplainer",
    "create_variant",
    "group_by_method",
    "list_presets",
    "parse_variant",
    "resolve_variants",
]
