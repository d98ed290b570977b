"""What goes on the report page of a ROAR / KAR or IteROAR results folder.

Built from the stored tables and masks only, on the shared page builder
(:class:`attrbench.reporting.page.Page`). Each estimator is compared with the random baseline per
threshold across repeats (:mod:`.compare`). Entry point: :func:`write_roar_report`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from attrbench.atomic import write_text_atomic
from attrbench.errors import AttrbenchError
from attrbench.reporting.format import format_p
from attrbench.reporting.page import Page
from attrbench.results import read_table
from attrbench.roar.compare import BASELINE, compare_to_random, repeats_needed
from attrbench.roar.iterative import chain_masks
from attrbench.roar.plots import (
    accuracy_figure,
    mask_sequence_figure,
    overlap_bars_figure,
    pairwise_overlap_figure,
)
from attrbench.roar.store import slug


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
                     "Welch 95 % CI (pp)": ci, "Welch p": format_p(r["p_welch"]),
                     "permutation p": format_p(r["p_perm"]), "corrected p": format_p(r["p_adj"]),
                     "significant": verdict})
    return pd.DataFrame(rows).set_index("estimator")


def _vs_random_section(page: Page, acc: pd.DataFrame, x: str, root: Path) -> None:
    """The estimators-vs-random section; writes ``accuracy_vs_random.csv`` if it can compare."""
    page.heading("Estimators against random across retraining repeats")
    try:
        table = compare_to_random(acc)
    except AttrbenchError as err:
        page.text(str(err))
        return
    csv = root / "accuracy_vs_random.csv"
    write_text_atomic(csv, table.to_csv(index=False))
    if table.empty:
        page.text(f"No {x} has both an estimator and {BASELINE}.")
        return
    page.text(
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
    page.table(_vs_random_display(table, x))


def write_roar_report(out: str | Path) -> Path:
    """Write the report of the ROAR / KAR / IteROAR results folder ``out`` from its stored
    tables and masks: ``figures/*.png``, ``accuracy_vs_random.csv`` (each estimator vs random per
    threshold, :func:`~.compare.compare_to_random`, if both were run) and ``report.html``.

    Returns:
        The path of ``report.html``.

    Raises:
        AttrbenchError: the folder holds no results.
    """
    root = Path(out)
    acc = read_table(root, "accuracy")
    if acc.empty:
        raise AttrbenchError(f"{root} holds no ROAR/IteROAR results; run attrbench roar or "
                             "attrbench iteroar first.")
    iterative = "iteration" in acc.columns
    x = "iteration" if iterative else "threshold"
    title = "attrbench: IteROAR" if iterative else "attrbench: " + "/".join(
        sorted(set(acc.benchmark))).upper()
    page = Page(title)
    page.heading(f"Test accuracy (%) vs {x}").table(_summary_table(acc, x))
    _vs_random_section(page, acc, x, root)
    overlap = read_table(root, "overlap")
    if iterative and not overlap.empty:
        cols = ["mmo", "mmo_frac_mask", "random_mmo", "mamo", "mamo_frac_mask", "random_mamo",
                "cma", "cma_frac_area", "random_cma"]
        table = overlap.groupby("variant")[[c for c in cols if c in overlap]].mean().round(3)
        page.heading("Mask overlap (test split, mean over repeats; counts in pixels)")
        page.table(table)
    leakage = read_table(root, "leakage")
    if not leakage.empty:
        page.heading("Mask-leakage test").table(leakage.set_index("variant").round(4))
    page.heading("Figures")
    page.figure("accuracy", accuracy_figure(acc, x),
                "Test accuracy of models retrained from scratch on the modified data, mean ± "
                "std over repeats; 'random' removes random pixels at the same rate.")
    if iterative and not overlap.empty:
        page.figure("overlap", overlap_bars_figure(overlap),
                    "MAMO as a fraction of each new mask and CMA as a fraction of A "
                    "(IteROAR Eqs. 2, 4); black ticks: expectation for random masks.")
        for variant in sorted(set(overlap.variant)):
            masks = chain_masks(root, variant, 0)
            page.figure(f"pairwise_{slug(variant)}",
                        pairwise_overlap_figure(masks, f"{variant}: pairwise overlap (Eq. 3)"),
                        f"{variant}, repeat 0: mean overlapping pixels between the masks of "
                        "iterations i and n (test split); off-diagonal ≈ 0 is the ideal.")
            page.figure(f"masks_{slug(variant)}", mask_sequence_figure(masks, title=variant),
                        f"{variant}, repeat 0: mask sequences of the first test images.")
    page.provenance(json.loads((root / "config.json").read_text()))
    page.write_figures(root / "figures")
    return page.write(root / "report.html")


__all__ = ["write_roar_report"]
