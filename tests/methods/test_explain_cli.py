"""``attrbench explain`` end to end on a tiny checkpoint and the embedded cifar10-mini set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import attrbench.cli.explain as explain_cli  # registers the command on the app
from attrbench.cli.app import app
from attrbench.errors import AttrbenchError
from attrbench.models import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path: Path, small_cnn_model) -> Path:
    save_checkpoint(small_cnn_model, tmp_path / "ckpt")
    return tmp_path / "ckpt"


def _run(*args: str):
    return CliRunner().invoke(app, ["explain", *args], catch_exceptions=True)


def test_explain_writes_npz_png_and_provenance(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run("--checkpoint", str(checkpoint), "--dataset", "cifar10-mini", "--indices", "0:3",
                  "--method", "SG'_sum", "--method-param", "n_samples=2", "--out", str(out),
                  "--device", "cpu")
    assert result.exit_code == 0, result.output + repr(result.exception)
    with np.load(out / "maps.npz") as npz:
        assert npz["images"].shape == (3, 3, 32, 32) and npz["attributions"].shape == (3, 3, 32, 32)
        assert npz["maps"].shape == (3, 32, 32)
        expected = (npz["images"] * npz["attributions"]).sum(1)
        np.testing.assert_allclose(npz["maps"], expected, rtol=1e-5, atol=1e-7)
        assert (npz["targets"] == npz["predictions"]).all() and list(npz["positions"]) == [0, 1, 2]
        assert str(npz["variant"]) == "smoothgrad|input_sum"
    assert (out / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((out / "explain.json").read_text())
    assert record["config"]["method"] == "smoothgrad" and record["config"]["n_samples"] == 2
    assert record["config"]["noise_level"] == 0.15 and record["seed"] == 0


def test_explain_plain_method_with_labels(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "o2"
    result = _run("--checkpoint", str(checkpoint), "--dataset", "cifar10-mini", "--indices", "5,9",
                  "--method", "grad_cam", "--target", "label", "--out", str(out), "--device", "cpu")
    assert result.exit_code == 0, repr(result.exception)
    with np.load(out / "maps.npz") as npz:
        assert (npz["targets"] == npz["labels"]).all()
        np.testing.assert_allclose(npz["maps"], npz["attributions"].sum(1), rtol=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "integrated_gradient"],
         r"Unknown variant 'integrated_gradient'\. Did you mean 'integrated_gradients'"),
        (["--indices", "a:b"], r"Bad --indices 'a:b'"),
        (["--target", "truth"], r"--target must be 'predicted' or 'label'"),
        (["--method-param", "steps=0"], r"steps must be an integer >= 1"),
        (["--method-param", "integrated_gradients.steps=0"], r"steps must be an integer >= 1"),
        (["--method-param", "smoothgrad.n_samples=2"],
         r"--method-param smoothgrad\.\* does not fit --method 'integrated_gradients'"),
    ],
)
def test_explain_errors(extra: list[str], message: str, checkpoint: Path, tmp_path: Path) -> None:
    result = _run("--checkpoint", str(checkpoint), "--dataset", "cifar10-mini",
                  "--out", str(tmp_path / "x"), "--device", "cpu", *extra)
    assert isinstance(result.exception, AttrbenchError)


    assert re.search(message, str(result.exception)), str(result.exception)


def test_parse_indices() -> None:
    assert explain_cli.parse_indices("0:4") == [0, 1, 2, 3]
    assert explain_cli.parse_indices("0:10:5, 7") == [0, 5, 7]
    with pytest.raises(AttrbenchError, match=r"selects negative positions"):
        explain_cli.parse_indices("-1")
    with pytest.raises(AttrbenchError, match=r"selects no positions"):
        explain_cli.parse_indices("3:3")


def test_seed_reaches_a_stochastic_method(checkpoint: Path, tmp_path: Path) -> None:
    """--seed is SmoothGrad's seed (same maps as --method-param seed=S, other maps than seed 0)."""
    maps = {}
    for name, extra in {"flag": ["--seed", "7"], "param": ["--method-param", "seed=7"],
                        "zero": []}.items():
        result = _run("--checkpoint", str(checkpoint), "--dataset", "cifar10-mini", "--indices",
                      "0:2", "--method", "SG'_sum", "--method-param", "n_samples=2",
                      "--out", str(tmp_path / name), "--device", "cpu", *extra)
        assert result.exit_code == 0, result.output + repr(result.exception)
        with np.load(tmp_path / name / "maps.npz") as npz:
            maps[name] = npz["maps"]
    np.testing.assert_array_equal(maps["flag"], maps["param"])
    assert not np.array_equal(maps["flag"], maps["zero"])
    result = _run("--checkpoint", str(checkpoint), "--dataset", "cifar10-mini", "--indices", "0:1",
                  "--method", "VG_abs", "--seed", "3", "--out", str(tmp_path / "vg"),
                  "--device", "cpu")
    assert result.exit_code == 0, result.output + repr(result.exception)
