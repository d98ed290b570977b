"""The FPA report: what goes on the page of an FPA results folder, and ``build_all``.

Everything is built from the stored results only (``fpa/folder.py``); the page itself is a
:class:`~attrbench.reporting.page.Page` (one offline HTML file, figures embedded). It follows the
FPA paper's presentation: Table D.2 layout (Sec. 4.3), Figs. 2-5 (Sec. 4.2, 4.4, App. C) and the
paper's CIFAR-10 numbers beside ours (NOTES §1.8). Entry point: :func:`write_fpa_report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attrbench.fpa.aggregate import mean_curves
from attrbench.fpa.beside_paper import paper_comparison_markdown, paper_comparison_rows
from attrbench.fpa.claims import Claim, check_claims, claims_html, claims_markdown
from attrbench.fpa.comparisons import PairedReport, paired_report
from attrbench.fpa.folder import ResultsFolder, load_results
from attrbench.fpa.heatmaps import heatmaps_figure
from attrbench.fpa.paper import (
    AUGMENT_LABELS,
    PAPER_CIFAR10_ACCURACY,
    PAPER_SOURCE_LABEL,
    VARIANT_ORDER,
    ordered,
)
from attrbench.fpa.plots import curves_figure, fidelity_area_figure, lif_scores_figure
from attrbench.fpa.tables import (
    best_per_row,
    fidelity_table,
    paper_layout,
    write_csv,
    write_markdown,
)
from attrbench.reporting.format import figure_png
from attrbench.reporting.page import Page, escape_html, html_table

__all__ = ["DEFAULT_TITLE", "build_all", "write_fpa_report"]

DEFAULT_TITLE = "attrbench: fidelity of importance estimators (FPA reproduction)"
_SIGNED_PREFERENCE = ("IG_sum", "SG'_sum", "VG'_sum")


@dataclass(frozen=True)
class _Parts:
    table: pd.DataFrame
    layout: pd.DataFrame
    best: dict[str, str]
    figures: dict[str, tuple[bytes, str]]  # name -> (png, caption)
    paired: PairedReport  # "Paired comparisons" section (fpa/comparisons.py)


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
    return html_table(frame, index_labels=AUGMENT_LABELS)


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


def _page(folder: ResultsFolder, parts: _Parts, title: str) -> Page:
    """The report page: what goes on it, in order."""
    prov = folder.provenance
    runs = ", ".join(sorted(map(str, folder.curves["run"].unique())))
    page = Page(title, subtitle_html=(
        f"run: {escape_html(runs)} · results folder: <code>{escape_html(folder.root.name)}</code>"
        f" · seed {escape_html(prov.get('seed', 'unknown'))} · git "
        f"{escape_html(prov.get('git_revision', 'unknown'))}"))
    page.heading("Models").html(_accuracy_section(folder, parts.table))
    page.heading("Fidelity A (higher is better)")
    page.text('Augmentation × estimator, "A ± CI" as in the FPA paper\'s Table D.2; the best '
              "estimator of each row is highlighted.")
    page.table(parts.layout, parts.best, index_labels=AUGMENT_LABELS).html(_notes(parts.table))
    page.heading("Claims")
    page.text("The FPA paper's findings (Sec. 4.2, Table D.2), each computed from these results; "
              "a claim that the numbers do not support says so.")
    page.html(_claims_html(parts)).html(parts.paired.html())
    page.heading("Beside the paper")
    page.text("The published numbers come from a ResNet-18 trained on the full CIFAR-10 training "
              "set and evaluated on all 10,000 test images; ours come from the model and images "
              "named in each row, so agreement in the ranking of estimators and in the FPA-vs-none "
              "gap matters more than the values. The paper reports no Rectangle table.")
    page.html(_paper_comparison(parts.table))
    page.heading("Figures")
    for name, (png, caption) in parts.figures.items():
        page.figure(name, png, caption)
    long = parts.table.assign(
        A=parts.table["A"].round(3), ci=parts.table["ci"].round(3),
        auc_mif=parts.table["auc_mif"].round(3), auc_lif=parts.table["auc_lif"].round(3))
    page.heading("All numbers").html(
        "<details><summary>per (model, augmentation, variant): A, CI, mean AUCs, images used and "
        "excluded</summary>"
        f"{html_table(long.set_index('augmentation'), index_labels=AUGMENT_LABELS)}</details>")
    return page.provenance(prov)


def write_fpa_report(out: str | Path, title: str = DEFAULT_TITLE, *,
                     ci: str = "independent") -> Path:
    """Rebuild every report artefact of an FPA results folder (:func:`build_all`) from its
    stored contents; returns the path of ``<out>/report.html``."""
    return build_all(out, title, ci=ci)["report"]


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
    page = _page(folder, parts, title)
    out.update(page.write_figures(folder.root / "figures"))
    out.update(parts.paired.write(folder.root))
    out["report"] = page.write(folder.root / "report.html")
    return out
