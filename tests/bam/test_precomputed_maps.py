"""BAM's MCS and IDR from precomputed maps equal those of the method; clear errors otherwise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from attrbench.bam.attributions import bam_explainer
from attrbench.bam.evaluate import BamRunConfig, run_bam_metrics
from attrbench.bam.manifest import BamFolder, bam_mini_path
from attrbench.bam.models import predict, stacked
from attrbench.errors import AttrbenchError

CFG = BamRunConfig(methods=("VG",), delta_steps=2, n_trials=3, trial_size=6, num_images=8,
                   tcav=False, commonality=False)


@pytest.fixture(scope="module")
def setup(make_small_cnn):
    folder = BamFolder(bam_mini_path())
    models = {"f_o": make_small_cnn(0, num_classes=5), "f_s": make_small_cnn(1, num_classes=5)}
    return folder, models


def _raw(model, x):
    """VG of every image for the class the model predicts: what run_bam_metrics explains."""
    return bam_explainer("vanilla_gradient", model)(x, predict(model, x).argmax(1)).detach()


def test_precomputed_maps_give_the_methods_mcs_and_idr(setup):
    folder, models = setup
    x_os = stacked(folder.dataset("scene", CFG.split))  # every image: rows = dataset positions
    x_0s = stacked(folder.dataset("scene_only", CFG.split))
    given = {"VG": {"fo_xos": _raw(models["f_o"], x_os), "fs_xos": _raw(models["f_s"], x_os),
                    "fs_x0s": _raw(models["f_s"], x_0s).numpy()}}
    ref = run_bam_metrics(folder, models, CFG)
    own = run_bam_metrics(folder, models, CFG, maps=given)
    np.testing.assert_array_equal(own.metrics["mean"].to_numpy(), ref.metrics["mean"].to_numpy())
    np.testing.assert_array_equal(own.per_image["g_fs_x0s"].to_numpy(),
                                  ref.per_image["g_fs_x0s"].to_numpy())
    # other maps change MCS (IIR still re-explains x + delta with the method: unchanged)
    flipped = {"VG": {**given["VG"], "fo_xos": given["VG"]["fo_xos"].flip(-1)}}
    other = run_bam_metrics(folder, models, CFG, maps=flipped).metrics.set_index(
        ["metric", "region"])["mean"]
    base = ref.metrics.set_index(["metric", "region"])["mean"]
    assert other[("MCS", "object")] != base[("MCS", "object")]
    assert other[("IIR", "object")] == base[("IIR", "object")] or np.isnan(base[("IIR", "object")])


@pytest.mark.parametrize(("maps", "message"), [
    ({"mine": {}}, r"maps for 'mine', which is not among the methods \['VG'\]; add it: IIR"),
    ({"VG": {"fo_xos": 0}}, r"missing \['fs_x0s', 'fs_xos'\]"),
    ({"VG": {"fo_xos": 0, "fs_xos": 0, "fs_x0s": 0, "x": 0}}, r"unknown \['x'\]"),
    ({"VG": {k: torch.zeros(3, 64, 64) for k in ("fo_xos", "fs_xos", "fs_x0s")}},
     "rows but"),
    ([1], "must be a dict"),
])
def test_bad_bam_maps(setup, maps, message):
    folder, models = setup
    with pytest.raises(AttrbenchError, match=message):
        run_bam_metrics(folder, models, dataclasses.replace(CFG, num_images=None), maps=maps)


class _TinyNet(torch.nn.Module):
    """A 5-class classifier that trains on bam_mini in a moment."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def test_run_bam_passes_maps_through_and_checks_them_before_training(tmp_path):
    from attrbench.bam.models import load_bam_models
    from attrbench.bam.pipeline import BamTrainOptions, run_bam

    options = BamTrainOptions(epochs=1, batch_size=32)
    fresh = tmp_path / "fresh"
    with pytest.raises(AttrbenchError, match=r"missing \['fs_x0s', 'fs_xos'\]"):
        run_bam(bam_mini_path(), fresh, train_options=options, run_config=CFG, device="cpu",
                model=_TinyNet, maps={"VG": {"fo_xos": 0}})
    assert not fresh.exists()  # refused before the folder was bound or a model trained

    out = tmp_path / "run"
    ref = run_bam(bam_mini_path(), out, train_options=options, run_config=CFG, device="cpu",
                  model=_TinyNet)
    folder = BamFolder(bam_mini_path())
    models = load_bam_models(out, ["f_o", "f_s"], model=_TinyNet)
    x_os = stacked(folder.dataset("scene", CFG.split))
    x_0s = stacked(folder.dataset("scene_only", CFG.split))
    given = {"VG": {"fo_xos": _raw(models["f_o"], x_os), "fs_xos": _raw(models["f_s"], x_os),
                    "fs_x0s": _raw(models["f_s"], x_0s)}}
    own = run_bam(bam_mini_path(), out, train_options=options, run_config=CFG, device="cpu",
                  model=_TinyNet, maps=given)
    np.testing.assert_array_equal(own.metrics["mean"].to_numpy(), ref.metrics["mean"].to_numpy())
    flipped = {"VG": {**given["VG"], "fs_x0s": given["VG"]["fs_x0s"].flip(-1)}}
    other = run_bam(bam_mini_path(), out, train_options=options, run_config=CFG, device="cpu",
                    model=_TinyNet, maps=flipped).per_image["g_fs_x0s"].to_numpy()
    assert not np.array_equal(other, ref.per_image["g_fs_x0s"].to_numpy())
