"""Tables, measure-vs-ε curves and the HTML report of a robustness results folder.

Built from the stored rows only (:func:`~.results.read_robustness`). One figure per attribution
method in the style of Kamath et al. (AAAI 2024) Fig. 2: one panel per measure, x = ε (in /255),
one line per (model, attack), so natural and adversarially trained models sit side by side, and
a last panel with the fraction of images where the attack could not keep the label (their
measures are left out of the means; a cell with too few images left has no point). Each attack is
also compared with random_sign at the same ε, paired by image (:mod:`.compare`). The page is
built with the shared :class:`attrbench.reporting.page.Page`. Entry point:
:func:`write_robustness_report`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from attrbench.atomic import write_text_atomic
from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.robustness import measure_names
from attrbench.reporting.format import format_cell, margins
from attrbench.reporting.page import Page
from attrbench.robustness.compare import BASELINE, compare_to_baseline
from attrbench.robustness.results import DEFAULT_MIN_IMAGES, read_robustness, summarise

_LINESTYLES: dict[str, object] = {"random": (0, (1, 3)), "random_sign": ":", "topk": "-",
                                   "lens_topk": "--", "mass_center": "-."}
_FAILED = "label not kept (fraction of images)"
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e"]


def _measure_order(present: list[str]) -> list[str]:
    known = [m for m in measure_names() if m in present]
    return known + sorted(set(present) - set(known))


def robustness_figure(summary: pd.DataFrame, method: str, *, columns: int = 4) -> Figure:
    """Every measure vs ε for one method (Kamath et al. Fig. 2 style), plus the failure fraction.

    Means are over the images whose attack kept the label; "too few" cells (NaN) leave a gap. The
    last panel, "label not kept (fraction of images)", shows ``failed`` per (model, attack).

    Args:
        summary: output of :func:`~.results.summarise`.
        method: the attribution method to plot.
        columns: panels per row.

    Returns:
        A :class:`matplotlib.figure.Figure` (no pyplot state).
    """
    sub = summary[summary["method"] == method]
    if sub.empty:
        valid = sorted(set(summary["method"]))
        raise AttrbenchError(f"No results for method {method!r}; plot one of {valid}.")
    measures = _measure_order(list(sub["measure"].unique()))
    panels = [*measures, _FAILED]
    rows = math.ceil(len(panels) / columns)
    height = 2.4 * rows + 0.9
    fig = Figure(figsize=(3.0 * columns, height))
    axes = fig.subplots(rows, columns, squeeze=False,
                        gridspec_kw=margins(fig, left=0.5, right=0.15, bottom=0.45, top=0.85,
                                            wspace=0.3, hspace=0.55))
    models = sorted(sub["model"].unique())
    colour = {m: _COLOURS[i % len(_COLOURS)] for i, m in enumerate(models)}
    failed = sub[sub["measure"] == measures[0]]  # the same for every measure of a cell
    for ax, panel in zip(axes.flat, panels):
        data = failed if panel == _FAILED else sub[sub["measure"] == panel]
        column = "failed" if panel == _FAILED else "mean"
        for (model, attack), g in data.groupby(["model", "attack"]):
            g = g.sort_values("eps")
            ax.plot(g["eps"] * 255, g[column], marker="o", ms=3, color=colour[model],
                    linestyle=_LINESTYLES.get(attack, "-"), label=f"{model} / {attack}")
        ax.set_title(panel, fontsize=9)
        ax.set_ylim(-0.05 if not panel.startswith(("spearman", "kendall")) else -1.05, 1.05)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("ε (/255)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(6, len(labels)), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 1 - 0.3 / height))
    fig.suptitle(f"{method}: attributional robustness vs attack budget", y=1 - 0.06 / height,
                 va="top", fontsize=10)
    return fig


def _wide(summary: pd.DataFrame, index: list[str], cell: str) -> pd.DataFrame:
    wide = summary.assign(eps=(summary["eps"] * 255).round(3)).pivot(
        index=index, columns="eps", values=cell)
    wide.columns = [f"ε={c:g}/255" for c in wide.columns]
    return wide.fillna("")


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per (model, method, attack, measure), one column per ε (/255).

    Cells are text: ``"0.549 (n=12)"``, the mean over the n images whose attack kept the label, or
    ``"too few (n=1)"`` where fewer than the summary's ``min_images`` remain.
    """
    text = [f"too few (n={n})" if status == "too few" else f"{mean:.3f} (n={n})"
            for mean, n, status in zip(summary["mean"], summary["n"], summary["status"])]
    return _wide(summary.assign(cell=text), ["model", "method", "attack", "measure"], "cell")


def failure_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per (model, method, attack), one column per ε (/255).

    Cells are text, ``"20% (3/15)"``: the fraction (and count) of the attacked images for which the
    attack found no perturbation that keeps the label.
    """
    cells = summary.drop_duplicates(["model", "method", "attack", "eps"])
    text = [f"{failed:.0%} ({n_images - n}/{n_images})"
            for failed, n, n_images in zip(cells["failed"], cells["n"], cells["n_images"])]
    return _wide(cells.assign(cell=text), ["model", "method", "attack"], "cell")


def comparison_table(compared: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Wide table of :func:`~.compare.compare_to_baseline`: one row per
    ``"model / method / attack / measure"``, one column per ε (/255).

    Cells are text: ``"-0.55 [-0.65, -0.45] * (n=6)"`` = mean per-image difference (attack minus
    baseline) with its paired bootstrap CI, ``*`` when significant after correction, over n images
    where both attacks kept the label; ``"= (n=6)"`` when identical on every image;
    ``"not enough data (n=2)"`` when fewer than ``min_images`` images were left.
    """
    text = []
    for r in compared.to_dict("records"):
        note = str(r["note"]) if isinstance(r["note"], str) else ""
        text.append(f"not enough data (n={r['n']})" if note.startswith("not enough data")
                    else f"{format_cell({**r, 'note': note}, digits)} (n={r['n']})")
    cells = compared.assign(cell=text)
    order = {m: i for i, m in enumerate(_measure_order(list(cells["measure"].unique())))}
    cells = cells.assign(_m=cells["measure"].map(order)).sort_values(
        ["model", "method", "attack", "_m", "eps"], kind="stable")
    wide = _wide(cells, ["model", "method", "attack", "_m", "measure"], "cell")
    wide.index = [" / ".join(map(str, (m, me, a, meas))) for m, me, a, _o, meas in wide.index]
    return wide


def _comparison_section(page: Page, rows: pd.DataFrame, root: Path, min_images: int) -> None:
    """The attacks-vs-random_sign section; writes ``robustness_vs_random_sign.csv`` if it can."""
    page.heading(f"Attacks against {BASELINE}, paired by image")
    try:
        compared = compare_to_baseline(rows, min_images=min_images)
    except AttrbenchError as err:
        page.text(str(err))
        return
    csv = root / f"robustness_vs_{BASELINE}.csv"
    write_text_atomic(csv, compared.to_csv(index=False))
    if compared.empty:
        page.text(f"No attack shares an ε and a measure with {BASELINE}.")
        return
    tested = int(compared["p_adj"].notna().sum())
    page.text(
        f"Per model, method and ε, each attack's measure on each image minus {BASELINE}'s on the "
        "same image, over the images where both kept the label: mean [paired bootstrap 95 % CI "
        "(BCa)] (n = images); * = Wilcoxon signed-rank p < 0.05 after Holm correction across the "
        "attacks and measures of that model, method and ε. Negative = the attack moves the "
        f"attribution more than {BASELINE} noise of the same budget. \"not enough data\" = fewer "
        f"than {max(2, min_images)} images kept the label under both; \"=\" = identical on every "
        f"image. {int(compared['significant'].sum())} of {tested} tested comparisons are "
        f"significant. Kamath et al. show the curves side by side only; this test is an addition. "
        f"All columns (p, corrected p, rank-biserial r): {csv.name}.")
    page.table(comparison_table(compared), index_name="model / method / attack / measure")


def console_lines(summary: pd.DataFrame, measure: str = "topk_intersection") -> list[str]:
    """One line per (model, method, attack, ε): label kept n/N, failed fraction, ``measure``."""
    sub = summary[summary["measure"] == measure]
    if sub.empty:
        sub = summary[summary["measure"] == summary["measure"].iloc[0]]
        measure = str(sub["measure"].iloc[0])
    lines = []
    for r in sub.itertuples(index=False):
        value = "too few" if r.status == "too few" else f"{r.mean:.3f}"
        lines.append(f"{r.model} / {r.method} / {r.attack} ε={r.eps:g}: label kept "
                     f"{r.n}/{r.n_images} ({r.failed:.0%} failed), {measure} {value}")
    return lines


def write_robustness_report(
    out: str | Path, title: str = "attrbench: robustness of attributions",
    min_images: int = DEFAULT_MIN_IMAGES,
) -> Path:
    """Write the report of the robustness results folder ``out`` from its stored rows:
    ``robustness_summary.csv``, ``figures/robustness_<method>.png``, ``report.html`` and, if
    random_sign and another attack were run, ``robustness_vs_random_sign.csv``
    (:func:`~.compare.compare_to_baseline`; otherwise the page says why not).

    Args:
        out: the results folder.
        title: page title.
        min_images: cells with fewer label-kept images show "too few" instead of a mean.

    Returns:
        The path of ``report.html``.

    Raises:
        AttrbenchError: the folder holds no robustness rows, or a bad ``min_images``.
    """
    root = Path(out)
    rows = read_robustness(root)
    if rows.empty:
        raise AttrbenchError(
            f"{root} holds no robustness results; run `attrbench robustness` first."
        )
    summary = summarise(rows, min_images)
    write_text_atomic(root / "robustness_summary.csv", summary.to_csv(index=False))
    counts = rows.groupby(["model"])["image_id"].nunique()
    page = Page(title, subtitle=(
        'Kamath et al., "Rethinking Robustness of Model Attributions" (AAAI 2024): top-k '
        "intersection, w-LENS recall/precision (locality-aware), top-k-div (diverse, NMS) and rank "
        "correlations between the attribution of a clean image and of its attacked version, for "
        "attacks that keep the predicted label. 1 = unchanged."))
    page.text(
        "Only perturbations that keep the predicted label count (Ghorbani et al. 2019; Kamath et "
        "al. 2024). An image for which the attack found none (random_sign: none of its sign "
        "draws) is left out of the means; the first table gives that fraction per budget, each "
        "mean says how many images it is over, and a cell with fewer than "
        f'{min_images} images says "too few".')
    page.text("Images attacked per model (correctly classified ones): "
              + ", ".join(f"{m}: {n}" for m, n in counts.items()))
    page.heading("Figures")
    for method in sorted(summary["method"].unique()):
        page.figure(f"robustness_{method}", robustness_figure(summary, method),
                    "Mean of each measure over the images whose attack kept the label vs ε, "
                    f"method {method}; colour = model, line style = attack (dotted = random "
                    "noise); last panel: fraction of images where the label could not be kept "
                    f"(left out of the means; a gap = fewer than {min_images} images left).")
    fails = failure_table(summary)
    fails.index = [" / ".join(map(str, i)) for i in fails.index]
    page.heading("Attack could not keep the label")
    page.table(fails, index_name="model / method / attack")
    wide = summary_table(summary)
    wide.index = [" / ".join(map(str, i)) for i in wide.index]
    page.heading("Mean measure per budget (n = images with the label kept)")
    page.table(wide, index_name="model / method / attack / measure")
    _comparison_section(page, rows, root, min_images)
    config = root / "config.json"
    page.provenance(json.loads(config.read_text()) if config.exists() else {})
    page.write_figures(root / "figures")
    return page.write(root / "report.html")
