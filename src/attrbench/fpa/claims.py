"""The FPA paper's qualitative findings, checked on the results at hand (never assumed).

Brocki & Chung, Sec. 4.2 and Table D.2; each claim is computed from the fidelity table (and, for
(a), from per-image A paired by image when both models scored the same images):

(a) FPA raises A of IG_sum, VG'_sum and SG'_sum beyond the confidence interval: the paired 95 % CI
    of ``A_fpa - A_none`` lies above 0 (without shared images: the two independent intervals do
    not overlap).
(b) Random's A is within its CI of 0, for every model.
(c) With FPA, every signed estimator (IG_sum, VG'_sum, SG'_sum) has a higher A than every
    unsigned one (IG_abs, VG_abs, VG'_abs, SG_abs, SG'_abs, SQ-SG_sum).
(d) Among the unsigned estimators SQ-SG_sum has the highest A and VG_abs the lowest, for every
    model ("regardless of the augmentation").

A claim whose estimators or models are missing from the results is reported as "not checked".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from html import escape

import pandas as pd

__all__ = ["Claim", "SIGNED", "UNSIGNED", "check_claims", "claims_html", "claims_markdown"]

SIGNED: tuple[str, ...] = ("IG_sum", "VG'_sum", "SG'_sum")
UNSIGNED: tuple[str, ...] = ("IG_abs", "VG_abs", "VG'_abs", "SG_abs", "SG'_abs", "SQ-SG_sum")
RAISED_BY_FPA: tuple[str, ...] = ("IG_sum", "VG'_sum", "SG'_sum")


@dataclass(frozen=True)
class Claim:
    """One finding of the paper and whether our numbers show it.

    Attributes:
        key: ``"a"`` .. ``"d"``.
        statement: the paper's claim in one sentence.
        holds: True / False, or None when the results lack what the claim needs.
        evidence: the numbers behind the verdict (percent units).
    """

    key: str
    statement: str
    holds: bool | None
    evidence: str

    @property
    def verdict(self) -> str:
        """``holds`` / ``does not hold`` / ``not checked``."""
        return {True: "holds", False: "does not hold", None: "not checked"}[self.holds]


def _cells(table: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    return {(r.augmentation, r.variant): (float(r.A), float(r.ci))
            for r in table.itertuples(index=False)}


def _claim_a(cells: dict, paired: pd.DataFrame | None) -> Claim:
    statement = ("FPA raises A of IG_sum, VG'_sum and SG'_sum beyond the 95 % confidence "
                 "interval (paired by image).")
    parts, verdicts = [], []
    for v in RAISED_BY_FPA:
        if ("none", v) not in cells or ("fpa", v) not in cells:
            return Claim("a", statement, None, f"needs the none and fpa models with {v}.")
        a_none, a_fpa = cells[("none", v)][0], cells[("fpa", v)][0]
        row = None
        if paired is not None and not paired.empty:
            hit = paired[paired["variant"] == v]
            row = hit.iloc[0] if len(hit) else None
        if row is not None:
            ok = bool(row["ci_low"] > 0)
            parts.append(f"{v}: {a_none:.1f} -> {a_fpa:.1f}, paired difference "
                         f"{row['diff']:+.1f} [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}] "
                         f"(n = {int(row['n'])})")
        else:
            (a0, c0), (a1, c1) = cells[("none", v)], cells[("fpa", v)]
            ok = a1 - c1 > a0 + c0
            parts.append(f"{v}: {a0:.1f} ± {c0:.1f} -> {a1:.1f} ± {c1:.1f} (independent CIs)")
        verdicts.append(ok)
    return Claim("a", statement, all(verdicts), "; ".join(parts) + ".")


def _claim_b(cells: dict, augmentations: Sequence[str]) -> Claim:
    statement = "Random's A is within its confidence interval of 0."
    rows = [(aug, *cells[(aug, "Random")]) for aug in augmentations if (aug, "Random") in cells]
    if not rows:
        return Claim("b", statement, None, "needs the Random variant.")
    ok = [abs(a) <= ci for _aug, a, ci in rows]
    evidence = "; ".join(f"{aug}: {a:+.1f} ± {ci:.1f}{'' if good else ' (CI excludes 0)'}"
                         for (aug, a, ci), good in zip(rows, ok, strict=True))
    return Claim("b", statement, all(ok), evidence + ".")


def _claim_c(cells: dict) -> Claim:
    statement = "With FPA, every signed estimator beats every unsigned one."
    signed = {v: cells[("fpa", v)][0] for v in SIGNED if ("fpa", v) in cells}
    unsigned = {v: cells[("fpa", v)][0] for v in UNSIGNED if ("fpa", v) in cells}
    if not signed or not unsigned:
        return Claim("c", statement, None, "needs the fpa model with signed and unsigned variants.")
    worst_signed = min(signed, key=signed.get)
    best_unsigned = max(unsigned, key=unsigned.get)
    ok = signed[worst_signed] > unsigned[best_unsigned]
    return Claim("c", statement, ok,
                 f"lowest signed {worst_signed} {signed[worst_signed]:.1f} vs highest unsigned "
                 f"{best_unsigned} {unsigned[best_unsigned]:.1f}.")


def _claim_d(cells: dict, augmentations: Sequence[str]) -> Claim:
    statement = "SQ-SG_sum is the best unsigned estimator and VG_abs the worst, for every model."
    parts, verdicts = [], []
    for aug in augmentations:
        unsigned = {v: cells[(aug, v)][0] for v in UNSIGNED if (aug, v) in cells}
        if "SQ-SG_sum" not in unsigned or "VG_abs" not in unsigned or len(unsigned) < 3:
            continue
        best, worst = max(unsigned, key=unsigned.get), min(unsigned, key=unsigned.get)
        verdicts.append(best == "SQ-SG_sum" and worst == "VG_abs")
        parts.append(f"{aug}: best {best} {unsigned[best]:.1f}, worst {worst} "
                     f"{unsigned[worst]:.1f}")
    if not verdicts:
        return Claim("d", statement, None, "needs SQ-SG_sum, VG_abs and other unsigned variants.")
    return Claim("d", statement, all(verdicts), "; ".join(parts) + ".")


def check_claims(table: pd.DataFrame, paired: pd.DataFrame | None = None) -> list[Claim]:
    """Check claims (a)-(d) on a fidelity table of one architecture.

    Args:
        table: :func:`attrbench.fpa.tables.fidelity_table` rows (``augmentation``,
            ``variant``, ``A``, ``ci``), one model architecture.
        paired: optional :func:`attrbench.fpa.comparisons.compare_models` rows for none vs
            fpa (``variant``, ``diff``, ``ci_low``, ``ci_high``, ``n``); claim (a) then uses the
            paired CI.

    Returns:
        Claims a, b, c, d in that order.
    """
    cells = _cells(table)
    augmentations = list(dict.fromkeys(table["augmentation"]))
    return [_claim_a(cells, paired), _claim_b(cells, augmentations), _claim_c(cells),
            _claim_d(cells, augmentations)]


def claims_markdown(claims: Sequence[Claim], title: str = "Claims") -> str:
    """A Markdown section: one bullet per claim with its verdict and numbers."""
    lines = [f"## {title}", "",
             "The FPA paper's findings (Sec. 4.2, Table D.2), checked on these results:", ""]
    for c in claims:
        lines.append(f"- **({c.key}) {c.verdict}.** {c.statement} {c.evidence}")
    return "\n".join(lines) + "\n"


def _esc(value: object) -> str:
    return escape(str(value), quote=True)


def claims_html(claims: Sequence[Claim]) -> str:
    """An HTML list of the claims (class ``holds`` / ``fails`` / ``unchecked`` per item)."""
    css = {True: "holds", False: "fails", None: "unchecked"}
    items = "".join(
        f'<li class="{css[c.holds]}"><b>({_esc(c.key)}) {_esc(c.verdict)}.</b> '
        f"{_esc(c.statement)} {_esc(c.evidence)}</li>" for c in claims)
    return f'<ul class="claims">{items}</ul>'
