"""Fidelity tables from stored curves: the tidy table and the FPA paper's "A ± CI" layout.

FPA paper (Brocki & Chung), Sec. 3 "Fidelity", Table 1 and Tables Appendix D.1/D.2: one row per
augmentation, one column per importance estimator variant, each cell "A ± 95 % CI". The maths is
:func:`attrbench.metrics.functional.fidelity.fidelity`; this module only groups stored rows, aligns
MIF with LIF per image and lays the numbers out.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attrbench.atomic import write_text_atomic
from attrbench.errors import AttrbenchError
from attrbench.fpa.paper import AUGMENT_ORDER, VARIANT_ORDER, ordered
from attrbench.metrics.functional.fidelity import fidelity
from attrbench.metrics.functional.perturbation import X_AXES

__all__ = [
    "ACCURACY_COLUMN",
    "TABLE_COLUMNS",
    "best_per_row",
    "fidelity_table",
    "layout_to_markdown",
    "paper_layout",
    "row_labels",
    "write_csv",
    "write_markdown",
]

GROUP_KEYS = ["model", "augmentation", "variant"]
TABLE_COLUMNS = ["model", "augmentation", "variant", "method", "postprocess", "A", "ci",
                 "auc_mif", "auc_lif", "n", "n_excluded", "ci_kind", "level"]
"""Columns of :func:`fidelity_table` (A, ci, auc_* in percent units; n = images used)."""
ACCURACY_COLUMN = "accuracy"


def _group_curves(group: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MIF and LIF logits ``(N, S+1)`` aligned by image id, and the mean fraction per step."""
    _ids, mif, lif, fractions = aligned_curves(group, label)
    return mif, lif, fractions


def aligned_curves(group: pd.DataFrame,
                   label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Image ids ``(N,)``, MIF and LIF logits ``(N, S+1)`` in that image order, and the mean
    fraction masked per step ``(S+1,)``, of one (model, augmentation, variant) group."""
    try:
        wide = group.set_index(["order", "image_id", "step"])["logit"].unstack("step")
    except ValueError as err:  # pandas refuses to unstack duplicate (order, image, step) rows
        raise AttrbenchError(
            f"{label}: duplicate (order, image_id, step) rows; the folder mixes two runs, "
            "start a fresh --out folder.") from err
    steps = wide.columns.to_numpy()
    if steps[0] != 0 or not np.array_equal(steps, np.arange(len(steps))):
        raise AttrbenchError(f"{label}: steps must run 0..S without gaps; got {steps.tolist()}.")
    orders = set(wide.index.get_level_values("order"))
    if orders != {"MIF", "LIF"}:
        raise AttrbenchError(f"{label}: needs both MIF and LIF curves; found {sorted(orders)}.")
    mif, lif = wide.xs("MIF", level="order"), wide.xs("LIF", level="order")
    if not mif.index.sort_values().equals(lif.index.sort_values()):
        raise AttrbenchError(
            f"{label}: MIF and LIF cover different images; resume the evaluation to complete it.")
    lif = lif.reindex(mif.index)
    if mif.isna().any().any() or lif.isna().any().any():
        raise AttrbenchError(
            f"{label}: some curves miss steps; resume the evaluation to complete them.")
    fractions = group.groupby("step")["fraction"].mean().to_numpy()
    return (mif.index.to_numpy(), mif.to_numpy(np.float64, copy=True),
            lif.to_numpy(np.float64, copy=True), fractions)


def fidelity_table(curves: pd.DataFrame, ci: str = "independent", *, level: float = 0.95,
                   x_axis: str = "fraction") -> pd.DataFrame:
    """Fidelity A per (model, augmentation, variant) from tidy curve rows.

    Each image's MIF and LIF curves are normalised by their own step-0 logit and integrated with
    the trapezoid rule; ``A = mean AUC_LIF - mean AUC_MIF`` (FPA paper Sec. 3; NOTES §1.7). Images
    whose step-0 logit is <= 0 are excluded and counted in ``n_excluded``.

    Args:
        curves: rows with the columns of ``CURVE_SCHEMA`` (both orders, steps ``0..S``).
        ci: ``"independent"`` (the paper's, ``z·sqrt(var_MIF + var_LIF)/sqrt(N)``, z exact) or
            ``"paired"`` (on the per-image difference).
        level: confidence level of the interval.
        x_axis: ``"fraction"`` (default) integrates over the true percentage masked (stored
            ``fraction`` x 100); ``"linspace"`` over ``linspace(0, 100, S+1)`` as the authors do.

    Returns:
        DataFrame with :data:`TABLE_COLUMNS`, one row per (model, augmentation, variant), sorted
        by model, then the paper's augmentation and variant orders.

    Raises:
        AttrbenchError: no rows, incomplete or duplicated curves, or bad options.
    """
    rows: list[dict[str, Any]] = []
    for (model, aug, variant), label, group in curve_groups(curves, x_axis):
        mif, lif, fractions = _group_curves(group, label)
        x = None if x_axis == "linspace" else 100.0 * fractions
        try:
            res = fidelity(mif, lif, x, ci=ci, level=level)
        except AttrbenchError as err:
            raise AttrbenchError(f"{label}: {err}") from err
        rows.append({
            "model": model, "augmentation": aug, "variant": variant,
            "method": group["method"].iloc[0] if "method" in group else "",
            "postprocess": group["postprocess"].iloc[0] if "postprocess" in group else "",
            "A": res.a, "ci": res.ci_half_width, "auc_mif": res.auc_mif_mean,
            "auc_lif": res.auc_lif_mean, "n": res.n_used, "n_excluded": res.n_excluded,
            "ci_kind": res.ci, "level": res.level,
        })
    return sort_like_paper(pd.DataFrame(rows, columns=TABLE_COLUMNS))


def curve_groups(curves: pd.DataFrame,
                 x_axis: str) -> Iterator[tuple[tuple[str, str, str], str, pd.DataFrame]]:
    """Check tidy curve rows and yield ``((model, augmentation, variant), label, rows)`` per group.

    Raises:
        AttrbenchError: unknown ``x_axis``, no rows, or missing ``CURVE_SCHEMA`` columns.
    """
    if x_axis not in X_AXES:
        raise AttrbenchError(f"Unknown x_axis {x_axis!r}; use one of: {', '.join(X_AXES)}.")
    if curves.empty:
        raise AttrbenchError("No curve rows to score; run the evaluation first.")
    missing = [c for c in GROUP_KEYS + ["order", "image_id", "step", "logit"] if c not in curves]
    if missing:
        raise AttrbenchError(
            f"Curve rows lack columns {missing}; pass rows with CURVE_SCHEMA columns.")
    for keys, group in curves.groupby(GROUP_KEYS, sort=False):
        yield keys, " / ".join(map(str, keys)), group


def sort_like_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by model, then the paper's augmentation and variant orders (then image id,
    where there is one); a fresh index."""
    aug_rank = {a: i for i, a in enumerate(ordered(list(table["augmentation"]), AUGMENT_ORDER))}
    var_rank = {v: i for i, v in enumerate(ordered(list(table["variant"]), VARIANT_ORDER))}
    keyed = table.assign(_a=table["augmentation"].map(aug_rank), _v=table["variant"].map(var_rank))
    by = ["model", "_a", "_v"] + (["image_id"] if "image_id" in table.columns else [])
    return keyed.sort_values(by, kind="stable").drop(columns=["_a", "_v"]).reset_index(drop=True)


def row_labels(table: pd.DataFrame) -> pd.Series:
    """Row label of each table row in the paper layout: the augmentation, plus the model if the
    table holds several models (``"fpa (small_cnn)"``)."""
    if table["model"].nunique() > 1:
        return table["augmentation"] + " (" + table["model"] + ")"
    return table["augmentation"].copy()


def _accuracy_value(record: Any) -> float | None:
    value = record.get("test_accuracy") if isinstance(record, Mapping) else record
    return None if value is None else float(value)


def paper_layout(table: pd.DataFrame, variants_order: tuple[str, ...] | list[str] = VARIANT_ORDER,
                 augment_order: tuple[str, ...] | list[str] = AUGMENT_ORDER, *,
                 accuracy: Mapping[str, Any] | None = None, digits: int = 2) -> pd.DataFrame:
    """The paper's Table D.2 layout: augmentation x variant grid of ``"A ± CI"`` strings.

    Args:
        table: output of :func:`fidelity_table`.
        variants_order: column order; variants in the table but not here are appended.
        augment_order: row order; augmentations not listed are appended.
        accuracy: optional augmentation -> test accuracy (a fraction, or a record with a
            ``"test_accuracy"`` key as in ``accuracy.json``); adds an ``accuracy`` column
            (percent).
        digits: decimals of A and CI.

    Returns:
        DataFrame of strings, index named ``"augmentation"``; a variant not evaluated for an
        augmentation is an empty string.
    """
    if table.empty:
        raise AttrbenchError("The fidelity table is empty; run the evaluation first.")
    labels = row_labels(table)
    def fmt(value: float) -> str:
        return f"{round(float(value), digits) + 0.0:.{digits}f}"  # + 0.0 turns -0.0 into 0.0

    cells = table["A"].map(fmt) + " ± " + table["ci"].map(fmt)
    grid = pd.DataFrame({"row": labels, "variant": table["variant"], "cell": cells})
    layout = grid.pivot(index="row", columns="variant", values="cell").fillna("")
    aug_of_row = dict(zip(labels, table["augmentation"], strict=True))
    aug_rank = ordered(list(table["augmentation"]), tuple(augment_order))
    row_order = sorted(layout.index, key=lambda r: (aug_rank.index(aug_of_row[r]), r))
    columns = ordered(list(table["variant"]), tuple(variants_order))
    layout = layout.loc[row_order, columns]
    if accuracy is not None:
        acc = [_accuracy_value(accuracy.get(aug_of_row[r])) for r in row_order]
        layout[ACCURACY_COLUMN] = ["" if a is None else f"{100.0 * a:.1f} %" for a in acc]
    layout.index.name = "augmentation"
    layout.columns.name = None
    return layout


def best_per_row(table: pd.DataFrame) -> dict[str, str]:
    """Row label (see :func:`row_labels`) -> variant with the largest A in that row."""
    best = table.assign(_row=row_labels(table)).sort_values("A", ascending=False, kind="stable")
    return dict(best.groupby("_row", sort=False)["variant"].first())


def layout_to_markdown(layout: pd.DataFrame, bold: Mapping[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``layout`` (index as the first column).

    Written by hand because ``DataFrame.to_markdown`` needs the optional ``tabulate`` package.

    Args:
        layout: output of :func:`paper_layout`.
        bold: row label -> column to set in bold (e.g. :func:`best_per_row`).
    """
    bold = bold or {}

    def esc(text: object) -> str:
        return str(text).replace("|", "\\|")

    header = [layout.index.name or ""] + [str(c) for c in layout.columns]
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * len(layout.columns)) + "|"]
    for row, values in layout.iterrows():
        cells = [f"**{esc(v)}**" if bold.get(str(row)) == col and v else esc(v)
                 for col, v in values.items()]
        lines.append("| " + " | ".join([esc(row)] + cells) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(layout: pd.DataFrame, path: str | Path, *, title: str | None = None,
                   bold: Mapping[str, str] | None = None, notes: list[str] | None = None,
                   sections: list[str] | None = None) -> Path:
    """Atomically write ``layout`` as a Markdown file with an optional title, notes and further
    Markdown ``sections`` (e.g. the paired comparisons) after them."""
    parts = [f"# {title}\n"] if title else []
    parts.append(layout_to_markdown(layout, bold))
    if notes:
        parts.append("\n".join(f"- {n}" for n in notes) + "\n")
    parts.extend(sections or [])
    path = Path(path)
    write_text_atomic(path, "\n".join(parts))
    return path


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Atomically write ``frame`` as UTF-8 CSV."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=index)
    path = Path(path)
    write_text_atomic(path, buffer.getvalue())
    return path
