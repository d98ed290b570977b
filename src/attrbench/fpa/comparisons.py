"""Which estimator is better, and how sure we are: paired comparisons on per-image fidelity A.

The fidelity A of an estimator is the mean over images of each image's ``AUC_LIF - AUC_MIF``
(FPA paper Sec. 3; :mod:`attrbench.metrics.functional.fidelity`). Two estimators evaluated on
the same images are compared image by image (:mod:`attrbench.metrics.functional.paired`):

- :func:`per_image_fidelity`: the per-image areas, one row per (model, augmentation, variant,
  image); their mean per group is exactly the A of :func:`attrbench.fidelity_table`.
- :func:`compare_estimators`: per model (augmentation), every pair of estimators: mean difference
  of per-image A with a paired bootstrap CI, Wilcoxon signed-rank p, Holm (or BH) corrected p,
  rank-biserial effect, share of images won; Friedman test, Nemenyi critical difference and
  mean ranks; one sentence per model.
- :func:`compare_models`: two models (e.g. none vs FPA) on the same images, per estimator.
- :func:`cd_diagram_figure`: Demšar's critical-difference diagram.
- :func:`paired_report`: all of the above for a results folder's report (HTML and Markdown
  sections, CSV tables, figures). A model with too little data gets an explicit "not enough data"
  line instead of failing the report.

The paper compares estimators by their A ± CI only; these tests are an addition (docs/design.md,
"Paired comparisons").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from attrbench.atomic import write_bytes_atomic
from attrbench.errors import AttrbenchError
from attrbench.fpa.paper import AUGMENT_LABELS, AUGMENT_ORDER, VARIANT_ORDER, ordered
from attrbench.fpa.tables import aligned_curves, curve_groups, fidelity_table, sort_like_paper
from attrbench.metrics.functional.fidelity import auc, normalise_curves
from attrbench.metrics.functional.paired import (
    FriedmanResult,
    NemenyiResult,
    adjust_pvalues,
    cd_cliques,
    check_options,
    friedman,
    kendalls_w,
    nemenyi,
    paired_comparison,
    two_level_bootstrap_ci,
)
from attrbench.reporting.format import figure_png, format_cell, format_p, format_signed
from attrbench.reporting.page import escape_html, figure_html, html_table

__all__ = [
    "MODEL_PAIR_COLUMNS",
    "PAIR_COLUMNS",
    "PER_IMAGE_COLUMNS",
    "ModelComparison",
    "PairedReport",
    "SEED_COLUMNS",
    "SeedSummary",
    "cd_diagram_figure",
    "compare_estimators",
    "compare_models",
    "paired_report",
    "per_image_fidelity",
    "seed_summary",
]

PER_IMAGE_COLUMNS = ["model", "augmentation", "variant", "image_id", "auc_mif", "auc_lif", "A"]
"""Columns of :func:`per_image_fidelity` (areas and A in percent units)."""
PAIR_COLUMNS = ["model", "augmentation", "x", "y", "n", "diff", "ci_low", "ci_high", "p",
                "p_adj", "significant", "rank_biserial", "d_z", "wins", "losses", "note"]
"""Columns of :attr:`ModelComparison.pairs`: ``diff = mean(A_x - A_y)`` over the ``n`` images
both scored; ``p`` Wilcoxon, ``p_adj`` corrected across the model's pairs; ``wins`` / ``losses``
shares of images with ``A_x > A_y`` / ``A_x < A_y``."""
MODEL_PAIR_COLUMNS = ["model", "variant", "baseline", "other", "n", "diff", "ci_low", "ci_high",
                      "p", "p_adj", "significant", "rank_biserial", "d_z", "wins", "losses", "note"]
"""Columns of :func:`compare_models`: ``diff = mean(A_other - A_baseline)`` per variant."""

_KEYS = ["model", "augmentation", "variant"]


# --- per-image A ---------------------------------------------------------------------------------

def _default_x_axis() -> str:
    """The integration axis :func:`attrbench.fidelity_table` uses by default."""
    return str((fidelity_table.__kwdefaults__ or {}).get("x_axis", "linspace"))


def per_image_fidelity(curves: pd.DataFrame, *, x_axis: str | None = None) -> pd.DataFrame:
    """Each image's fidelity area ``A_i = AUC_LIF,i - AUC_MIF,i`` from tidy curve rows.

    Same normalisation and integration as :func:`attrbench.fidelity_table` (each curve divided by
    its own step-0 logit, trapezoid over 0-100 % masked), so the mean of ``A`` per group is that
    table's A. Images whose step-0 logit is <= 0 are left out, as there.

    Args:
        curves: tidy rows with the ``CURVE_SCHEMA`` columns (both orders, steps ``0..S``).
        x_axis: ``"linspace"`` (the paper's) or ``"fraction"``; default: the one
            ``fidelity_table`` uses, so the means agree with its A.

    Returns:
        DataFrame with :data:`PER_IMAGE_COLUMNS`, one row per (model, augmentation, variant,
        image), in the fidelity table's order, then by image id.

    Raises:
        AttrbenchError: no rows, missing columns, incomplete or duplicated curves.
    """
    x_axis = _default_x_axis() if x_axis is None else x_axis
    frames = []
    for (model, aug, variant), label, group in curve_groups(curves, x_axis):
        ids, mif, lif, fractions = aligned_curves(group, label)
        if not (np.isfinite(mif).all() and np.isfinite(lif).all()):
            raise AttrbenchError(f"{label}: NaN or infinite logits; check the model and inputs.")
        keep = (mif[:, 0] > 0) & (lif[:, 0] > 0)
        x = (np.linspace(0.0, 100.0, mif.shape[1]) if x_axis == "linspace"
             else 100.0 * fractions)
        if not keep.any():
            continue
        a_mif = auc(normalise_curves(mif[keep]), x).numpy()
        a_lif = auc(normalise_curves(lif[keep]), x).numpy()
        frames.append(pd.DataFrame({
            "model": model, "augmentation": aug, "variant": variant,
            "image_id": ids[keep].astype(np.int64), "auc_mif": a_mif, "auc_lif": a_lif,
            "A": a_lif - a_mif}))
    if not frames:
        raise AttrbenchError(
            "No image has a positive step-0 logit, so no curve can be normalised; track the "
            "predicted class or check the model.")
    table = pd.concat(frames, ignore_index=True)[PER_IMAGE_COLUMNS]
    return sort_like_paper(table)


def _as_per_image(data: pd.DataFrame, x_axis: str | None) -> pd.DataFrame:
    """Per-image table from either tidy curves or an existing per-image table (checked)."""
    if not isinstance(data, pd.DataFrame):
        raise AttrbenchError(
            "Pass a DataFrame: tidy curves (attrbench.evaluate) or per_image_fidelity(curves).")
    if "order" in data.columns and "logit" in data.columns:
        return per_image_fidelity(data, x_axis=x_axis)
    missing = [c for c in _KEYS + ["image_id", "A"] if c not in data.columns]
    if missing:
        raise AttrbenchError(
            f"Per-image table lacks columns {missing}; pass per_image_fidelity(curves) or the "
            "tidy curves themselves.")
    if data.empty:
        raise AttrbenchError("not enough data: the per-image table has no rows.")
    values = pd.to_numeric(data["A"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = data.loc[bad, _KEYS + ["image_id"]].iloc[0].tolist()
        raise AttrbenchError(
            f"{int(bad.sum())} per-image A value(s) are NaN or infinite (first: "
            f"{' / '.join(map(str, first))}); drop those images or rerun their evaluation.")
    if data.duplicated(_KEYS + ["image_id"]).any():
        raise AttrbenchError(
            "The per-image table repeats (model, augmentation, variant, image_id) rows; it mixes "
            "two runs. Keep one row per image.")
    return data


def _unit_labels(per_image: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(model, augmentation) -> display label: the augmentation, plus the model if several."""
    pairs = per_image[["model", "augmentation"]].drop_duplicates()
    several = pairs["model"].nunique() > 1
    return {(m, a): (f"{a} ({m})" if several else a)
            for m, a in zip(pairs["model"], pairs["augmentation"], strict=True)}


# --- comparisons of estimators within one model --------------------------------------------------

@dataclass(frozen=True)
class ModelComparison:
    """All pairwise comparisons of the estimators of one (model, augmentation).

    Attributes:
        model: architecture name.
        augmentation: training augmentation.
        label: display label.
        variants: estimators compared, in the paper's order.
        mean_a: variant -> A (mean per-image A over the images it scored), percent units.
        pairs: one row per pair with :data:`PAIR_COLUMNS`.
        friedman: Friedman test on the images every estimator scored, or None if k < 3.
        nemenyi: Nemenyi post-hoc (CD, pairwise p), or None if the Friedman test was not run.
        level: confidence level of the CIs; ``alpha = 1 - level`` decides significance.
        correction: ``"holm"``, ``"bh"`` or ``"none"``.
    """

    model: str
    augmentation: str
    label: str
    variants: tuple[str, ...]
    mean_a: dict[str, float]
    pairs: pd.DataFrame = field(repr=False)
    friedman: FriedmanResult | None
    nemenyi: NemenyiResult | None
    level: float
    correction: str

    @property
    def alpha(self) -> float:
        """Significance level, ``1 - level``."""
        return 1.0 - self.level

    @functools.cached_property
    def _by_pair(self) -> dict[tuple[str, str], dict[str, object]]:
        return {(str(r["x"]), str(r["y"])): r for r in self.pairs.to_dict("records")}

    def pair(self, x: str, y: str) -> dict[str, object]:
        """The row comparing ``x`` with ``y`` (``diff = A_x - A_y``), flipped if stored as
        (y, x)."""
        if (x, y) in self._by_pair:
            return dict(self._by_pair[(x, y)])
        if (y, x) not in self._by_pair:
            raise AttrbenchError(
                f"No comparison of {x!r} with {y!r}; estimators: {', '.join(self.variants)}.")
        return _flip(self._by_pair[(y, x)])

    def matrix(self, digits: int = 1) -> pd.DataFrame:
        """k x k strings: row X, column Y = ``mean(A_X - A_Y) [CI]`` with ``*`` when significant
        after correction; ``=`` for estimators identical on every image."""
        cells = pd.DataFrame("", index=list(self.variants), columns=list(self.variants))
        for x in self.variants:
            for y in self.variants:
                cells.at[x, y] = "—" if x == y else format_cell(self.pair(x, y), digits)
        cells.index.name = "X \\ Y"
        return cells

    def n_significant(self) -> int:
        """Pairs that differ significantly after correction."""
        return int(self.pairs["significant"].sum())

    def sentence(self) -> str:
        """One sentence: does the estimator with the largest A beat the runner-up?"""
        ranked = sorted(self.variants, key=lambda v: -self.mean_a[v])
        best, second = ranked[0], ranked[1]
        row = self.pair(best, second)
        pct = 100.0 * float(row["wins"])  # type: ignore[arg-type]
        name = _correction_name(self.correction)
        level = f"{100 * self.level:g} %"
        if row["note"]:
            verdict = f"they are {row['note']}"
        elif row["significant"]:
            verdict = f"significant after {name} (p = {format_p(row['p_adj'])})"
        else:
            verdict = f"not significant after {name} (p = {format_p(row['p_adj'])})"
        text = (f"{_display(self.label)}: {best} beats {second} on {pct:.0f} % of images (n = "
                f"{int(row['n'])}; mean difference in A {format_signed(row['diff'])}, {level} CI "
                f"[{format_signed(row['ci_low'])}, {format_signed(row['ci_high'])}], "
                f"rank-biserial r = {float(row['rank_biserial']):+.2f}); {verdict}. "
                f"{self.n_significant()} of {len(self.pairs)} estimator pairs differ "
                f"significantly.")
        if self.friedman is not None and not self.friedman.note:
            text += (f" Friedman chi2 = {self.friedman.statistic:.1f}, p = "
                     f"{format_p(self.friedman.p_value)} over {self.friedman.n} images.")
        return text


def _flip(row: dict[str, object]) -> dict[str, object]:
    out = dict(row)
    out["x"], out["y"] = row["y"], row["x"]
    out["diff"] = -float(row["diff"])  # type: ignore[arg-type]
    out["ci_low"], out["ci_high"] = -float(row["ci_high"]), -float(row["ci_low"])  # type: ignore
    out["rank_biserial"] = -float(row["rank_biserial"])  # type: ignore[arg-type]
    out["d_z"] = -float(row["d_z"])  # type: ignore[arg-type]
    out["wins"], out["losses"] = row["losses"], row["wins"]
    return out


def _correction_name(correction: str) -> str:
    return {"holm": "Holm correction", "bh": "Benjamini-Hochberg correction",
            "none": "no correction"}[correction]


def _pair_rows(wide: pd.DataFrame, pairs: Sequence[tuple[str, str]], *, level: float,
               correction: str, n_boot: int, seed: int, ci_method: str,
               label: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for x, y in pairs:
        both = wide[[x, y]].dropna()
        if len(both) < 2:
            raise AttrbenchError(
                f"not enough data: {label}: {x} and {y} share {len(both)} scored image(s); a "
                "paired comparison needs at least 2.")
        res = paired_comparison(both[x], both[y], level=level, n_boot=n_boot, seed=seed,
                                ci_method=ci_method)
        rows.append({"x": x, "y": y, "n": res.n, "diff": res.mean_diff, "ci_low": res.ci_low,
                     "ci_high": res.ci_high, "p": res.p_value, "rank_biserial": res.rank_biserial,
                     "d_z": res.d_z, "wins": res.wins, "losses": res.losses, "note": res.note})
    adjusted = adjust_pvalues([float(r["p"]) for r in rows], correction)  # type: ignore[arg-type]
    for r, p_adj in zip(rows, adjusted, strict=True):
        r["p_adj"] = float(p_adj)
        r["significant"] = bool(p_adj < 1.0 - level)  # NaN (untested) compares False
    return rows


def _compare_one(group: pd.DataFrame, model: str, aug: str, label: str, *,
                 variants: Sequence[str] | None, level: float, correction: str, n_boot: int,
                 seed: int, ci_method: str) -> ModelComparison:
    present = ordered(list(group["variant"]), VARIANT_ORDER)
    if variants is not None:
        unknown = [v for v in variants if v not in present]
        if unknown:
            raise AttrbenchError(
                f"{label}: no per-image A for {unknown}; evaluated: {', '.join(present)}.")
        present = [v for v in present if v in set(variants)]
    if len(present) < 2:
        raise AttrbenchError(
            f"not enough data: {label} has {len(present)} estimator(s) ({', '.join(present)}); "
            "comparisons need at least 2.")
    wide = group.pivot(index="image_id", columns="variant", values="A")[present]
    pairs = [(present[i], present[j]) for i in range(len(present))
             for j in range(i + 1, len(present))]
    rows = _pair_rows(wide, pairs, level=level, correction=correction, n_boot=n_boot, seed=seed,
                      ci_method=ci_method, label=label)
    table = pd.DataFrame([{"model": model, "augmentation": aug, **r} for r in rows],
                         columns=PAIR_COLUMNS)
    fr = nm = None
    complete = wide.dropna()
    if len(present) >= 3 and len(complete) >= 2:
        fr = friedman(complete.to_numpy())
        if not fr.note:
            nm = nemenyi(complete.to_numpy(), alpha=1.0 - level)
    mean_a = {v: float(wide[v].mean()) for v in present}
    return ModelComparison(model=model, augmentation=aug, label=label, variants=tuple(present),
                           mean_a=mean_a, pairs=table, friedman=fr, nemenyi=nm,
                           level=float(level), correction=correction)


def compare_estimators(data: pd.DataFrame, *, variants: Sequence[str] | None = None,
                       level: float = 0.95, correction: str = "holm", n_boot: int = 10_000,
                       seed: int = 0, ci_method: str = "bca",
                       x_axis: str | None = None) -> dict[str, ModelComparison]:
    """Compare every two estimators of each model image by image.

    Per (model, augmentation): for each pair (X, Y) the mean of ``A_X - A_Y`` over the images
    both scored with a paired bootstrap CI, the Wilcoxon signed-rank p-value, its corrected value
    across the model's pairs (Holm by default; ``"bh"`` for Benjamini-Hochberg), the rank-biserial
    effect and the share of images won; then the Friedman test and Nemenyi critical difference on
    the images every estimator scored (k >= 3).

    Args:
        data: tidy curves (``attrbench.evaluate`` / a results folder's curves) or the output of
            :func:`per_image_fidelity`.
        variants: estimators to compare (default: all), shown in the paper's order.
        level: CI level; pairs are significant when the corrected p < ``1 - level``.
        correction: ``"holm"``, ``"bh"`` or ``"none"``.
        n_boot: bootstrap resamples per pair.
        seed: bootstrap seed; every pair on the same number of images uses the same image
            resamples (common random numbers).
        ci_method: ``"bca"`` or ``"percentile"``.
        x_axis: integration axis if ``data`` are curves (default: fidelity_table's).

    Returns:
        display label (the augmentation, plus the model if several) -> :class:`ModelComparison`.

    Raises:
        AttrbenchError: fewer than 2 estimators or images for a model ("not enough data"), NaN
            per-image A, duplicated rows, bad options.
    """
    check_options(level, correction)
    per_image = _as_per_image(data, x_axis)
    labels = _unit_labels(per_image)
    out: dict[str, ModelComparison] = {}
    for (model, aug), group in sort_like_paper(per_image).groupby(["model", "augmentation"], sort=False):
        label = labels[(model, aug)]
        out[label] = _compare_one(group, model, aug, label, variants=variants, level=level,
                                  correction=correction, n_boot=n_boot, seed=seed,
                                  ci_method=ci_method)
    return out


def compare_models(data: pd.DataFrame, baseline: str = "none", other: str = "fpa", *,
                   model: str | None = None, variants: Sequence[str] | None = None,
                   level: float = 0.95, correction: str = "holm", n_boot: int = 10_000,
                   seed: int = 0, ci_method: str = "bca",
                   x_axis: str | None = None) -> pd.DataFrame:
    """Two models (augmentations) on the same images: per estimator, ``A_other - A_baseline``.

    Images are paired by ``image_id``; only images both models scored count. p-values are
    corrected across the estimators compared.

    Args:
        data: tidy curves or :func:`per_image_fidelity` output.
        baseline: augmentation of the reference model (e.g. ``"none"``).
        other: augmentation of the model compared with it (e.g. ``"fpa"``).
        model: architecture, needed only if the data hold several.
        variants: estimators (default: those both models have).
        level, correction, n_boot, seed, ci_method, x_axis: as in :func:`compare_estimators`.

    Returns:
        DataFrame with :data:`MODEL_PAIR_COLUMNS`, one row per estimator, in the paper's order.

    Raises:
        AttrbenchError: unknown augmentation or model, no shared estimator or fewer than 2 shared
            images ("not enough data"), NaN per-image A.
    """
    check_options(level, correction)
    per_image = _as_per_image(data, x_axis)
    models = sorted(per_image["model"].unique())
    if model is None:
        if len(models) > 1:
            raise AttrbenchError(
                f"The data hold several models ({', '.join(models)}); pass model=... .")
        model = models[0]
    elif model not in models:
        raise AttrbenchError(f"Unknown model {model!r}; the data hold: {', '.join(models)}.")
    sub = per_image[per_image["model"] == model]
    augs = ordered(list(sub["augmentation"]), AUGMENT_ORDER)
    for name in (baseline, other):
        if name not in augs:
            raise AttrbenchError(
                f"No results for augmentation {name!r} of {model}; the data hold: "
                f"{', '.join(augs)}.")
    if baseline == other:
        raise AttrbenchError("baseline and other are the same model; name two augmentations.")
    wide_b = sub[sub["augmentation"] == baseline].pivot(index="image_id", columns="variant",
                                                        values="A")
    wide_o = sub[sub["augmentation"] == other].pivot(index="image_id", columns="variant",
                                                     values="A")
    shared = [v for v in ordered(list(sub["variant"]), VARIANT_ORDER)
              if v in wide_b.columns and v in wide_o.columns]
    if variants is not None:
        shared = [v for v in shared if v in set(variants)]
    if not shared:
        raise AttrbenchError(
            f"not enough data: {baseline} and {other} share no evaluated estimator.")
    rows = []
    for v in shared:
        both = pd.concat([wide_b[v].rename("b"), wide_o[v].rename("o")], axis=1).dropna()
        if len(both) < 2:
            raise AttrbenchError(
                f"not enough data: {v}: {baseline} and {other} share {len(both)} scored "
                "image(s); evaluate both models on the same images.")
        res = paired_comparison(both["o"], both["b"], level=level, n_boot=n_boot, seed=seed,
                                ci_method=ci_method)
        rows.append({"model": model, "variant": v, "baseline": baseline, "other": other,
                     "n": res.n, "diff": res.mean_diff, "ci_low": res.ci_low,
                     "ci_high": res.ci_high, "p": res.p_value,
                     "rank_biserial": res.rank_biserial, "d_z": res.d_z, "wins": res.wins,
                     "losses": res.losses, "note": res.note})
    adjusted = adjust_pvalues([r["p"] for r in rows], correction)
    for r, p_adj in zip(rows, adjusted, strict=True):
        r["p_adj"] = float(p_adj)
        r["significant"] = bool(p_adj < 1.0 - level)
    return pd.DataFrame(rows, columns=MODEL_PAIR_COLUMNS)


# --- training seeds ------------------------------------------------------------------------------

SEED_COLUMNS = ["model", "augmentation", "variant", "seeds", "A", "between_seed_sd", "ci_low",
                "ci_high", "note"]
"""Columns of :attr:`SeedSummary.table`: ``A`` = mean over seeds of each seed's A,
``between_seed_sd`` = their SD (ddof = 1), CI = two-level (seeds, then images) bootstrap."""
RANKING_COLUMNS = ["model", "augmentation", "seeds", "estimators", "kendall_w", "p", "note"]
"""Columns of :attr:`SeedSummary.ranking`: Kendall's W of the estimator ranking across seeds."""


@dataclass(frozen=True)
class SeedSummary:
    """Fidelity A across training seeds.

    Attributes:
        table: one row per (model, augmentation, variant), :data:`SEED_COLUMNS`.
        ranking: one row per (model, augmentation), :data:`RANKING_COLUMNS`.
    """

    table: pd.DataFrame
    ranking: pd.DataFrame


def seed_summary(runs: Mapping[int, pd.DataFrame], *, level: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0, x_axis: str | None = None) -> SeedSummary:
    """A with its between-seed spread, and how stable the estimator ranking is across seeds.

    Each training seed is its own run (its own results folder). Per (model, augmentation,
    variant): A of each seed (mean per-image A), their mean and SD, and a two-level bootstrap CI
    (draw seeds, then images within each drawn seed). Per (model, augmentation): Kendall's W of
    the estimators' ranking by A across the seeds that scored every estimator (1 = every seed ranks
    them alike), with the Friedman p-value of W.

    A seed that finished for some augmentations or estimators only is used where it has results;
    rows say which seeds are missing, and a row with fewer than 2 seeds says "not enough data".

    Args:
        runs: training seed -> tidy curves or :func:`per_image_fidelity` table of that seed's run.
        level: CI level.
        n_boot: bootstrap replicates.
        seed: resampling seed.
        x_axis: integration axis if the runs hold curves (default: fidelity_table's).

    Returns:
        :class:`SeedSummary`.

    Raises:
        AttrbenchError: no runs, NaN per-image A, duplicated rows, bad options.
    """
    check_options(level, "holm")
    if not runs:
        raise AttrbenchError("not enough data: no seed runs given; pass {seed: curves, ...}.")
    frames = []
    for s_id, data in runs.items():
        try:
            frames.append(_as_per_image(data, x_axis).assign(seed=s_id))
        except AttrbenchError as err:
            raise AttrbenchError(f"seed {s_id}: {err}") from err
    pooled = sort_like_paper(pd.concat(frames, ignore_index=True))
    all_seeds = sorted(runs)
    rows, ranking = [], []
    for (model, aug), unit in pooled.groupby(["model", "augmentation"], sort=False):
        per_seed_a = unit.groupby(["variant", "seed"])["A"].mean().unstack("seed")
        variants = ordered(list(unit["variant"]), VARIANT_ORDER)
        for v in variants:
            have = sorted(unit.loc[unit["variant"] == v, "seed"].unique())
            missing = [s_ for s_ in all_seeds if s_ not in have]
            note = f"seeds {missing} missing" if missing else ""
            row = {"model": model, "augmentation": aug, "variant": v, "seeds": len(have),
                   "A": math.nan, "between_seed_sd": math.nan, "ci_low": math.nan,
                   "ci_high": math.nan, "note": note}
            if len(have) < 2:
                row["note"] = (f"not enough data: {len(have)} finished seed(s)"
                               + (f"; {note}" if note else ""))
                if have:
                    row["A"] = float(per_seed_a.at[v, have[0]])
            else:
                sub = unit[unit["variant"] == v]
                groups = [sub.loc[sub["seed"] == s_, "A"].to_numpy() for s_ in have]
                est, lo, hi = two_level_bootstrap_ci(groups, level=level, n_boot=n_boot,
                                                     seed=seed)
                row.update(A=est, between_seed_sd=float(per_seed_a.loc[v, have].std(ddof=1)),
                           ci_low=lo, ci_high=hi)
            rows.append(row)
        complete = per_seed_a.loc[variants].dropna(axis=1)
        incomplete = [s_ for s_ in all_seeds if s_ not in complete.columns]
        rank = {"model": model, "augmentation": aug, "seeds": complete.shape[1],
                "estimators": len(variants), "kendall_w": math.nan, "p": math.nan,
                "note": f"seeds {incomplete} incomplete, left out" if incomplete else ""}
        if complete.shape[1] < 2 or len(variants) < 2:
            rank["note"] = (f"not enough data: {complete.shape[1]} seed(s) scored all "
                            f"{len(variants)} estimator(s)")
        else:
            kw = kendalls_w(complete.to_numpy().T)
            rank.update(kendall_w=kw.w, p=kw.p_value)
        ranking.append(rank)
    return SeedSummary(pd.DataFrame(rows, columns=SEED_COLUMNS),
                       pd.DataFrame(ranking, columns=RANKING_COLUMNS))


# --- critical-difference diagram ----------------------------------------------------------------

def cd_diagram_figure(names: Sequence[str], mean_ranks: Sequence[float], cd: float, *,
                      title: str | None = None) -> Figure:
    """Critical-difference diagram (Demšar 2006, Fig. 1) of estimators' mean ranks.

    A rank axis (1 = best, at the left); each estimator hangs from its mean rank, the better half
    labelled on the left and the rest on the right; a thick bar joins estimators whose mean ranks
    lie within ``cd`` of each other (not significantly different); the CD itself is drawn above
    the axis.

    Args:
        names: ``k`` estimator names.
        mean_ranks: ``(k,)`` mean ranks, 1 = best.
        cd: Nemenyi critical difference (rank units).
        title: optional title.

    Returns:
        A :class:`matplotlib.figure.Figure` (no pyplot state).
    """
    ranks = np.asarray(mean_ranks, dtype=np.float64).reshape(-1)
    if len(names) != ranks.size or ranks.size < 2:
        raise AttrbenchError(
            f"A CD diagram needs >= 2 estimators and one mean rank each; got {len(names)} names "
            f"and {ranks.size} ranks.")
    k = ranks.size
    order = list(np.argsort(ranks, kind="stable"))
    left, right = order[: (k + 1) // 2], order[(k + 1) // 2:]
    cliques = cd_cliques(ranks, cd)
    rows = max(len(left), len(right))
    # vertical layout in inches from the top: title, CD bar, rank axis, clique bars, labels
    title_h = 0.3 if title else 0.05
    axis_y = title_h + 0.55
    bar_step, row_step = 0.13, 0.24
    first_row = axis_y + 0.2 + bar_step * len(cliques) + 0.1
    height = first_row + row_step * (rows - 1) + 0.2
    fig = Figure(figsize=(7.0, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(height, 0.0)  # y grows downwards, in inches
    lo_x, hi_x = 0.25, 0.75  # the rank axis spans this fraction of the width

    def xpos(rank: float) -> float:
        return lo_x + (hi_x - lo_x) * (rank - 1.0) / max(k - 1, 1)

    ax.plot([lo_x, hi_x], [axis_y, axis_y], color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([xpos(r), xpos(r)], [axis_y, axis_y - 0.06], color="black", lw=1)
        ax.text(xpos(r), axis_y - 0.09, str(r), ha="center", va="bottom", fontsize=8)
    if cd < k - 1:
        cd_y = axis_y - 0.38
        ax.plot([xpos(1), xpos(1 + cd)], [cd_y, cd_y], color="#444", lw=1.5)
        for end in (xpos(1), xpos(1 + cd)):
            ax.plot([end, end], [cd_y - 0.04, cd_y + 0.04], color="#444", lw=1)
        ax.text(xpos(1 + cd) + 0.01, cd_y, f"CD = {cd:.2f}", ha="left", va="center",
                fontsize=8)
    for side, members in (("left", left), ("right", right[::-1])):
        for row, idx in enumerate(members):
            y = first_row + row * row_step
            x = xpos(float(ranks[idx]))
            end = lo_x - 0.03 if side == "left" else hi_x + 0.03
            ax.plot([x, x, end], [axis_y, y, y], color="#555", lw=0.8)
            text = (f"{names[idx]} ({ranks[idx]:.2f})" if side == "right"
                    else f"({ranks[idx]:.2f}) {names[idx]}")
            ax.text(end + (0.01 if side == "right" else -0.01), y, text,
                    ha="left" if side == "right" else "right", va="center", fontsize=8)
    for i, group in enumerate(cliques):
        y = axis_y + 0.2 + bar_step * i
        xs = [xpos(float(ranks[g])) for g in group]
        ax.plot([min(xs) - 0.006, max(xs) + 0.006], [y, y], color="black", lw=3,
                solid_capstyle="butt", gid=f"clique-{i}")
    if title:
        ax.text(0.02, 0.06, title, ha="left", va="top", fontsize=9)
    return fig


# --- report sections -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PairedReport:
    """Everything the results-folder report shows about paired comparisons.

    Attributes:
        comparisons: label -> :class:`ModelComparison` (models with enough data).
        not_enough: label -> why a model could not be compared ("not enough data: ...").
        between: DataFrames of :func:`compare_models`, keyed ``"<other> vs <baseline>"``.
        between_notes: the same keys -> why a model pair could not be compared.
        figures: figure name (``cd_<label>``) -> (PNG bytes, caption).
        per_image: the :func:`per_image_fidelity` table (empty if none could be computed).
    """

    comparisons: dict[str, ModelComparison]
    not_enough: dict[str, str]
    between: dict[str, pd.DataFrame]
    between_notes: dict[str, str]
    figures: dict[str, tuple[bytes, str]]
    per_image: pd.DataFrame = field(repr=False)

    def pairs_table(self) -> pd.DataFrame:
        """All models' pair rows (:data:`PAIR_COLUMNS`) in one frame."""
        frames = [c.pairs for c in self.comparisons.values()]
        return (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=PAIR_COLUMNS))

    def between_table(self) -> pd.DataFrame:
        """All between-model rows (:data:`MODEL_PAIR_COLUMNS`) in one frame."""
        frames = list(self.between.values())
        return (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=MODEL_PAIR_COLUMNS))

    def html(self) -> str:
        """The "Paired comparisons" section of the HTML report."""
        parts = ["<h2>Paired comparisons</h2>", f"<p>{escape_html(_EXPLAIN)}</p>"]
        for label, comp in self.comparisons.items():
            parts.append(f"<h3>{escape_html(_display(label))}</h3>")
            parts.append(f'<p class="note">{escape_html(comp.sentence())}</p>')
            fig = self.figures.get(_figure_name(label))
            if fig is not None:
                parts.append(figure_html(fig[0], f"CD diagram {label}", fig[1]))
            elif comp.friedman is not None and comp.friedman.note:
                parts.append(f"<p>{escape_html(comp.friedman.note)}.</p>")
            parts.append(html_table(comp.matrix()))
        for label, why in self.not_enough.items():
            parts.append(f"<h3>{escape_html(_display(label))}</h3><p>{escape_html(why)}</p>")
        if self.between or self.between_notes:
            parts.append("<h3>Between models, on the same images</h3>")
            parts.append(f"<p>{escape_html(_EXPLAIN_BETWEEN)}</p>")
            for key, frame in self.between.items():
                parts.append(f"<p><b>{escape_html(key)}</b></p>")
                parts.append(html_table(_between_display(frame)))
            for key, why in self.between_notes.items():
                parts.append(f"<p><b>{escape_html(key)}</b>: {escape_html(why)}</p>")
        return "\n".join(parts)

    def markdown(self, figure_dir: str = "figures") -> str:
        """The same section as Markdown; CD diagrams are linked from ``figure_dir``."""
        from attrbench.fpa.tables import layout_to_markdown

        parts = ["## Paired comparisons\n", _EXPLAIN + "\n"]
        for label, comp in self.comparisons.items():
            parts.append(f"### {_display(label)}\n")
            parts.append(comp.sentence() + "\n")
            name = _figure_name(label)
            if name in self.figures:
                parts.append(f"![CD diagram {label}]({figure_dir}/{name}.png)\n")
            parts.append(layout_to_markdown(comp.matrix()))
        for label, why in self.not_enough.items():
            parts.append(f"### {_display(label)}\n\n{why}\n")
        if self.between or self.between_notes:
            parts.append("### Between models, on the same images\n")
            parts.append(_EXPLAIN_BETWEEN + "\n")
            for key, frame in self.between.items():
                parts.append(f"**{key}**\n")
                parts.append(layout_to_markdown(_between_display(frame)))
            for key, why in self.between_notes.items():
                parts.append(f"**{key}**: {why}\n")
        return "\n".join(parts)

    def write(self, root: str | Path) -> dict[str, Path]:
        """Write ``fidelity_per_image.csv``, ``comparisons.csv``, ``model_comparisons.csv`` and
        ``figures/cd_<label>.png`` under ``root``; returns name -> path."""
        from attrbench.fpa.tables import write_csv

        root = Path(root)
        out = {"per_image_csv": write_csv(self.per_image, root / "fidelity_per_image.csv",
                                          index=False),
               "comparisons_csv": write_csv(self.pairs_table(), root / "comparisons.csv",
                                            index=False),
               "model_comparisons_csv": write_csv(self.between_table(),
                                                  root / "model_comparisons.csv", index=False)}
        for name, (png, _cap) in self.figures.items():
            path = root / "figures" / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, png)
            out[name] = path
        return out


_EXPLAIN = (
    "Each image has its own fidelity area A_i = AUC_LIF - AUC_MIF; an estimator's A is their "
    "mean. Two estimators are compared on the same images: the mean of the per-image difference "
    "with a paired bootstrap CI (BCa), the Wilcoxon signed-rank p-value, Holm-corrected across "
    "the model's pairs, and the rank-biserial effect r (+1: X larger on every image). Matrix "
    "cell (row X, column Y) = mean(A_X - A_Y) [CI]; * = significant after correction; "
    "= = identical on every image. The CIs are per pair (not adjusted for the number of pairs) "
    "and, with fewer than about 20 images, too narrow; the corrected test decides. The CD "
    "diagram ranks the estimators on each image "
    "(1 = largest A): estimators joined by a bar differ by less than the Nemenyi critical "
    "difference. These tests are not in the FPA paper, which compares A ± CI by eye.")
_EXPLAIN_BETWEEN = (
    "Per estimator, the mean per-image difference A(other model) - A(baseline model) over the "
    "images both models scored, with its paired bootstrap CI and Wilcoxon p (Holm-corrected "
    "across estimators).")


def _display(label: str) -> str:
    return AUGMENT_LABELS.get(label, label)


def _figure_name(label: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
    return f"cd_{safe}"


def _between_display(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in frame.to_dict("records"):
        rows.append({"variant": r["variant"], "images": int(r["n"]),
                     "mean difference [CI]": format_cell(r, 2).replace(" *", ""),
                     "Wilcoxon p": format_p(r["p"]), "corrected p": format_p(r["p_adj"]),
                     "significant": "yes" if r["significant"] else "no",
                     "r": f"{float(r['rank_biserial']):+.2f}",
                     "other wins": f"{100 * float(r['wins']):.0f} %"})
    return pd.DataFrame(rows).set_index("variant")


def paired_report(curves: pd.DataFrame, *, level: float = 0.95, correction: str = "holm",
                  n_boot: int = 10_000, seed: int = 0, baseline: str = "none") -> PairedReport:
    """Paired comparisons of a results folder's curves, for the report.

    Never raises for lack of data: a model with fewer than 2 estimators or images, or one whose
    per-image A cannot be computed, gets a "not enough data" line instead.

    Args:
        curves: tidy curve rows of the folder.
        level: CI level (significance at ``1 - level``).
        correction: correction across pairs.
        n_boot: bootstrap resamples per pair.
        seed: bootstrap seed.
        baseline: augmentation every other augmentation is compared with (if present).

    Returns:
        :class:`PairedReport`.
    """
    try:
        per_image = per_image_fidelity(curves)
    except AttrbenchError as err:
        return PairedReport({}, {"all models": f"not enough data: {err}"}, {}, {}, {},
                            pd.DataFrame(columns=PER_IMAGE_COLUMNS))
    labels = _unit_labels(per_image)
    comparisons: dict[str, ModelComparison] = {}
    not_enough: dict[str, str] = {}
    figures: dict[str, tuple[bytes, str]] = {}
    for (model, aug), group in per_image.groupby(["model", "augmentation"], sort=False):
        label = labels[(model, aug)]
        try:
            comp = _compare_one(group, model, aug, label, variants=None, level=level,
                                correction=correction, n_boot=n_boot, seed=seed, ci_method="bca")
        except AttrbenchError as err:
            msg = str(err)
            not_enough[label] = msg if msg.startswith("not enough data") else (
                f"not enough data: {msg}")
            continue
        comparisons[label] = comp
        if comp.nemenyi is not None:
            fig = cd_diagram_figure(comp.variants, comp.nemenyi.mean_ranks, comp.nemenyi.cd,
                                    title=f"{_display(label)}: mean rank of per-image A "
                                          f"(1 = best), {comp.nemenyi.n} images")
            figures[_figure_name(label)] = (
                figure_png(fig),
                f"Critical-difference diagram, {_display(label)}: mean rank of each estimator "
                f"over {comp.nemenyi.n} images; bars join estimators within the Nemenyi CD "
                f"({comp.nemenyi.cd:.2f} at alpha = {comp.nemenyi.alpha:.2g}). Friedman p = "
                f"{format_p(comp.friedman.p_value if comp.friedman else math.nan)}.")
    between: dict[str, pd.DataFrame] = {}
    between_notes: dict[str, str] = {}
    for model in sorted(per_image["model"].unique()):
        augs = ordered(list(per_image.loc[per_image["model"] == model, "augmentation"]),
                       AUGMENT_ORDER)
        if baseline not in augs:
            continue
        several = per_image["model"].nunique() > 1
        for other in augs:
            if other == baseline:
                continue
            key = (f"{_display(other)} vs {_display(baseline)}"
                   + (f" ({model})" if several else ""))
            try:
                between[key] = compare_models(per_image, baseline, other, model=model,
                                              level=level, correction=correction,
                                              n_boot=n_boot, seed=seed)
            except AttrbenchError as err:
                msg = str(err)
                between_notes[key] = msg if msg.startswith("not enough data") else (
                    f"not enough data: {msg}")
    return PairedReport(comparisons, not_enough, between, between_notes, figures, per_image)

