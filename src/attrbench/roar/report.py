"""Figures and the self-contained HTML report of a ROAR / KAR or IteROAR results folder.

Built from the stored tables and masks only; reuses the page style, table and provenance helpers
of :mod:`attrbench.reporting.html` and the PNG writer of :mod:`attrbench.reporting.plots`. Each
estimator is compared with the random baseline per threshold across repeats (:mod:`.compare`).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pandas as pd

from attrbench.atomic import write_bytes_atomic, write_text_atomic
from attrbench.errors import AttrbenchError
from attrbench.reporting.html import REPORT_CSS, definition_list, escape_html, flatten_config, html_table
from attrbench.reporting.comparisons import _p
from attrbench.reporting.plots import figure_png
from attrbench.roar.compare import BASELINE, compare_to_random, repeats_needed
from attrbench.roar.iterative import chain_masks
from attrbench.roar.plots import (
    accuracy_figure,
    mask_sequence_figure,
    overlap_bars_figure,
    pairwise_overlap_figure,
)
from attrbench.roar.store import read_table, slug


def _summary_table(acc: pd.DataFrame, x: str) -> pd.DataFrame:
    stats = acc.groupby(["variant", x])["test_accuracy"].agg(["mean", "std", "count"])
    std = stats["std"].where(stats["count"] > 1, 0.0)
    text = (100 * stats["mean"]).map("{:.1f}".format) + " ± " + (100 * std).map("{:.1f}".format) \
        + " (n=" + stats["count"].astype(str) + ")"
    return text.unstack(x).fillna("")


def _pp(value: object, signed: bool = False) -> str:
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v):
        return "n/a"
    return f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}"


def _vs_random_display(table: pd.DataFrame, x: str) -> pd.DataFrame:
    several = table["benchmark"].nunique() > 1
    rows = []
    for r in table.to_dict("records"):
        name = f"{r['variant']}, {x} {float(r[x]):g}" + (f" ({r['benchmark']})" if several else "")
        note = str(r["note"]) if isinstance(r["note"], str) else ""
        if note.startswith("not enough repeats"):
            verdict = f"not enough repeats (smallest p {float(r['p_perm_min']):.2g})"
        elif note:
            verdict = "identical"
        else:
            verdict = "yes" if r["significant"] else "no"
        ci = ("n/a" if math.isnan(float(r["ci_low"]))
              else f"[{_pp(r['ci_low'], True)}, {_pp(r['ci_high'], True)}]")
        rows.append({"estimator": name,
                     "repeats (estimator / random)": f"{r['repeats']} / {r['repeats_baseline']}",
                     "accuracy - random (pp)": _pp(r["diff"], True),
                     "SD over repeats (pp)": f"{_pp(r['sd'])} / {_pp(r['sd_baseline'])}",
                     "Welch 95 % CI (pp)": ci, "Welch p": _p(r["p_welch"]),
                     "permutation p": _p(r["p_perm"]), "corrected p": _p(r["p_adj"]),
                     "significant": verdict})
    return pd.DataFrame(rows).set_index("estimator")


def _vs_random_section(acc: pd.DataFrame, x: str, root: Path) -> tuple[list[str], Path | None]:
    """HTML of the estimators-vs-random section and the CSV it wrote (None if none)."""
    head = "<h2>Estimators against random across retraining repeats</h2>"
    try:
        table = compare_to_random(acc)
    except AttrbenchError as err:
        return [head, f"<p>{escape_html(str(err))}</p>"], None
    csv = root / "accuracy_vs_random.csv"
    write_text_atomic(csv, table.to_csv(index=False))
    if table.empty:
        return [head, f"<p>No {x} has both an estimator and {BASELINE}.</p>"], csv
    explain = (
        f"At each {x}, each estimator's test accuracy over its retraining repeats minus "
        f"{BASELINE}'s, in percentage points (ROAR: negative = removing the estimator's top "
        "features hurts more than removing random ones; KAR: positive = better), with the SD "
        "of each side over repeats. Significance is the exact two-sample permutation test of the "
        "difference of means (every split of the pooled repeats; no distributional assumption), "
        f"Holm-corrected across the estimators at that {x}. It cannot go below p = 2 / C(n1 + n2, "
        "n1): 0.33 with 2 repeats of each, 0.1 with 3, 0.029 with 4, 0.0079 with 5, so with fewer "
        f"than {repeats_needed(0.05)} repeats of each a row says \"not enough repeats\". "
        "Welch's t-test and CI are shown from 2 repeats of each, but assume normally distributed "
        "accuracies across retrains, which so few repeats cannot check. Not in the ROAR / "
        f"IteROAR papers, which compare mean ± std by eye. All columns: {csv.name}.")
    return [head, f"<p>{escape_html(explain)}</p>",
            html_table(_vs_random_display(table, x))], csv


def build_report(root: str | Path) -> dict[str, Path]:
    """Write ``figures/*.png``, ``accuracy_vs_random.csv`` (each estimator vs random per
    threshold, :func:`~.compare.compare_to_random`, if both were run) and ``report.html`` for the
    results folder ``root``.

    Returns:
        Name -> path of every file written.

    Raises:
        AttrbenchError: the folder holds no results.
    """
    root = Path(root)
    acc = read_table(root, "accuracy")
    if acc.empty:
        raise AttrbenchError(f"{root} holds no ROAR/IteROAR results; run attrbench roar or "
                             "attrbench iteroar first.")
    iterative = "iteration" in acc.columns
    x = "iteration" if iterative else "threshold"
    figures: dict[str, tuple[bytes, str]] = {
        "accuracy": (figure_png(accuracy_figure(acc, x)),
                     "Test accuracy of models retrained from scratch on the modified data, mean ± "
                     "std over repeats; 'random' removes random pixels at the same rate.")}
    sections = [f"<h2>Test accuracy (%) vs {x}</h2>", html_table(_summary_table(acc, x))]
    vs_random, vs_random_csv = _vs_random_section(acc, x, root)
    sections += vs_random
    overlap = read_table(root, "overlap")
    if iterative and not overlap.empty:
        figures["overlap"] = (figure_png(overlap_bars_figure(overlap)),
                              "MAMO as a fraction of each new mask and CMA as a fraction of A "
                              "(IteROAR Eqs. 2, 4); black ticks: expectation for random masks.")
        for variant in sorted(set(overlap.variant)):
            masks = chain_masks(root, variant, 0)
            figures[f"pairwise_{slug(variant)}"] = (
                figure_png(pairwise_overlap_figure(masks, f"{variant}: pairwise overlap (Eq. 3)")),
                f"{variant}, repeat 0: mean overlapping pixels between the masks of iterations "
                "i and n (test split); off-diagonal ≈ 0 is the ideal.")
            figures[f"masks_{slug(variant)}"] = (
                figure_png(mask_sequence_figure(masks, title=variant)),
                f"{variant}, repeat 0: mask sequences of the first test images.")
        cols = ["mmo", "mmo_frac_mask", "random_mmo", "mamo", "mamo_frac_mask", "random_mamo",
                "cma", "cma_frac_area", "random_cma"]
        table = overlap.groupby("variant")[[c for c in cols if c in overlap]].mean().round(3)
        sections += ["<h2>Mask overlap (test split, mean over repeats; counts in pixels)</h2>",
                     html_table(table)]
    leakage = read_table(root, "leakage")
    if not leakage.empty:
        sections += ["<h2>Mask-leakage test</h2>",
                     html_table(leakage.set_index("variant").round(4))]
    paths: dict[str, Path] = {}
    if vs_random_csv is not None:
        paths["vs_random"] = vs_random_csv
    for name, (png, _) in figures.items():
        paths[name] = root / "figures" / f"{name}.png"
        write_bytes_atomic(paths[name], png)
    prov = json.loads((root / "config.json").read_text())
    figs = "".join(
        f'<figure><div class="scroll"><img alt="{escape_html(n)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"></div><figcaption>{escape_html(cap)}</figcaption>'
        "</figure>" for n, (png, cap) in figures.items())
    title = "attrbench: IteROAR" if iterative else "attrbench: " + "/".join(
        sorted(set(acc.benchmark))).upper()
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape_html(title)}'
            f"</title><style>{REPORT_CSS}</style></head><body><main><h1>{escape_html(title)}</h1>"
            + "".join(sections) + f"<h2>Figures</h2>{figs}<h2>Run configuration</h2>"
            + definition_list(flatten_config(prov)) + "</main></body></html>")
    paths["report"] = root / "report.html"
    write_text_atomic(paths["report"], page)
    return paths


__all__ = ["build_report"]
