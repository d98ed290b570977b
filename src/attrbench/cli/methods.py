"""``attrbench methods``: the attribution methods, post-processing steps, variants and presets.

What ``--method`` accepts, shown without triggering an error: the registered
methods (signed scores, differentiable by the attributional attacks, stochastic, default
hyperparameters), the post-processing steps a variant chains after a method
(``method|step|step``), the FPA paper's variant aliases and the named presets.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from attrbench.cli.app import app
from attrbench.errors import AttrbenchError


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def method_rows(pattern: str = "*") -> list[dict[str, Any]]:
    """One row per registered method whose name matches the shell-style ``pattern``.

    Returns:
        Dicts with ``name``, ``signed`` (raw scores can be negative), ``differentiable`` (the
        gradient attacks of ``attrbench robustness`` can differentiate it), ``stochastic``,
        ``defaults`` (hyperparameter -> default), ``summary``, ``reference`` and ``origin``
        (empty for a built-in method, where a user method came from otherwise).
    """
    from attrbench.methods import get_method_spec, list_methods

    rows = []
    for name in list_methods(pattern):
        spec = get_method_spec(name)
        rows.append({"name": name, "signed": spec.signed,
                     "differentiable": spec.differentiable is not None,
                     "stochastic": spec.stochastic, "defaults": dict(spec.defaults),
                     "summary": spec.summary, "reference": spec.reference, "origin": spec.origin})
    return rows


def catalogue(pattern: str = "*") -> dict[str, Any]:
    """Everything ``attrbench methods`` prints, as JSON-friendly data.

    Returns:
        ``methods`` (:func:`method_rows`), ``postprocess`` (name, kind ``reduce`` / ``map``,
        whether it keeps the sign, summary), ``variants`` (paper alias -> composed name and
        whether its maps are signed) and ``presets`` (name -> list of variant names).
    """
    from attrbench.postprocess import POSTPROCESS, list_postprocess
    from attrbench.variants import ALIASES, PRESETS, parse_variant

    steps = [POSTPROCESS.get(n) for n in list_postprocess()]
    return {
        "methods": method_rows(pattern),
        "postprocess": [{"name": s.name, "kind": s.kind, "keeps_sign": s.keeps_sign,
                         "summary": s.summary} for s in steps],
        "variants": [{"alias": alias, "name": composed, "signed": parse_variant(alias).signed}
                     for alias, composed in ALIASES.items()],
        "presets": {name: list(items) for name, items in PRESETS.items()},
    }


def _params(defaults: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "-"


@app.command("methods")
def methods(
    pattern: str = typer.Argument(
        "*", help="Shell-style filter on the method names, e.g. 'smooth*'."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """List the attribution methods (signed? differentiable by the attacks?), the post-processing
    steps, the FPA paper's variant aliases and the presets: everything --method accepts.

    A variant (evaluate, roar, iteroar: --method) is 'method|step[|step]', e.g.
    'integrated_gradients|abs_sum', a paper alias such as "VG'_sum", or a preset such as
    'fpa-table'; robustness, bam and explain take a method name (--method). Override a default
    with --method-param METHOD.PARAM=VALUE (PARAM=VALUE when one method is given). PATTERN
    filters the methods table only.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    data = catalogue(pattern)
    if not data["methods"]:
        raise AttrbenchError(
            f"No method matches {pattern!r}; run 'attrbench methods' to see them all.")
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    console = Console()
    table = Table(title="attribution methods (signed: raw scores can be negative; differentiable: "
                  "usable by the gradient attacks of attrbench robustness)")
    for col in ("name", "signed", "differentiable", "stochastic", "defaults", "summary"):
        table.add_column(col, no_wrap=col == "name")
    for r in data["methods"]:
        table.add_row(r["name"], _yes(r["signed"]), _yes(r["differentiable"]),
                      _yes(r["stochastic"]), escape(_params(r["defaults"])), escape(r["summary"]))
    console.print(table)
    steps = Table(title="post-processing steps (variant = method|reduce[|map])")
    for col in ("step", "kind", "keeps sign", "summary"):
        steps.add_column(col, no_wrap=col == "step")
    for s in data["postprocess"]:
        steps.add_row(s["name"], s["kind"], _yes(s["keeps_sign"]), escape(s["summary"]))
    console.print(steps)
    aliases = Table(title="FPA paper variant names")
    for col in ("alias", "variant", "signed maps"):
        aliases.add_column(col, no_wrap=True)
    for v in data["variants"]:
        aliases.add_row(escape(v["alias"]), escape(v["name"]), _yes(v["signed"]))
    console.print(aliases)
    presets = Table(title="presets (--method NAME: a list of variants)")
    presets.add_column("preset", no_wrap=True)
    presets.add_column("variants")
    for name, items in data["presets"].items():
        presets.add_row(name, escape(", ".join(items)))
    console.print(presets)
