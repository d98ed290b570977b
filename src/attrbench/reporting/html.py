"""The self-contained HTML report and ``build_all``: tables, figures and report of a results folder.

Everything is built from the stored results only (``reporting/folder.py``). The report is one file
readable offline: inline CSS, PNGs embedded as base64 data URIs, no scripts, fonts or links to
fetch. It follows the FPA paper's presentation: Table D.2 layout (Sec. 4.3), Figs. 2-5 (Sec. 4.2,
4.4, App. C) and the paper's CIFAR-10 numbers beside ours (NOTES §1.8).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attrbench.atomic import write_bytes_atomic, write_text_atomic
from attrbench.reporting.aggregate import mean_curves
from attrbench.reporting.beside_paper import paper_comparison_markdown, paper_comparison_rows
from attrbench.reporting.claims import Claim, check_claims, claims_html, claims_markdown
from attrbench.reporting.comparisons import PairedReport, paired_report
from attrbench.reporting.folder import ResultsFolder, load_results
from attrbench.reporting.heatmaps import heatmaps_figure
from attrbench.reporting.paper import (
    AUGMENT_LABELS,
    PAPER_CIFAR10_ACCURACY,
    PAPER_SOURCE_LABEL,
    VARIANT_ORDER,
    ordered,
)
from attrbench.reporting.plots import (
    curves_figure,
    fidelity_area_figure,
    figure_png,
    lif_scores_figure,
)
from attrbench.reporting.tables import (
    best_per_row,
    fidelity_table,
    paper_layout,
    write_csv,
    write_markdown,
)

__all__ = ["DEFAULT_TITLE", "build_all", "write_report"]

DEFAULT_TITLE = "attrbench: fidelity of importance estimators (FPA reproduction)"
_SIGNED_PREFERENCE = ("IG_sum", "SG'_sum", "VG'_sum")

REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin-top:34px;border-bottom:1px solid #ddd;
padding-bottom:4px}.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0 6px;font-size:.86em;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f3}td:first-child,th:first-child{text-align:left}
td.best{background:#ffe9a8;font-weight:700}
tr.paper td{color:#555;font-style:italic;background:#f7f7f7}
.scroll{overflow-x:auto}figure{margin:14px 0 26px}figure img{max-width:none;height:auto;
border:1px solid #e3e3e3;background:#fff}figcaption{font-size:.86em;color:#444;margin-top:4px}
.note{font-size:.9em;background:#fff;border-left:4px solid #8aa;padding:8px 14px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:.86em}
dt{font-weight:600}
dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
ul.claims{padding-left:0;list-style:none}ul.claims li{margin:6px 0;padding:6px 12px;
border-left:5px solid #bbb;background:#fff}ul.claims li.holds{border-color:#2e7d32}
ul.claims li.fails{border-color:#c62828}
"""


@dataclass(frozen=True)
class _Parts:
    table: pd.DataFrame
    layout: pd.DataFrame
    best: dict[str, str]
    figures: dict[str, tuple[bytes, str]]  # name -> (png, caption)
    paired: PairedReport  # "Paired comparisons" section (reporting/comparisons.py)


def escape_html(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pick_signed(variants: set[str]) -> str | None:
    for v in _SIGNED_PREFERENCE:
        if v in variants:
            return v
    rest = [v for v in ordered(sorted(variants), VARIANT_ORDER) if v != "Random"]
    return rest[0] if rest else None


def _compose(folder: ResultsFolder, ci: str) -> _Parts:
    """Compute the table and render every figure (in memory) from a loaded results folder."""
    table = fidelity_table(folder.curves, ci)
    layout = paper_layout(table, accuracy=folder.accuracy or None)
    figures: dict[str, tuple[bytes, str]] = {}
    means = mean_curves(folder.curves)  # once, shared by the curve figures
    figures["curves"] = (figure_png(curves_figure(folder.curves, means=means)),
                         "Mean normalised logit vs % pixels masked (FPA paper Fig. 3 / "
                         "App. C.1-C.2 style): MIF top, LIF bottom, one panel per estimator, "
                         "one line per augmentation. Each mean curve is divided by its own "
                         "first value.")
    signed = _pick_signed(set(table["variant"]))
    if signed is not None:
        figures["fidelity_area"] = (
            figure_png(fidelity_area_figure(folder.curves, signed, table=table, means=means)),
            f"Fidelity A as the area between LIF (orange) and MIF (blue) for {signed} (paper "
            "Fig. 2 style). Titles give A ± 95 % CI from per-image normalised curves.")
        figures["lif_scores"] = (
            figure_png(lif_scores_figure(folder.curves, signed, means=means)),
            f"LIF curve of {signed} (top) and the mean importance of the pixels masked at each "
            "step, in LIF order (bottom; blue = negative = counter-evidence), paper Fig. 4 / "
            "App. C.3 style. With FPA the logit should rise while negative pixels are masked.")
    if folder.samples:
        stored = {v for s in folder.samples.values() for v in s.maps}
        chosen = [v for v in ("IG_sum", "SG'_sum") if v in stored]
        chosen = chosen or [v for v in ordered(sorted(stored), VARIANT_ORDER) if v != "Random"][:1]
        if chosen:
            figures["heatmaps"] = (
                figure_png(heatmaps_figure(folder.samples, chosen)),
                "Sample maps (paper Fig. 5(c) style): per map, scores with |score| below the "
                "98th percentile set to 0 and the rest clipped at the 99th percentile; red = "
                "positive (evidence), blue = negative (counter-evidence), each map on its own "
                "scale.")
    return _Parts(table=table, layout=layout, best=best_per_row(table), figures=figures,
                  paired=paired_report(folder.curves, level=float(table["level"].iloc[0])))


def html_table(frame: pd.DataFrame, best: Mapping[str, str] | None = None,
                index_name: str | None = None, *, augmentation_rows: bool = False) -> str:
    """An HTML table of ``frame`` (index = first column); ``best`` maps a row to its highlighted
    column; ``augmentation_rows`` shows index labels as augmentation names (none -> None)."""
    best = best or {}
    head = [index_name or frame.index.name or ""] + [str(c) for c in frame.columns]
    rows = ["<tr>" + "".join(f"<th>{escape_html(h)}</th>" for h in head) + "</tr>"]
    for label, values in frame.iterrows():
        shown = AUGMENT_LABELS.get(str(label), label) if augmentation_rows else label
        cells = [f"<td>{escape_html(shown)}</td>"]
        for col, v in values.items():
            cls = ' class="best"' if best.get(str(label)) == col and v != "" else ""
            cells.append(f"<td{cls}>{escape_html(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<div class="scroll"><table>' + "".join(rows) + "</table></div>"


def _pct(value: Any) -> str:
    return "" if value is None else f"{100 * float(value):.1f} %"


def _accuracy_section(folder: ResultsFolder, table: pd.DataFrame) -> str:
    augs = ordered(list(table["augmentation"]) + list(folder.accuracy), tuple(AUGMENT_LABELS))
    rows = []
    for aug in augs:
        rec = folder.accuracy.get(aug, {})
        acc = rec.get("test_accuracy")
        sub = table[table["augmentation"] == aug]
        models = ", ".join(sorted(set(sub["model"])))
        paper = PAPER_CIFAR10_ACCURACY.get(aug)
        rows.append({
            "augmentation": aug, "model": rec.get("model", models),
            "test accuracy": _pct(acc),
            "accuracy on evaluated images": _pct(rec.get("evaluated_images_accuracy")),
            "images evaluated": "" if sub.empty else int((sub["n"] + sub["n_excluded"]).max()),
            PAPER_SOURCE_LABEL: _pct(paper),
        })
    frame = pd.DataFrame(rows).set_index("augmentation")
    return html_table(frame, augmentation_rows=True)


def _paper_comparison(table: pd.DataFrame) -> str:
    variants, rows = paper_comparison_rows(table)
    head = "<tr><th>source</th>" + "".join(f"<th>{escape_html(v)}</th>" for v in variants) + "</tr>"
    paper_row = ' class="paper"'
    body = "".join(f"<tr{paper_row if is_paper else ''}><td>{escape_html(label)}</td>"
                   + "".join(f"<td>{escape_html(c)}</td>" for c in cells) + "</tr>"
                   for is_paper, label, cells in rows)
    return f'<div class="scroll"><table>{head}{body}</table></div>'


def _claims(parts: _Parts) -> list[tuple[str, list[Claim]]]:
    """Claims (a)-(d) per model architecture, (a) paired by image where possible."""
    frames = [f for f in parts.paired.between.values()
              if len(f) and set(f["baseline"]) == {"none"} and set(f["other"]) == {"fpa"}]
    paired = frames[0] if frames else None
    out = []
    for model in sorted(parts.table["model"].unique()):
        sub = parts.table[parts.table["model"] == model]
        rows = paired[paired["model"] == model] if paired is not None else None
        out.append((model, check_claims(sub, rows)))
    return out


def _claims_html(parts: _Parts) -> str:
    return "".join(f"<h3>{escape_html(model)}</h3>{claims_html(claims)}"
                   for model, claims in _claims(parts))


def _claims_markdown(parts: _Parts) -> str:
    return "\n".join(claims_markdown(claims, title=f"Claims: {model}")
                     for model, claims in _claims(parts))


def flatten_config(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, Mapping):
        out: list[tuple[str, str]] = []
        for k in sorted(obj, key=str):
            out += flatten_config(obj[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    return [(prefix, text)]


def definition_list(pairs: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape_html(k)}</dt><dd>{escape_html(v)}</dd>" for k, v in pairs) + "</dl>"


def _excluded_note(table: pd.DataFrame) -> str:
    """What was excluded for a step-0 logit <= 0: per row if few rows, else per augmentation."""
    excluded = table[table["n_excluded"] > 0]
    if excluded.empty:
        return "No image had a step-0 logit &lt;= 0; every evaluated image was used."
    if len(excluded) <= 6:
        items = [f"{r.augmentation} / {r.variant} ({r.model}): {int(r.n_excluded)} of "
                 f"{int(r.n + r.n_excluded)} images excluded" for r in excluded.itertuples()]
    else:
        items = []
        for (model, aug), g in excluded.groupby(["model", "augmentation"], sort=False):
            lo, hi = int(g["n_excluded"].min()), int(g["n_excluded"].max())
            span = f"{lo}" if lo == hi else f"{lo}-{hi}"
            items.append(f"{aug} ({model}): {span} of {int((g['n'] + g['n_excluded']).max())} "
                         f"images excluded, in {len(g)} estimator(s); see All numbers")
    return ("Images whose unperturbed (step-0) logit of the tracked class is &lt;= 0 cannot be "
            "normalised and were excluded from A and its CI:<ul>"
            + "".join(f"<li>{escape_html(i)}</li>" for i in items) + "</ul>")


def _notes(table: pd.DataFrame) -> str:
    ci_kind = escape_html(table["ci_kind"].iloc[0])
    level = 100 * float(table["level"].iloc[0])
    return (
        '<div class="note"><p><b>What A means.</b> For each image, the logit of the class '
        "predicted on the clean image is recorded while pixels are masked (set to the mask "
        "value, by default 0 in the model's input space, all channels) in most-important-first "
        "(MIF) and least-important-first (LIF) order. Each curve is divided by its own step-0 "
        "logit and integrated with the trapezoid rule over 0-100 % masked, so a flat curve has "
        "area 100. A = mean AUC(LIF) - mean AUC(MIF): larger A means the estimator separates "
        "important from unimportant pixels better (FPA paper, Sec. 3). Random scores give "
        "A ≈ 0.</p>"
        f"<p><b>Confidence interval.</b> ± is the {level:.0f} % CI half-width, kind "
        f"<code>{ci_kind}</code> (independent = the paper's z·sqrt(var MIF + var LIF)/sqrt(N), z "
        "the exact normal quantile, 1.95996 at 95 %; "
        "paired = on the per-image difference). Plotted curves normalise the <i>mean</i> curve "
        "by its first value, as the authors' plots do, so they can differ slightly from A.</p>"
        f"<div><b>Excluded images.</b> {_excluded_note(table)}</div></div>")


def _render(folder: ResultsFolder, parts: _Parts, title: str) -> str:
    prov = folder.provenance
    runs = ", ".join(sorted(map(str, folder.curves["run"].unique())))
    cfg_pairs = [("seed", str(prov.get("seed", "unknown"))),
                 ("git revision", str(prov.get("git_revision", "unknown"))),
                 ("created", str(prov.get("created", "unknown"))),
                 ("platform", str(prov.get("platform", "unknown")))]
    figs = "".join(
        f'<figure><div class="scroll"><img alt="{escape_html(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"></div>'
        f"<figcaption>{escape_html(cap)}</figcaption></figure>"
        for name, (png, cap) in parts.figures.items())
    long = parts.table.assign(
        A=parts.table["A"].round(3), ci=parts.table["ci"].round(3),
        auc_mif=parts.table["auc_mif"].round(3), auc_lif=parts.table["auc_lif"].round(3))
    long_html = html_table(long.set_index("augmentation"), augmentation_rows=True)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape_html(title)}</title><style>{REPORT_CSS}</style></head>
<body><main>
<h1>{escape_html(title)}</h1>
<p class="sub">run: {escape_html(runs)} · results folder: <code>{escape_html(folder.root.name)}</code> ·
seed {escape_html(prov.get("seed", "unknown"))} · git {escape_html(prov.get("git_revision", "unknown"))}</p>
<h2>Models</h2>
{_accuracy_section(folder, parts.table)}
<h2>Fidelity A (higher is better)</h2>
<p>Augmentation × estimator, "A ± CI" as in the FPA paper's Table D.2; the best estimator of each
row is highlighted.</p>
{html_table(parts.layout, parts.best, augmentation_rows=True)}
{_notes(parts.table)}
<h2>Claims</h2>
<p>The FPA paper's findings (Sec. 4.2, Table D.2), each computed from these results; a claim that
the numbers do not support says so.</p>
{_claims_html(parts)}
{parts.paired.html()}
<h2>Beside the paper</h2>
<p>The published numbers come from a ResNet-18 trained on the full CIFAR-10 training set and
evaluated on all 10,000 test images; ours come from the model and images named in each row,
so agreement in the ranking of estimators and in the FPA-vs-none gap matters more than the values.
The paper reports no Rectangle table.</p>
{_paper_comparison(parts.table)}
<h2>Figures</h2>
{figs}
<h2>All numbers</h2>
<details><summary>per (model, augmentation, variant): A, CI, mean AUCs, images used and
excluded</summary>{long_html}</details>
<h2>Run configuration</h2>
{definition_list(cfg_pairs)}
<h3>config</h3>
{definition_list(flatten_config(prov.get("config") or {}))}
<h3>library versions</h3>
{definition_list(flatten_config(prov.get("versions") or {}))}
</main></body></html>
"""


def write_report(root: str | Path, title: str = DEFAULT_TITLE, *, ci: str = "independent") -> Path:
    """Write ``<root>/report.html``, one self-contained page built from the stored results.

    Args:
        root: results folder (see :func:`attrbench.reporting.folder.load_results`).
        title: page title.
        ci: ``"independent"`` (the paper's) or ``"paired"`` confidence interval.

    Returns:
        Path of the report.

    Raises:
        AttrbenchError: missing or empty results folder, incomplete curves.
    """
    folder = load_results(root)
    return _write_html(folder, _compose(folder, ci), title)


def _write_html(folder: ResultsFolder, parts: _Parts, title: str) -> Path:
    path = folder.root / "report.html"
    write_text_atomic(path, _render(folder, parts, title))
    return path


def build_all(root: str | Path, title: str = DEFAULT_TITLE, *,
              ci: str = "independent") -> dict[str, Path]:
    """Write every report artefact of a results folder from its stored contents.

    Writes ``fidelity.md`` and ``fidelity.csv`` (paper layout, "A ± CI", accuracy column),
    ``fidelity_long.csv`` (all numbers), ``figures/<name>.png`` and ``report.html``.

    Args:
        root: results folder.
        title: report title.
        ci: ``"independent"`` or ``"paired"``.

    Returns:
        name -> path, with keys ``fidelity_md``, ``fidelity_csv``, ``fidelity_long_csv``,
        ``report`` and one per figure (``curves``, ``fidelity_area``, ``lif_scores``,
        ``heatmaps``; those lacking data are skipped).
    """
    folder = load_results(root)
    parts = _compose(folder, ci)
    out: dict[str, Path] = {}
    notes = [f"A ± {100 * float(parts.table['level'].iloc[0]):.0f} % CI "
             f"({parts.table['ci_kind'].iloc[0]}); bold = best estimator of the row.",
             f"Images excluded (step-0 logit <= 0): {int(parts.table['n_excluded'].sum())} "
             "across all rows; see fidelity_long.csv."]
    out["fidelity_md"] = write_markdown(parts.layout, folder.root / "fidelity.md",
                                        title="Fidelity A of importance estimators",
                                        bold=parts.best, notes=notes,
                                        sections=[_claims_markdown(parts),
                                                  paper_comparison_markdown(parts.table),
                                                  parts.paired.markdown()])
    out["fidelity_csv"] = write_csv(parts.layout, folder.root / "fidelity.csv")
    out["fidelity_long_csv"] = write_csv(parts.table, folder.root / "fidelity_long.csv",
                                         index=False)
    for name, (png, _cap) in parts.figures.items():
        path = folder.root / "figures" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, png)
        out[name] = path
    out.update(parts.paired.write(folder.root))
    out["report"] = _write_html(folder, parts, title)
    return out
