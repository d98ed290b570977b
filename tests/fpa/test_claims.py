"""Claims (a)-(d) of the FPA paper: both outcomes on constructed tables, never hard-coded."""

from __future__ import annotations

import pandas as pd

from attrbench.fpa.claims import check_claims, claims_html, claims_markdown
from attrbench.fpa.paper import PAPER_CIFAR10_FIDELITY


def _table(cells: dict[str, dict[str, tuple[float, float]]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": "m", "augmentation": aug, "variant": v, "A": a, "ci": ci}
                         for aug, row in cells.items() for v, (a, ci) in row.items()])


def _verdicts(table: pd.DataFrame, paired: pd.DataFrame | None = None) -> dict[str, bool | None]:
    return {c.key: c.holds for c in check_claims(table, paired)}


def test_all_four_claims_hold_on_the_papers_own_table() -> None:
    assert _verdicts(_table(PAPER_CIFAR10_FIDELITY)) == {"a": True, "b": True, "c": True,
                                                         "d": True}


def test_each_claim_fails_where_the_numbers_say_so() -> None:
    cells = {aug: dict(row) for aug, row in PAPER_CIFAR10_FIDELITY.items()}
    cells["fpa"]["IG_sum"] = (15.0, 0.8)        # (a): no rise beyond the CI
    cells["none"]["Random"] = (3.0, 0.7)        # (b): Random's CI excludes 0
    cells["fpa"]["VG'_sum"] = (30.0, 0.7)       # (c): below SQ-SG_sum (41.1)
    cells["none"]["VG_abs"] = (30.0, 0.6)       # (d): VG_abs best unsigned of "none"
    verdicts = _verdicts(_table(cells))
    assert verdicts == {"a": False, "b": False, "c": False, "d": False}


def test_claim_a_uses_the_paired_interval_when_given() -> None:
    table = _table(PAPER_CIFAR10_FIDELITY)
    paired = pd.DataFrame([
        {"variant": "IG_sum", "diff": 45.6, "ci_low": 44.0, "ci_high": 47.0, "n": 100},
        {"variant": "VG'_sum", "diff": 39.0, "ci_low": 37.0, "ci_high": 41.0, "n": 100},
        {"variant": "SG'_sum", "diff": 45.9, "ci_low": -0.5, "ci_high": 90.0, "n": 100}])
    claims = check_claims(table, paired)
    assert claims[0].holds is False and "paired difference" in claims[0].evidence
    paired.loc[2, "ci_low"] = 0.2
    assert check_claims(table, paired)[0].holds is True


def test_missing_models_or_variants_are_not_checked() -> None:
    only_none = _table({"none": PAPER_CIFAR10_FIDELITY["none"]})
    verdicts = _verdicts(only_none)
    assert verdicts["a"] is None and verdicts["c"] is None
    assert verdicts["b"] is True and verdicts["d"] is True


def test_renderings_state_every_verdict() -> None:
    claims = check_claims(_table(PAPER_CIFAR10_FIDELITY))
    md, page = claims_markdown(claims), claims_html(claims)
    assert md.count("holds.") == 4 and "## Claims" in md
    assert page.count('class="holds"') == 4 and "SG&#x27;_sum" in page


def test_report_and_markdown_carry_claims_and_the_paper_table(results_root) -> None:
    from attrbench.fpa.report import build_all

    out = build_all(results_root, title="Synthetic check")
    md = out["fidelity_md"].read_text(encoding="utf-8")
    page = out["report"].read_text(encoding="utf-8")
    assert "## Claims: tiny" in md and md.count("- **(") == 4
    assert "## Beside the paper (Table D.2)" in md and "*59.6 ± 0.7*" in md
    assert "<h2>Claims</h2>" in page and page.count('<ul class="claims">') == 1
