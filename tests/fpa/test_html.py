"""build_all and the self-contained HTML report."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from attrbench.errors import AttrbenchError
from attrbench.fpa.folder import load_results, load_samples
from attrbench.fpa.paper import PAPER_SOURCE_LABEL
from attrbench.fpa.report import build_all, write_fpa_report

# Anything a browser would fetch: src/href/url()/@import/srcset pointing at a network location.
EXTERNAL = re.compile(
    r"""(?:src|href|srcset|action|data)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""", re.IGNORECASE)


def test_build_all_writes_everything(results_root):
    out = build_all(results_root, title="Synthetic check")
    expected = {"fidelity_md", "fidelity_csv", "fidelity_long_csv", "curves", "fidelity_area",
                "lif_scores", "heatmaps", "report",
                # paired comparisons (tests/fpa/test_comparisons.py)
                "per_image_csv", "comparisons_csv", "model_comparisons_csv", "cd_none", "cd_fpa",
                "cd_rectangle"}
    assert set(out) == expected
    for path in out.values():
        assert path.is_file() and path.parent.is_relative_to(results_root)
    for name in ("curves", "fidelity_area", "lif_scores", "heatmaps"):
        assert out[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "**50.00 ± 0.00**" in out["fidelity_md"].read_text(encoding="utf-8")
    assert out["fidelity_csv"].read_text(encoding="utf-8").splitlines()[0] == (
        "augmentation,Random,IG_sum,VG_abs,accuracy")

    page = out["report"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Synthetic check</title>" in page
    assert not EXTERNAL.search(page)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4 + 3  # + one CD diagram per augmentation
    assert out["curves"].read_bytes() in [base64.b64decode(i) for i in images]
    assert '<td class="best">50.00 ± 0.00</td>' in page  # best of the FPA row highlighted
    assert PAPER_SOURCE_LABEL in page and "59.6 ± 0.7" in page  # paper CIFAR IG_sum with FPA
    assert "61.0 %" in page and "93.0 %" in page  # our and the paper's accuracy
    prov = json.loads((results_root / "config.json").read_text())
    assert f"seed {prov['seed']}" in page and prov["git_revision"] in page
    assert "1 of 6 images excluded" in page


def test_write_fpa_report_without_samples(tmp_path, folder_writer):
    root = folder_writer(tmp_path / "r", samples=False)
    path = write_fpa_report(root, title="no samples", ci="paired")
    page = path.read_text(encoding="utf-8")
    assert path == root / "report.html"
    assert len(re.findall(r"data:image/png;base64,", page)) == 3 + 3  # no heatmaps; 3 CD
    assert "<code>paired</code>" in page
    assert sorted(p.name for p in (root / "figures").glob("*.png")) == [
        "cd_fpa.png", "cd_none.png", "cd_rectangle.png", "curves.png", "fidelity_area.png",
        "lif_scores.png"]


def test_bad_folders(tmp_path):
    with pytest.raises(AttrbenchError, match="does not exist; run `attrbench evaluate`"):
        build_all(tmp_path / "nope")
    with pytest.raises(AttrbenchError, match="not an attrbench results folder"):
        write_fpa_report(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"seed": 0, "config": {"a": 1}}))
    with pytest.raises(AttrbenchError, match="holds no perturbation curves yet"):
        build_all(tmp_path)
    assert not (tmp_path / "shards").exists()  # reading writes nothing
    (tmp_path / "shards").mkdir()
    with pytest.raises(AttrbenchError, match="holds no perturbation curves yet"):
        load_results(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(AttrbenchError, match="Cannot read .*config.json"):
        load_results(tmp_path)


def test_bad_sample_files(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 3, 4, 4), np.float32), labels=np.zeros(2))
    with pytest.raises(AttrbenchError, match="lacks image_ids"):
        load_samples(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", images=np.zeros((2, 3, 4, 4), np.float32), labels=np.zeros(2),
             image_ids=np.arange(2), map__IG_sum=np.zeros((2, 5, 5), np.float32))
    with pytest.raises(AttrbenchError, match=r"map__IG_sum has shape \(2, 5, 5\)"):
        load_samples(tmp_path / "b.npz")
    (tmp_path / "c.npz").write_bytes(b"garbage")
    with pytest.raises(AttrbenchError, match="Cannot read sample file"):
        load_samples(tmp_path / "c.npz")
