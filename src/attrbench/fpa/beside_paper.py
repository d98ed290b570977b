"""Our fidelity table row by row beside the FPA paper's Table D.2 (ResNet-18, CIFAR-10)."""

from __future__ import annotations

import pandas as pd

from attrbench.fpa.paper import (AUGMENT_LABELS, PAPER_CIFAR10_FIDELITY, PAPER_SOURCE_LABEL,
                                       VARIANT_ORDER, ordered)

__all__ = ["paper_comparison_markdown", "paper_comparison_rows"]


def paper_comparison_rows(table: pd.DataFrame) -> tuple[list[str], list[tuple[bool, str, list[str]]]]:
    """``(variants, rows)``: per (model, augmentation) our "A ± CI" row, then the paper's row.

    Args:
        table: :func:`attrbench.fpa.tables.fidelity_table` rows.

    Returns:
        The variant columns in the paper's order and ``(is_paper_row, label, cells)`` rows.
    """
    variants = ordered(list(table["variant"]), VARIANT_ORDER)
    rows: list[tuple[bool, str, list[str]]] = []
    for model in sorted(table["model"].unique()):
        sub = table[table["model"] == model]
        for aug in ordered(list(sub["augmentation"]), tuple(AUGMENT_LABELS)):
            ours = sub[sub["augmentation"] == aug].set_index("variant")
            n = int(ours["n"].max())
            cells = [f"{ours.at[v, 'A']:.1f} ± {ours.at[v, 'ci']:.1f}" if v in ours.index else ""
                     for v in variants]
            rows.append((False, f"ours: {AUGMENT_LABELS.get(aug, aug)} ({model}, {n} images used)",
                         cells))
            paper = PAPER_CIFAR10_FIDELITY.get(aug)
            if paper is not None:
                pcells = [f"{paper[v][0]:.1f} ± {paper[v][1]:.1f}" if v in paper else "—"
                          for v in variants]
                rows.append((True, f"{PAPER_SOURCE_LABEL}: {AUGMENT_LABELS[aug]}", pcells))
    return variants, rows


def paper_comparison_markdown(table: pd.DataFrame) -> str:
    """A Markdown section with :func:`paper_comparison_rows` (paper rows in italics)."""
    variants, rows = paper_comparison_rows(table)
    lines = ["## Beside the paper (Table D.2)", "",
             "The paper's numbers come from a ResNet-18 trained on the full CIFAR-10 training set "
             "and evaluated on all 10,000 test images; ours from the models and images named in "
             "each row. The paper reports no Rectangle table.", "",
             "| source | " + " | ".join(variants) + " |",
             "|---" * (len(variants) + 1) + "|"]
    for is_paper, label, cells in rows:
        fmt = (lambda c: f"*{c}*") if is_paper else (lambda c: c)
        lines.append("| " + " | ".join(fmt(c) if c else "" for c in [label, *cells]) + " |")
    return "\n".join(lines) + "\n"
