"""One self-contained HTML page, the frame of every benchmark's report (FPA, ROAR, robustness, BAM).

A :class:`Page` is built top to bottom: headings, paragraphs, tables from DataFrames, figures
(matplotlib :class:`~matplotlib.figure.Figure` rendered once to PNG and embedded as a base64
``data:`` URI), notes and a provenance footer. The written page is one file readable offline:
inline CSS, no scripts, fonts or links to fetch. Text given to the builder is HTML-escaped; only
:meth:`Page.html` takes markup, for fragments built with this module's functions.

Each benchmark's report module decides *what* goes on its page, from stored files only, and
exposes one entry point ``write_<bench>_report(out) -> Path``.

Example::

    page = Page("attrbench: ROAR", subtitle="Hooker et al. 2019")
    page.heading("Test accuracy").table(frame)
    page.figure("accuracy", fig, "mean ± std over repeats")
    page.provenance(json.loads((out / "config.json").read_text()))
    page.write_figures(out / "figures")
    page.write(out / "report.html")
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from attrbench.atomic import write_bytes_atomic, write_text_atomic
from attrbench.errors import AttrbenchError
from attrbench.reporting.format import figure_png

__all__ = [
    "REPORT_CSS",
    "Page",
    "definition_list",
    "escape_html",
    "figure_html",
    "flatten_config",
    "html_table",
]

REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin-top:34px;border-bottom:1px solid #ddd;
padding-bottom:4px}.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0 6px;font-size:.86em;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f3}td:first-child,th:first-child{text-align:left}
td.best{background:#ffe9a8;font-weight:700}
tr.paper td{color:#555;font-style:italic;background:#f7f7f7}
.scroll{overflow-x:auto}figure{margin:14px 0 26px}figure img{max-width:none;height:auto;
border:1px solid #e3e3e3;background:#fff}figcaption{font-size:.86em;color:#444;margin-top:4px}
.note{font-size:.9em;background:#fff;border-left:4px solid #8aa;padding:8px 14px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:.86em}
dt{font-weight:600}
dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
ul.claims{padding-left:0;list-style:none}ul.claims li{margin:6px 0;padding:6px 12px;
border-left:5px solid #bbb;background:#fff}ul.claims li.holds{border-color:#2e7d32}
ul.claims li.fails{border-color:#c62828}
"""

_PROVENANCE_STAMPS = (("seed", "seed"), ("git revision", "git_revision"), ("created", "created"),
                      ("platform", "platform"))


def escape_html(value: object) -> str:
    """``str(value)`` with ``& < > " '`` escaped, safe inside elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def html_table(frame: pd.DataFrame, best: Mapping[str, str] | None = None,
               index_name: str | None = None, *,
               index_labels: Mapping[str, str] | None = None) -> str:
    """An HTML table of ``frame``: the index is the first column, every cell escaped.

    Args:
        frame: rows x columns; cells are shown with ``str``.
        best: row label -> the column whose cell is highlighted (``td.best``; not an empty cell).
        index_name: header of the index column (default ``frame.index.name`` or empty).
        index_labels: shown name of an index label (e.g. ``{"none": "None"}``); others as is.
    """
    best = best or {}
    labels = index_labels or {}
    head = [index_name or frame.index.name or ""] + [str(c) for c in frame.columns]
    rows = ["<tr>" + "".join(f"<th>{escape_html(h)}</th>" for h in head) + "</tr>"]
    for label, values in frame.iterrows():
        cells = [f"<td>{escape_html(labels.get(str(label), label))}</td>"]
        for col, v in values.items():
            cls = ' class="best"' if best.get(str(label)) == col and v != "" else ""
            cells.append(f"<td{cls}>{escape_html(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<div class="scroll"><table>' + "".join(rows) + "</table></div>"


def figure_html(png: bytes, alt: str, caption: str) -> str:
    """A ``<figure>`` with ``png`` embedded as a base64 ``data:`` URI and an escaped caption."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><div class="scroll"><img alt="{escape_html(alt)}" '
            f'src="data:image/png;base64,{data}"></div>'
            f"<figcaption>{escape_html(caption)}</figcaption></figure>")


def flatten_config(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested mappings as sorted ``("a.b.c", value)`` pairs; non-string leaves as JSON."""
    if isinstance(obj, Mapping):
        out: list[tuple[str, str]] = []
        for k in sorted(obj, key=str):
            out += flatten_config(obj[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    return [(prefix, text)]


def definition_list(pairs: list[tuple[str, str]]) -> str:
    """``<dl>`` of escaped ``(term, value)`` pairs."""
    return "<dl>" + "".join(f"<dt>{escape_html(k)}</dt><dd>{escape_html(v)}</dd>"
                            for k, v in pairs) + "</dl>"


class Page:
    """A report page under construction; every adder returns the page, so calls chain.

    Args:
        title: ``<title>`` and ``<h1>`` (escaped).
        subtitle: a grey line under the title (escaped); or
        subtitle_html: the same as markup built by the caller (escaping its own values).

    Attributes:
        figures: name -> PNG bytes of every figure added, in order (see :meth:`write_figures`).
    """

    def __init__(self, title: str, subtitle: str = "", *, subtitle_html: str = "") -> None:
        if not str(title).strip():
            raise AttrbenchError("A report page needs a non-empty title.")
        self.title = str(title)
        self._sub = subtitle_html or (escape_html(subtitle) if subtitle else "")
        self._blocks: list[str] = []
        self.figures: dict[str, bytes] = {}

    def heading(self, text: str, level: int = 2) -> Page:
        """A section heading ``<h2>`` (or ``<h3>``, ...; ``level`` in 2-4)."""
        if level not in (2, 3, 4):
            raise AttrbenchError(f"heading level must be 2, 3 or 4 (h1 is the title); got {level}.")
        self._blocks.append(f"<h{level}>{escape_html(text)}</h{level}>")
        return self

    def text(self, text: str) -> Page:
        """A paragraph of plain text."""
        self._blocks.append(f"<p>{escape_html(text)}</p>")
        return self

    def note(self, text: str) -> Page:
        """A boxed note of plain text (``div.note``)."""
        self._blocks.append(f'<div class="note">{escape_html(text)}</div>')
        return self

    def html(self, fragment: str) -> Page:
        """Markup as is; the caller escapes every value in it (:func:`escape_html`)."""
        self._blocks.append(fragment)
        return self

    def table(self, frame: pd.DataFrame, best: Mapping[str, str] | None = None,
              index_name: str | None = None, *,
              index_labels: Mapping[str, str] | None = None) -> Page:
        """A table of ``frame`` (see :func:`html_table`)."""
        self._blocks.append(html_table(frame, best, index_name, index_labels=index_labels))
        return self

    def figure(self, name: str, figure: Figure | bytes, caption: str) -> Page:
        """A figure, embedded as PNG; ``figure`` is a matplotlib Figure (rendered here, once, at
        :data:`~attrbench.reporting.format.DPI`) or PNG bytes. ``name`` is its ``alt`` text and
        file stem in :meth:`write_figures`; names are unique within a page."""
        if name in self.figures:
            raise AttrbenchError(f"The page already has a figure named {name!r}.")
        png = figure if isinstance(figure, bytes) else figure_png(figure)
        if png[:8] != b"\x89PNG\r\n\x1a\n":
            raise AttrbenchError(f"Figure {name!r} is not PNG data.")
        self.figures[name] = png
        self._blocks.append(figure_html(png, name, caption))
        return self

    def definitions(self, pairs: list[tuple[str, str]]) -> Page:
        """A definition list of ``(term, value)`` pairs."""
        self._blocks.append(definition_list(pairs))
        return self

    def provenance(self, record: Mapping[str, Any], heading: str = "Run configuration") -> Page:
        """The footer: seed, git revision, creation time and platform of ``record`` (as written
        by :func:`attrbench.provenance.provenance`; a missing one reads "unknown"), then its
        ``config`` and ``versions`` flattened."""
        self.heading(heading)
        self.definitions([(label, str(record.get(key, "unknown")))
                          for label, key in _PROVENANCE_STAMPS])
        self.heading("config", 3).definitions(flatten_config(record.get("config") or {}))
        self.heading("library versions", 3)
        return self.definitions(flatten_config(record.get("versions") or {}))

    def render(self) -> str:
        """The whole page as one HTML string."""
        title = escape_html(self.title)
        sub = f'<p class="sub">{self._sub}</p>\n' if self._sub else ""
        body = "\n".join(self._blocks)
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
                '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f"<title>{title}</title><style>{REPORT_CSS}</style></head>\n"
                f"<body><main>\n<h1>{title}</h1>\n{sub}{body}\n</main></body></html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the page atomically to ``path`` (folders created); returns ``path``."""
        path = Path(path)
        write_text_atomic(path, self.render())
        return path

    def write_figures(self, folder: str | Path) -> dict[str, Path]:
        """Write every figure as ``<folder>/<name>.png`` atomically; returns name -> path."""
        folder = Path(folder)
        out = {}
        for name, png in self.figures.items():
            out[name] = folder / f"{name}.png"
            write_bytes_atomic(out[name], png)
        return out
