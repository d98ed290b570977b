"""What goes on the BAM report page, built from the stored results of ``attrbench bam run``.

Bar charts per metric with error bars (std over trials) and the random-region baseline beside
each method, like the paper's Figs. 4 (MCS), 8 (IDR), 10 (IIR); the X^k MCS series with the
accuracy drop (Fig. 6); saliency grids of x, f_o and f_s maps (Fig. 3), with and without the
object (Fig. 7), and x vs x + delta (Fig. 9), drawn by the shared
:func:`~attrbench.reporting.map_grid.map_grid`. Figures use :class:`matplotlib.figure.Figure`
directly; the page is a :class:`~attrbench.reporting.page.Page`. Entry point:
:func:`write_bam_report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from attrbench.errors import AttrbenchError
from attrbench.reporting.map_grid import Panel, map_grid
from attrbench.reporting.page import Page

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


def saliency_grid(samples: dict[str, dict[str, torch.Tensor]], keys: tuple[str, ...],
                  image_keys: tuple[str, ...], row_labels: tuple[str, ...],
                  value_range: tuple[float, float] = (-1.0, 1.0), index: int = 0) -> Figure:
    """One image: per row, its input (``image_keys``, model space ``(C, H, W)`` shown with
    ``value_range`` = (black, white) mapped to [0, 1]) then, per method, the BAM map ``keys``
    (``(H, W)`` in [0, 1], unsigned, common scale [0, 1]) of sample ``index``."""
    low, high = value_range
    methods = list(samples)
    cells = [[Panel(((samples[methods[0]][img_key][index].numpy() - low) / (high - low)),
                    "image")]
             + [Panel(samples[m][key][index].numpy(), "unsigned", vmax=1.0) for m in methods]
             for key, img_key in zip(keys, image_keys)]
    return map_grid(cells, column_titles=["input", *methods], row_labels=list(row_labels))


def _table(metrics: pd.DataFrame) -> pd.DataFrame:
    main = metrics[metrics["metric"].isin(["MCS", "IDR", "IIR"])].copy()
    main["value"] = [(f"{m:.3f} ± {s:.3f}" if np.isfinite(s) else f"{m:.3f} (n = {n}, no std)")
                     if np.isfinite(m) else "n/a"
                     for m, s, n in zip(main["mean"], main["std"], main["eligible"])]
    table = main.pivot_table(index="method", columns=["metric", "region"], values="value",
                             aggfunc="first", sort=False)
    table.columns = [f"{m} ({r})" for m, r in table.columns]
    return table


def _require(path: Path) -> Path:
    if not path.is_file():
        raise AttrbenchError(f"{path} is missing: {path.parent} is not a finished BAM run folder; "
                             "run `attrbench bam run` first.")
    return path


def _samples(out: Path) -> dict[str, dict[str, torch.Tensor]]:
    """``samples.pt`` (tensors only, ``weights_only``), or ``{}`` if the run stored none."""
    path = out / "samples.pt"
    if not path.is_file():
        return {}
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses pickled objects; also a truncated file
        raise AttrbenchError(f"{path} is unreadable ({type(err).__name__}); rerun "
                             "`attrbench bam run` on this folder to write it again.") from None


def _value_range(run: dict[str, Any],
                 samples: dict[str, dict[str, torch.Tensor]]) -> tuple[float, float]:
    """Model-space values of black and white pixels: recorded in ``run.json``, else (folders
    from before it was) the smallest and largest stored input value."""
    stored = (run.get("config") or {}).get("input_range")
    if stored:
        return float(stored[0]), float(stored[1])
    x = torch.cat([s[k].flatten() for s in samples.values() for k in ("x_os", "x_0s", "x_0d")])
    low, high = float(x.min()), float(x.max())
    return (low, high) if high > low else (low, low + 1.0)


def write_bam_report(out: str | Path) -> Path:
    """Write ``<out>/figures/*.png`` and ``<out>/report.html`` from the stored BAM results:
    ``metrics.csv``, ``verify.csv``, ``delta.json``, and if present ``tcav_layers.csv``,
    ``samples.pt`` (saliency grids) and ``run.json`` (input range, provenance).

    Returns:
        The path of ``report.html``.

    Raises:
        AttrbenchError: a required file is missing (not a finished run folder), or
            ``samples.pt`` is unreadable.
    """
    out = Path(out)
    metrics = pd.read_csv(_require(out / "metrics.csv"))
    verify = pd.read_csv(_require(out / "verify.csv"))
    delta: dict[str, Any] = json.loads(_require(out / "delta.json").read_text())
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    samples = _samples(out)
    title = "attrbench: BAM, attribution methods vs known relative feature importance"
    page = Page(title, subtitle=(
        "Yang & Kim 2019. Mean ± std over trials of image pairs; only correctly classified inputs "
        "count. Where no more pairs are eligible than one trial holds, the value is the mean over "
        "all n eligible pairs, shown with n and without a std."))
    page.heading("Metrics").table(_table(metrics))
    page.heading("Model verification (cf. Fig. 2)")
    page.table(verify.assign(value=verify["value"].round(3)).set_index("model"))
    page.heading("Functionally similar delta (App. A)")
    page.table(pd.DataFrame([{"quantity": k, "value": v} for k, v in delta.items()])
               .set_index("quantity"))
    if (out / "tcav_layers.csv").is_file():
        page.heading("TCAV per model and layer")
        page.table(pd.read_csv(out / "tcav_layers.csv").round(3).set_index("model"))
    page.heading("Figures")
    for metric in ("MCS", "IDR", "IIR"):
        if (metrics["metric"] == metric).any():
            page.figure(metric, metric_bars(metrics, metric),
                        _TITLES[metric] + "; numbers on top are std over trials (cf. Figs. 4, 8, "
                        "10).")
    fig = commonality_figure(metrics, verify)
    if fig is not None:
        page.figure("MCS_k", fig, "MCS of each X^k model against X^1.0 on CF images (cf. Fig. 6).")
    if samples:
        value_range = _value_range(run, samples)
        page.figure("maps_models", saliency_grid(samples, ("o", "s"), ("x_os", "x_os"),
                                                 ("f_o", "f_s"), value_range),
                    "BAM maps of one X_os image on f_o and f_s (cf. Fig. 3).")
        page.figure("maps_inputs", saliency_grid(samples, ("s", "s0"), ("x_os", "x_0s"),
                                                 ("with object", "scene only"), value_range),
                    "f_s maps with and without the object (cf. Fig. 7).")
        page.figure("maps_delta", saliency_grid(samples, ("s0", "sd"), ("x_0s", "x_0d"),
                                                ("x", "x + delta"), value_range),
                    "f_s maps of x and the functionally similar x + delta (cf. Fig. 9).")
    if run:
        page.provenance(run)
    page.write_figures(out / "figures")
    return page.write(out / "report.html")
