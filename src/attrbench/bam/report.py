"""BAM figures and the offline HTML page, built from the stored results of ``attrbench bam run``.

Bar charts per metric with error bars (std over trials) and the random-region baseline beside
each method, like the paper's Figs. 4 (MCS), 8 (IDR), 10 (IIR); the X^k MCS series with the
accuracy drop (Fig. 6); saliency grids of x, f_o and f_s maps (Fig. 3), with and without the
object (Fig. 7), and x vs x + delta (Fig. 9). Figures use :class:`matplotlib.figure.Figure`
directly; the page reuses the project report's CSS and table helpers.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from attrbench.atomic import write_text_atomic
from attrbench.reporting.html import REPORT_CSS, escape_html, html_table
from attrbench.reporting.plots import figure_png

_COLOURS = {"object": "#1f77b4", "random": "#f2b134"}
_TITLES = {"MCS": "MCS between f_o and f_s (higher is better)",
           "IDR": "IDR on (X_os, X_0s) with f_s (higher is better; baseline ~ 50 %)",
           "IIR": "IIR with t = 10 % (higher is better)"}


def metric_bars(metrics: pd.DataFrame, metric: str) -> Figure:
    """Bars of ``metric`` per method: object region (blue) and random region (yellow), +- std."""
    rows = metrics[(metrics["metric"] == metric)]
    methods = list(dict.fromkeys(rows["method"]))
    fig = Figure(figsize=(1.0 + 0.9 * len(methods), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.4
    for j, region in enumerate(("object", "random")):
        part = rows[rows["region"] == region].set_index("method").reindex(methods)
        pos = np.arange(len(methods)) + (j - 0.5) * width
        # no error bar where the pool was no larger than a trial (std NaN, see trial_statistics)
        ax.bar(pos, part["mean"], width, yerr=part["std"].fillna(0.0), color=_COLOURS[region],
               capsize=3,
               label="object region" if region == "object" else "random region (baseline)")
        for p, m, s in zip(pos, part["mean"], part["std"]):
            if np.isfinite(m) and np.isfinite(s):
                ax.text(p, m + (s if m >= 0 else -s), f"{s:.2f}", ha="center",
                        va="bottom" if m >= 0 else "top", fontsize=7)
    ax.set_xticks(np.arange(len(methods)), methods)
    ax.axhline(0, color="#444", lw=0.6)
    ax.set_title(_TITLES.get(metric, metric), fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def commonality_figure(metrics: pd.DataFrame, verify: pd.DataFrame) -> Figure | None:
    """MCS of X^k models vs X^{1.0} per method, with the accuracy drop (Fig. 6, top)."""
    rows = metrics[metrics["metric"] == "MCS_k"]
    if rows.empty:
        return None
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for method, part in rows.groupby("method", sort=False):
        ax.errorbar(part["k"], part["mean"], yerr=part["std"], marker="o", ms=3, capsize=2,
                    label=str(method))
    drop = verify[verify["quantity"] == "accuracy_drop"].copy()
    if not drop.empty:
        drop["k"] = drop["model"].str[3:].astype(float)
        drop = drop[drop["k"] < 1.0]
        ax.plot(drop["k"], drop["value"], "k--", label="accuracy drop without CF")
    ax.set_xlabel("commonality k")
    ax.set_ylabel("MCS vs k = 1.0")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def _image(x: torch.Tensor, low: float, high: float) -> np.ndarray:
    return ((x.permute(1, 2, 0).numpy() - low) / (high - low)).clip(0, 1)


def saliency_grid(samples: dict[str, dict[str, torch.Tensor]], keys: tuple[str, ...],
                  image_keys: tuple[str, ...], row_labels: tuple[str, ...],
                  value_range: tuple[float, float] = (-1.0, 1.0), index: int = 0) -> Figure:
    """One image: its inputs (``image_keys``) then, per method, the BAM maps ``keys`` as rows."""
    methods = list(samples)
    cols = 1 + len(methods)
    fig = Figure(figsize=(1.25 * cols, 1.3 * len(keys) + 0.3))
    axes = fig.subplots(len(keys), cols, squeeze=False)
    first = samples[methods[0]]
    for r, (key, img_key, label) in enumerate(zip(keys, image_keys, row_labels)):
        axes[r][0].imshow(_image(first[img_key][index], *value_range))
        axes[r][0].set_ylabel(label, fontsize=7)
        for c, method in enumerate(methods, start=1):
            axes[r][c].imshow(samples[method][key][index].numpy(), cmap="gray", vmin=0, vmax=1)
            if r == 0:
                axes[r][c].set_title(method, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.01, top=0.9, wspace=0.05, hspace=0.08)
    return fig


def _table(metrics: pd.DataFrame) -> pd.DataFrame:
    main = metrics[metrics["metric"].isin(["MCS", "IDR", "IIR"])].copy()
    main["value"] = [(f"{m:.3f} ± {s:.3f}" if np.isfinite(s) else f"{m:.3f} (n = {n}, no std)")
                     if np.isfinite(m) else "n/a"
                     for m, s, n in zip(main["mean"], main["std"], main["eligible"])]
    table = main.pivot_table(index="method", columns=["metric", "region"], values="value",
                             aggfunc="first", sort=False)
    table.columns = [f"{m} ({r})" for m, r in table.columns]
    return table


def write_bam_report(out: str | Path, samples: dict[str, dict[str, torch.Tensor]] | None = None,
                     value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Write ``<out>/figures/*.png`` and ``<out>/report.html`` from the stored BAM results."""
    out = Path(out)
    metrics = pd.read_csv(out / "metrics.csv")
    verify = pd.read_csv(out / "verify.csv")
    delta: dict[str, Any] = json.loads((out / "delta.json").read_text())
    figures: dict[str, tuple[Figure, str]] = {}
    for metric in ("MCS", "IDR", "IIR"):
        if (metrics["metric"] == metric).any():
            figures[metric] = (metric_bars(metrics, metric), _TITLES[metric]
                               + "; numbers on top are std over trials (cf. Figs. 4, 8, 10).")
    fig = commonality_figure(metrics, verify)
    if fig is not None:
        figures["MCS_k"] = (fig, "MCS of each X^k model against X^1.0 on CF images (cf. Fig. 6).")
    if samples:
        figures["maps_models"] = (saliency_grid(samples, ("o", "s"), ("x_os", "x_os"),
                                                ("f_o", "f_s"), value_range),
                                  "BAM maps of one X_os image on f_o and f_s (cf. Fig. 3).")
        figures["maps_inputs"] = (saliency_grid(samples, ("s", "s0"), ("x_os", "x_0s"),
                                                ("with object", "scene only"), value_range),
                                  "f_s maps with and without the object (cf. Fig. 7).")
        figures["maps_delta"] = (saliency_grid(samples, ("s0", "sd"), ("x_0s", "x_0d"),
                                               ("x", "x + delta"), value_range),
                                 "f_s maps of x and the functionally similar x + delta (cf. "
                                 "Fig. 9).")
    (out / "figures").mkdir(exist_ok=True)
    parts = []
    for name, (fig, caption) in figures.items():
        png = figure_png(fig)
        (out / "figures" / f"{name}.png").write_bytes(png)
        parts.append(f'<figure><div class="scroll"><img alt="{escape_html(name)}" '
                     f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></div>'
                     f"<figcaption>{escape_html(caption)}</figcaption></figure>")
    verify_table = verify.assign(value=verify["value"].round(3)).set_index("model")
    delta_rows = pd.DataFrame([{"quantity": k, "value": v} for k, v in delta.items()])
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>attrbench: BAM</title>
<style>{REPORT_CSS}</style></head><body><main>
<h1>BAM: attribution methods vs known relative feature importance</h1>
<p class="sub">Yang &amp; Kim 2019. Mean ± std over trials of image pairs; only correctly
classified inputs count. Where no more pairs are eligible than one trial holds, the value is the
mean over all n eligible pairs, shown with n and without a std.</p>
<h2>Metrics</h2>{html_table(_table(metrics))}
<h2>Model verification (cf. Fig. 2)</h2>{html_table(verify_table)}
<h2>Functionally similar delta (App. A)</h2>{html_table(delta_rows.set_index("quantity"))}
<h2>Figures</h2>{"".join(parts)}
</main></body></html>
"""
    write_text_atomic(out / "report.html", html)
    return out / "report.html"
