"""The BAM report is rebuilt from the stored files of a run folder alone (bam/report.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from attrbench.bam.report import saliency_grid, write_bam_report
from attrbench.errors import AttrbenchError


class _NotATensor:
    """A pickled object that ``torch.load(weights_only=True)`` must refuse."""


def _samples() -> dict[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return {m: {**{k: torch.rand(2, 6, 6, generator=gen) for k in ("o", "s", "s0", "sd")},
                **{k: torch.rand(2, 3, 6, 6, generator=gen) * 4 - 2
                   for k in ("x_os", "x_0s", "x_0d")}}
            for m in ("GC", "VG")}


def _run_folder(out: Path, *, samples: bool = True, input_range: bool = True) -> Path:
    out.mkdir()
    rows = [{"metric": metric, "method": method, "region": region, "k": math.nan,
             "mean": 0.5 + 0.1 * j, "std": 0.02, "trial_size": 4, "eligible": 8}
            for metric in ("MCS", "IDR", "IIR") for j, method in enumerate(("GC", "VG"))
            for region in ("object", "random")]
    pd.DataFrame(rows).to_csv(out / "metrics.csv", index=False)
    pd.DataFrame([{"model": "f_o", "test_set": "X_os", "quantity": "accuracy", "value": 0.91234}]
                 ).to_csv(out / "verify.csv", index=False)
    (out / "delta.json").write_text(json.dumps({"pairs": 3}))
    config = {"input_range": [-2.0, 2.0]} if input_range else {}
    (out / "run.json").write_text(json.dumps({"seed": 4, "config": config}))
    if samples:
        torch.save(_samples(), out / "samples.pt")
    return out


def test_report_from_stored_files_only(tmp_path: Path) -> None:
    out = _run_folder(tmp_path / "run")
    report = write_bam_report(out)
    assert report == out / "report.html"
    html = report.read_text(encoding="utf-8")
    alts = re.findall(r'<img alt="([^"]+)"', html)
    assert alts == ["MCS", "IDR", "IIR", "maps_models", "maps_inputs", "maps_delta"]
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(alts)
    assert "<td>0.500 ± 0.020</td>" in html and "<td>0.912</td>" in html  # GC MCS, accuracy
    assert "<dt>seed</dt><dd>4</dd>" in html  # provenance footer from run.json
    without = _run_folder(tmp_path / "no_samples", samples=False)
    alts = re.findall(r'<img alt="([^"]+)"', write_bam_report(without).read_text())
    assert alts == ["MCS", "IDR", "IIR"]


def test_saliency_grid_shows_inputs_in_the_stored_range_and_maps_on_0_1(tmp_path: Path) -> None:
    samples = _samples()
    fig = saliency_grid(samples, ("o", "s"), ("x_os", "x_os"), ("f_o", "f_s"), (-2.0, 2.0))
    assert len(fig.axes) == 2 * 3 and [ax.get_title() for ax in fig.axes[:3]] == [
        "input", "GC", "VG"]
    shown = fig.axes[0].images[0].get_array()
    expected = ((samples["GC"]["x_os"][0].numpy() + 2.0) / 4.0).transpose(1, 2, 0)
    np.testing.assert_allclose(shown, expected, rtol=1e-6)
    vg_s = fig.axes[5].images[0]
    np.testing.assert_allclose(vg_s.get_array(), samples["VG"]["s"][0].numpy())
    assert vg_s.get_clim() == (0.0, 1.0) and fig.axes[3].get_ylabel() == "f_s"


def test_input_range_falls_back_to_the_stored_inputs(tmp_path: Path, monkeypatch) -> None:
    import attrbench.bam.report as report

    seen = []
    real = report.saliency_grid
    monkeypatch.setattr(report, "saliency_grid",
                        lambda *a, **k: seen.append(a[4]) or real(*a, **k))
    write_bam_report(_run_folder(tmp_path / "run", input_range=False))
    x = torch.cat([s[k].flatten() for s in _samples().values() for k in ("x_os", "x_0s", "x_0d")])
    assert seen == [(float(x.min()), float(x.max()))] * 3


def test_missing_or_unsafe_files_are_refused(tmp_path: Path) -> None:
    out = _run_folder(tmp_path / "run")
    (out / "verify.csv").unlink()
    with pytest.raises(AttrbenchError, match="verify.csv is missing.*attrbench bam run"):
        write_bam_report(out)
    out = _run_folder(tmp_path / "pickled")
    torch.save({"GC": {"o": _NotATensor()}}, out / "samples.pt")  # weights_only refuses it
    with pytest.raises(AttrbenchError, match="samples.pt is unreadable"):
        write_bam_report(out)
