"""The four HTML reports (FPA, BAM, ROAR and IteROAR, robustness) opened in a real browser
(issue 12 item 5).

Each report is built from a small synthetic results folder, then loaded from ``file://`` in
headless Chromium, driven over the Chrome DevTools protocol on a pipe
(``--remote-debugging-pipe``: NUL-terminated JSON on file descriptors 3 and 4, no Python
dependency). Checked per page: no console error, uncaught exception or failed load; no request
other than ``data:`` / ``file:`` (the pages are self-contained); every ``<img>`` decodes
(``img.decode()`` resolves and ``naturalWidth > 0``) to the PNG size embedded in the page; every
``<table>`` of the source reaches the DOM with a header and body rows; the title and first
heading. A full-page screenshot is saved beside the report as ``report.png``.

Skipped, with the reason, where no Chromium binary is found (Debian: ``apt-get install
chromium``; or point ``ATTRBENCH_CHROMIUM`` at a Chrome/Chromium binary).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from attrbench.bam.report import write_bam_report
from attrbench.fpa.report import write_fpa_report
from attrbench.metrics.functional.overlap import overlap_summary
from attrbench.reporting.format import figure_png
from attrbench.results import ResultStore
from attrbench.roar.report import write_roar_report
from attrbench.roar.store import slug, write_masks
from attrbench.robustness.report import write_robustness_report
from attrbench.robustness.results import ROBUSTNESS_ROWS

from ..fpa.conftest import write_results_folder  # the synthetic FPA folder of tests/fpa

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run",
          "--disable-default-apps", "--disable-extensions", "--mute-audio",
          "--hide-scrollbars", "--window-size=1280,1024", "--remote-debugging-pipe")
# argv: READ_FD WRITE_FD BINARY ARGS...; lift both above 4 first so neither is overwritten.
_TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])\n"
    "for fd in sys.argv[1:3]: os.close(int(fd))\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n")
_TIMEOUT = 60.0  # seconds for any one protocol answer; only a hang ever waits this long


def find_chromium() -> str | None:
    """Path of a Chrome/Chromium binary: ``$ATTRBENCH_CHROMIUM``, else the first on ``PATH``."""
    env = os.environ.get("ATTRBENCH_CHROMIUM")
    if env:
        return shutil.which(env)  # an absolute path (exec'd directly), or None
    return next((p for p in map(shutil.which, _CANDIDATES) if p), None)


class Browser:
    """Headless Chromium spoken to over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, binary: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="attrbench-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        # A tiny trampoline puts the pipe ends on fds 3 and 4 and execs Chromium (no preexec_fn,
        # which is unsafe once torch has started threads).
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_child_r), str(from_child_w), binary,
             *_FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer over the DevTools pipe in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe (exit {self._proc.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and return its ``result``; events meanwhile go to :attr:`events`."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + _TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        """Block until the event ``method`` of ``session`` arrives (or was already received)."""
        deadline = time.monotonic() + _TIMEOUT
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(self._read_message(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self._profile.cleanup()


_PAGE_FACTS = """(async () => {
  const imgs = Array.from(document.images);
  const decoded = await Promise.all(imgs.map(i => i.decode().then(() => true, () => false)));
  return JSON.stringify({
    title: document.title,
    h1: document.querySelector("h1") ? document.querySelector("h1").textContent : null,
    images: imgs.map((i, k) => ({alt: i.alt, decoded: decoded[k], complete: i.complete,
                                 w: i.naturalWidth, h: i.naturalHeight})),
    tables: Array.from(document.querySelectorAll("table")).map(t => ({
      head: t.querySelectorAll("thead th, tr:first-child th").length,
      rows: t.querySelectorAll("tbody tr").length,
      cells: t.querySelectorAll("td").length})),
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  });
})()"""


def open_report(browser: Browser, report: Path) -> dict[str, Any]:
    """Load ``report`` in a fresh tab; return its facts, errors and requests; save report.png."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    start = len(browser.events)
    browser.send("Page.navigate", {"url": report.resolve().as_uri()}, session=session)
    browser.wait_event("Page.loadEventFired", session)
    facts = json.loads(browser.send("Runtime.evaluate", {
        "expression": _PAGE_FACTS, "awaitPromise": True, "returnByValue": True},
        session=session)["result"]["value"])
    width, height = max(facts["width"], 1280), max(facts["height"], 1024)
    shot = browser.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
        session=session)
    (report.parent / "report.png").write_bytes(base64.b64decode(shot["data"]))
    ours = [e for e in browser.events[start:] if e.get("sessionId") == session]
    errors = []
    for e in ours:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif e["method"] == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description")
                          or details.get("text", "uncaught exception"))
        elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(p["entry"]["text"])
        elif e["method"] == "Network.loadingFailed":
            errors.append(f"load failed: {p.get('errorText')}")
    facts["errors"] = errors
    facts["requests"] = [e["params"]["request"]["url"] for e in ours
                         if e["method"] == "Network.requestWillBeSent"]
    browser.send("Target.closeTarget", {"targetId": target})
    return facts


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_page(report: Path, facts: dict[str, Any], *, min_tables: int) -> None:
    """All the browser-side checks of one report (see the module docstring)."""
    source = report.read_text(encoding="utf-8")
    assert facts["errors"] == [], facts["errors"]
    assert all(u.startswith(("data:", "file:")) for u in facts["requests"]), facts["requests"]
    title = re.search(r"<title>(.*?)</title>", source, re.S)
    assert title and facts["title"] and facts["title"] in source
    assert facts["h1"]
    # every image: decoded, to the exact size of the PNG embedded in the source
    embedded = [_png_size(base64.b64decode(s))
                for s in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', source)]
    assert embedded and len(facts["images"]) == len(embedded)
    for img, (w, h) in zip(facts["images"], embedded):
        assert img["decoded"] and img["complete"], img
        assert (img["w"], img["h"]) == (w, h) and w > 0 and h > 0, img
    # every table of the source reaches the DOM, each with a header row and filled cells
    assert len(facts["tables"]) == source.count("<table") >= min_tables
    for table in facts["tables"]:
        assert table["head"] > 0 and table["rows"] > 0 and table["cells"] > 0, table
    shot = (report.parent / "report.png").read_bytes()
    assert _png_size(shot)[0] >= 1280 and _png_size(shot)[1] >= 1024


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        env = os.environ.get("ATTRBENCH_CHROMIUM")
        pytest.skip(f"ATTRBENCH_CHROMIUM={env} is not an executable" if env else
                    "Chromium not found: install Debian's `chromium` package "
                    "(apt-get install chromium) or set ATTRBENCH_CHROMIUM to a Chrome binary")
    b = Browser(binary)
    try:
        b.send("Browser.getVersion")
        yield b
    finally:
        b.close()


# ---------------------------------------------------------------------------------- the reports


def _fpa_report(tmp_path: Path) -> Path:
    root = write_results_folder(tmp_path / "fpa")
    return write_fpa_report(root, title="FPA in a browser")


def _bam_report(tmp_path: Path) -> Path:
    out = tmp_path / "bam"
    out.mkdir()
    rows = []
    for metric in ("MCS", "IDR", "IIR"):
        for j, method in enumerate(("GC", "VG", "random")):
            for region in ("object", "random"):
                rows.append({"metric": metric, "method": method, "region": region, "k": math.nan,
                             "mean": 0.2 + 0.1 * j, "std": 0.05 if method != "VG" else math.nan,
                             "trial_size": 5, "eligible": 10})
    for k in (0.2, 0.6, 1.0):
        rows.append({"metric": "MCS_k", "method": "GC", "region": "object", "k": k,
                     "mean": 1.0 - k / 2, "std": 0.01, "trial_size": 5, "eligible": 10})
    pd.DataFrame(rows).to_csv(out / "metrics.csv", index=False)
    pd.DataFrame([
        {"model": "f_o", "test_set": "X_os", "quantity": "accuracy", "value": 0.9},
        {"model": "f_s", "test_set": "X_os", "quantity": "accuracy", "value": 0.8},
        {"model": "f_k0.2", "test_set": "X_os", "quantity": "accuracy_drop", "value": 0.3},
        {"model": "f_k0.6", "test_set": "X_os", "quantity": "accuracy_drop", "value": 0.1},
    ]).to_csv(out / "verify.csv", index=False)
    (out / "delta.json").write_text(json.dumps({"pairs": 10, "excluded": 1, "max_change": 0.04}))
    gen = torch.Generator().manual_seed(0)
    samples = {m: {**{k: torch.rand(2, 8, 8, generator=gen) for k in ("o", "s", "s0", "sd")},
                   **{k: torch.rand(2, 3, 8, 8, generator=gen) * 2 - 1
                      for k in ("x_os", "x_0s", "x_0d")}}
               for m in ("GC", "VG")}
    torch.save(samples, out / "samples.pt")
    pd.DataFrame([{"model": m, "layer": layer, "concept": 0.7, "random": 0.5, "p": 0.004,
                   "passed": True} for m in ("f_o", "f_s") for layer in ("block1", "fc")]
                 ).to_csv(out / "tcav_layers.csv", index=False)
    (out / "run.json").write_text(json.dumps({"seed": 0, "config": {"input_range": [-1.0, 1.0]},
                                              "versions": {"torch": "x"}}))
    return write_bam_report(out)


def _roar_report(tmp_path: Path) -> Path:
    root = tmp_path / "roar"
    store = ResultStore(root, {"test": 1}, seed=0).table("accuracy")
    cells = {("none", 0.0): [0.9, 0.88, 0.91], ("random", 50.0): [0.40, 0.41, 0.42],
             ("grad", 50.0): [0.30, 0.31, 0.29], ("random", 90.0): [0.2, 0.22, 0.21],
             ("grad", 90.0): [0.15, 0.12, 0.14]}
    for (v, t), accs in cells.items():
        for r, a in enumerate(accs):
            store.write(f"{v}_t{t:g}_r{r}", [{
                "benchmark": "roar", "variant": v, "threshold": t, "repeat": r,
                "test_accuracy": a}])
    return write_roar_report(root)


def _iteroar_report(tmp_path: Path) -> Path:
    """An IteROAR folder: accuracy per iteration, overlap rows, stored mask chains, leakage."""
    root = tmp_path / "iteroar"
    store = ResultStore(root, {"test": 2}, seed=0)
    accuracy, overlap = store.table("accuracy"), store.table("overlap")
    gen = torch.Generator().manual_seed(0)
    for r in range(2):
        accuracy.write(f"none_r{r}_i0", [{"benchmark": "iteroar", "variant": "none", "repeat": r,
                                          "iteration": 0, "test_accuracy": 0.9 - 0.01 * r}])
        for v, drop in (("grad", 0.2), ("random", 0.05)):
            chain = []
            for i in (1, 2):
                accuracy.write(f"{slug(v)}_r{r}_i{i}", [{
                    "benchmark": "iteroar", "variant": v, "repeat": r, "iteration": i,
                    "test_accuracy": 0.9 - drop * i - 0.01 * r}])
                scores = torch.rand(3, 6, 6, generator=gen).flatten(1)
                test = torch.zeros_like(scores, dtype=torch.bool)
                test.scatter_(1, scores.topk(9, dim=1).indices, True)
                chain.append(test.view(3, 6, 6))
                write_masks(store, f"{slug(v)}_r{r}_i{i - 1}", train=chain[-1], test=chain[-1])
            overlap.write(f"{slug(v)}_r{r}", [{"variant": v, "repeat": r,
                                               **overlap_summary(torch.stack(chain))}])
    store.table("leakage").write("all", [{"variant": v, "leakage_accuracy": a, "chance": 0.1}
                                         for v, a in (("grad", 0.31), ("random", 0.1))])
    return write_roar_report(root)


def _robustness_report(tmp_path: Path) -> Path:
    root = tmp_path / "robustness"
    frames = []
    for attack, eps, values in (("random_sign", 0.1, [0.9] * 6),
                                ("topk", 0.1, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
                                ("random_sign", 0.2, [0.8] * 6),
                                ("topk", 0.2, [0.05, 0.1, 0.2, 0.3, 0.2, 0.1])):
        for measure in ("topk_intersection", "kendall"):
            frames.append(pd.DataFrame({
                "run": "r", "model": "m", "method": "vanilla_gradient", "attack": attack,
                "eps": eps, "image_id": np.arange(6), "label": 0, "target": 0,
                "kept_label": True, "restart": 1, "iteration": 1, "measure": measure,
                "value": values}))
    ResultStore(root, {"test": 1}, 0).table(ROBUSTNESS_ROWS).write(
        "a", pd.concat(frames, ignore_index=True))
    return write_robustness_report(root, min_images=3)


def test_the_checks_catch_a_broken_page(browser: Browser, tmp_path: Path) -> None:
    png = figure_png(Figure(figsize=(1, 1)))
    good = base64.b64encode(png).decode("ascii")
    bad = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
                           b"\x00\x00\x00\x10" + b"\x00" * 40).decode("ascii")  # header, no data
    report = tmp_path / "report.html"
    report.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body><h1>broken</h1>"
        f'<img alt="good" src="data:image/png;base64,{good}">'
        f'<img alt="bad" src="data:image/png;base64,{bad}">'
        "<script>console.error('boom'); undefinedFunction();</script>"
        "<table></table></body></html>", encoding="utf-8")
    facts = open_report(browser, report)
    assert facts["title"] == "broken" and facts["h1"] == "broken"
    assert [(i["alt"], i["decoded"], i["w"]) for i in facts["images"]] == [
        ("good", True, _png_size(png)[0]), ("bad", False, 0)]
    assert facts["errors"][0] == "boom" and "undefinedFunction" in " ".join(facts["errors"])
    assert facts["tables"] == [{"head": 0, "rows": 0, "cells": 0}]
    with pytest.raises(AssertionError, match="boom"):
        check_page(report, facts, min_tables=1)
    facts["errors"] = []
    with pytest.raises(AssertionError, match="'bad'"):
        check_page(report, facts, min_tables=1)


def test_fpa_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    report = _fpa_report(tmp_path)
    facts = open_report(browser, report)
    check_page(report, facts, min_tables=3)
    assert len(facts["images"]) == 7  # curves, area, LIF scores, heatmaps + 3 CD diagrams


def test_bam_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    report = _bam_report(tmp_path)
    facts = open_report(browser, report)
    check_page(report, facts, min_tables=4)
    assert [i["alt"] for i in facts["images"]] == [
        "MCS", "IDR", "IIR", "MCS_k", "maps_models", "maps_inputs", "maps_delta"]


def test_roar_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    report = _roar_report(tmp_path)
    facts = open_report(browser, report)
    check_page(report, facts, min_tables=2)
    assert [i["alt"] for i in facts["images"]] == ["accuracy"]


def test_iteroar_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    report = _iteroar_report(tmp_path)
    facts = open_report(browser, report)
    check_page(report, facts, min_tables=4)  # accuracy, vs random, overlap, leakage
    assert [i["alt"] for i in facts["images"]] == [
        "accuracy", "overlap", "pairwise_grad", "masks_grad", "pairwise_random", "masks_random"]


def test_robustness_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    report = _robustness_report(tmp_path)
    facts = open_report(browser, report)
    check_page(report, facts, min_tables=3)
    assert [i["alt"] for i in facts["images"]] == ["robustness_vanilla_gradient"]
