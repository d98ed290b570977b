"""The shared report page builder (reporting/page.py): escaping, tables, figures, footer."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from attrbench.errors import AttrbenchError
from attrbench.reporting.format import figure_png
from attrbench.reporting.page import Page, flatten_config, html_table


def _figure() -> Figure:
    fig = Figure(figsize=(2.0, 1.0))
    fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    return fig


def test_page_escapes_text_and_embeds_each_figure_once(tmp_path):
    page = Page("A <b> & 'title'", subtitle="sub <i>")
    page.heading("Section <1>").text("x < y & z").note("careful: <script>")
    page.figure("curve", _figure(), "caption <em>")
    png = figure_png(_figure())
    page.figure("given", png, "bytes as given")
    html = page.render()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<title>A &lt;b&gt; &amp; &#x27;title&#x27;</title>" in html
    assert "<h1>A &lt;b&gt; &amp; &#x27;title&#x27;</h1>" in html
    assert '<p class="sub">sub &lt;i&gt;</p>' in html
    assert "<h2>Section &lt;1&gt;</h2>" in html and "<p>x &lt; y &amp; z</p>" in html
    assert "<script" not in html and "<em>" not in html and "<link" not in html
    embedded = re.findall(r'alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert [alt for alt, _ in embedded] == ["curve", "given"]
    assert base64.b64decode(embedded[1][1]) == png == page.figures["given"]
    assert base64.b64decode(embedded[0][1]) == page.figures["curve"]
    # order on the page is the order of the calls
    assert html.index("Section") < html.index("x &lt; y") < html.index('alt="curve"')

    paths = page.write_figures(tmp_path / "figures")
    assert sorted(paths) == ["curve", "given"]
    assert Image.open(paths["curve"]).size == (220, 110)  # 2 x 1 inches at dpi 110
    assert paths["given"].read_bytes() == png
    out = page.write(tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8") == html
    assert not list(tmp_path.rglob("*.tmp"))


def test_table_highlights_best_and_relabels_the_index():
    frame = pd.DataFrame({"A": ["1", "<2>"], "B": ["3", ""]},
                         index=pd.Index(["none", "fpa"], name="augmentation"))
    html = html_table(frame, best={"none": "B", "fpa": "B"}, index_labels={"none": "None"})
    assert "<th>augmentation</th><th>A</th><th>B</th>" in html
    assert '<td>None</td><td>1</td><td class="best">3</td>' in html
    assert "<td>fpa</td><td>&lt;2&gt;</td><td></td>" in html  # an empty best cell stays plain
    assert html_table(frame, index_name="row").count("<th>row</th>") == 1


def test_provenance_footer_lists_stamps_config_and_versions():
    record = {"seed": 7, "git_revision": "abc", "config": {"b": {"c": 1}, "a": "x"},
              "versions": {"torch": "2"}}
    html = Page("t").provenance(record).render()
    assert "<h2>Run configuration</h2>" in html
    assert "<dt>seed</dt><dd>7</dd><dt>git revision</dt><dd>abc</dd>" in html
    assert "<dt>created</dt><dd>unknown</dd>" in html
    assert "<dt>a</dt><dd>x</dd><dt>b.c</dt><dd>1</dd>" in html
    assert "<h3>library versions</h3>" in html and "<dt>torch</dt><dd>2</dd>" in html
    assert flatten_config({"k": [1, 2], "n": None}) == [("k", "[1, 2]"), ("n", "null")]


def test_bad_calls_say_what_to_do():
    with pytest.raises(AttrbenchError, match="non-empty title"):
        Page(" ")
    page = Page("t").figure("f", _figure(), "c")
    with pytest.raises(AttrbenchError, match="already has a figure named 'f'"):
        page.figure("f", _figure(), "c")
    with pytest.raises(AttrbenchError, match="not PNG data"):
        page.figure("g", b"GIF89a", "c")
    with pytest.raises(AttrbenchError, match="heading level must be 2, 3 or 4"):
        page.heading("x", level=1)
