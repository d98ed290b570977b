"""Figure and number formatting shared by the four benchmarks' reports.

Figures are :class:`matplotlib.figure.Figure` objects made directly (no ``pyplot``), rendered with
the Agg canvas at :data:`DPI`; :func:`margins` lays out a grid without constrained layout. The
number formats are those of the reports' comparison tables: p-values (:func:`format_p`) and a
paired difference with its confidence interval (:func:`format_cell`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from attrbench.atomic import write_bytes_atomic

__all__ = ["DPI", "figure_png", "format_cell", "format_p", "format_signed", "margins",
           "save_figure"]

DPI = 110


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Atomically write ``fig`` as a PNG file and return its path."""
    path = Path(path)
    write_bytes_atomic(path, figure_png(fig, dpi))
    return path


def margins(fig: Figure, *, left: float, right: float, bottom: float, top: float,
            wspace: float = 0.2, hspace: float = 0.2) -> dict[str, float]:
    """Subplot margins given in inches, as ``gridspec_kw`` fractions of ``fig``'s size.

    A fixed layout instead of matplotlib's constrained layout, which doubles the rendering time
    of the 20-panel grid; ``wspace`` / ``hspace`` are fractions of the mean axes width / height.
    """
    width, height = fig.get_size_inches()
    return {"left": left / width, "right": 1.0 - right / width, "bottom": bottom / height,
            "top": 1.0 - top / height, "wspace": wspace, "hspace": hspace}


def format_signed(value: object, digits: int = 1) -> str:
    """``value`` rounded to ``digits`` with its sign always shown (``-0`` shown as ``+0``).

    >>> format_signed(1.25), format_signed(-0.04), format_signed(3, 2)
    ('+1.2', '+0.0', '+3.00')
    """
    v = round(float(value), digits) + 0.0  # type: ignore[arg-type]
    return f"{v:+.{digits}f}"


def format_p(value: object) -> str:
    """A p-value to two significant digits, in scientific notation below 0.001; NaN is ``n/a``.

    >>> format_p(0.04321), format_p(0.00012), format_p(float("nan"))
    ('0.043', '1.2e-04', 'n/a')
    """
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v):
        return "n/a"
    return f"{v:.2g}" if v >= 1e-3 else f"{v:.1e}"


def format_cell(row: Mapping[str, object], digits: int) -> str:
    """One paired comparison as ``diff [ci_low, ci_high]``, `` *`` when ``significant``.

    ``row`` holds ``diff``, ``ci_low``, ``ci_high``, ``significant`` and ``note``; a row with a
    note (no test was possible, e.g. identical values) is shown as ``=``.

    >>> format_cell({"diff": 2.5, "ci_low": 1.0, "ci_high": 4.0, "significant": True,
    ...              "note": ""}, 1)
    '+2.5 [+1.0, +4.0] *'
    """
    if row["note"]:
        return "="
    star = " *" if row["significant"] else ""
    return (f"{format_signed(row['diff'], digits)} [{format_signed(row['ci_low'], digits)}, "
            f"{format_signed(row['ci_high'], digits)}]{star}")
