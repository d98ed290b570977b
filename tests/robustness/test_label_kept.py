"""Issue 17: only label-preserving perturbations count (Ghorbani et al. 2019; Kamath et al. 2024).

The models here are "rigged": they predict like a trained MNIST net, except that an input
whose perturbation from its clean image meets a condition gets another class. With the condition
"ℓ∞ distance > threshold" every perturbation beyond the threshold flips the label, so an attack at
a larger budget cannot keep it; the cell must then report zero usable images, not a mean of 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from attrbench.cli import app
import attrbench.cli.robustness  # noqa: F401  registers `attrbench robustness` on the app
from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.models import create_model, save_checkpoint
from attrbench.results import ResultStore
from attrbench.robustness.attacks import attack_config, attribution_attack
from attrbench.robustness.pipeline import RobustnessConfig, run_robustness
from attrbench.robustness.report import (
    failure_table,
    robustness_figure,
    summary_table,
    write_robustness_report,
)
from attrbench.robustness.results import (
    ROBUSTNESS_SCHEMA,
    ROBUSTNESS_ROWS,
    read_robustness,
    summarise,
)

STD = 0.5  # mnist-mini input space: (p - 0.5) / 0.5


class Rigged(nn.Module):
    """``base``'s logits, except that where ``flip(delta)`` the class c + 1 (mod K) wins, c = the
    base prediction on the nearest (ℓ∞) anchor; so a flipped input never predicts c.

    ``delta`` = input minus that anchor, ``(B, C, H, W)``; ``flip`` returns ``(B,)`` bool. The push
    is a constant (detached), so gradients are the base model's.
    """

    def __init__(self, base: nn.Module, anchors: torch.Tensor,
                 flip: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("anchors", anchors.clone())
        with torch.no_grad():
            self.register_buffer("anchor_pred", base(anchors).argmax(1))
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.base(x)
        with torch.no_grad():
            nearest = (x[:, None] - self.anchors[None]).abs().flatten(2).amax(2).argmin(1)
            flip = self.flip(x - self.anchors[nearest])
            other = (self.anchor_pred[nearest] + 1) % logits.shape[1]
            gap = logits.max(1).values - logits.gather(1, other[:, None])[:, 0] + 1.0
            push = torch.nn.functional.one_hot(other, logits.shape[1]).to(logits.dtype)
        return logits + push * (gap * flip.to(logits.dtype))[:, None]


def beyond(threshold: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Flip when the perturbation's ℓ∞ norm exceeds ``threshold`` pixel units."""
    return lambda delta: delta.abs().flatten(1).amax(1) > threshold / STD + 1e-6


def corner_coin(delta: torch.Tensor) -> torch.Tensor:
    """Flip a perturbed input unless its two top-left (background, -1) pixels both moved up
    (random signs: kept w.p. 1/4 per draw); the clean image (delta = 0) is not flipped."""
    moved = delta.flatten(1).abs().amax(1) > 0
    return moved & ~((delta[:, 0, 0, 0] > 0) & (delta[:, 0, 0, 1] > 0))


def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    return x[ok][:n]


def predicted(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.mark.parametrize("kind", ["random", "random_sign", "topk", "lens_topk", "mass_center"])
def test_beyond_threshold_nothing_is_kept_and_flag_matches_a_fresh_pass(
    kind, mnist_model, mnist_test, mnist_space
) -> None:
    x = correct(mnist_model, *mnist_test, 6)
    model = Rigged(mnist_model, x, beyond(0.2)).eval()
    ex = create_method("vanilla_gradient", model)
    # step = 1: every iterate lies on the ball's surface, i.e. at distance ε > threshold
    cfg = attack_config(kind, eps=0.3, step=1.0, iterations=3, restarts=2, k=50, k_attack=50)
    r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(0))
    assert not bool(r.kept.any())
    assert torch.equal(r.kept, predicted(model, r.x_adv) == r.target)
    assert bool(torch.isnan(r.criterion).all())  # no measure for a failed attack, never 1.0
    assert float((r.x_adv - x).abs().max()) <= 0.3 / STD + 1e-6
    # the returned example is the last one tried: at the budget, not the clean image
    assert bool(r.changed.all())
    last_restart = 1 if kind == "random_sign" else 2
    last_iteration = 10 if kind == "random_sign" else 3  # random_sign: draws (default 10)
    assert r.restart.tolist() == [last_restart] * len(x)
    assert r.iteration.tolist() == [last_iteration] * len(x)


@pytest.mark.parametrize("kind", ["random", "random_sign", "topk", "lens_topk", "mass_center"])
def test_below_threshold_every_image_keeps_a_perturbed_example(
    kind, mnist_model, mnist_test, mnist_space
) -> None:
    x = correct(mnist_model, *mnist_test, 6)
    model = Rigged(mnist_model, x, beyond(0.2)).eval()
    ex = create_method("vanilla_gradient", model)
    cfg = attack_config(kind, eps=0.1, step=0.05, iterations=3, restarts=2, k=50, k_attack=50)
    r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(0))
    assert torch.equal(r.kept, predicted(model, r.x_adv) == r.target)
    assert bool(r.kept.all()) and bool(r.changed.all())
    assert bool((r.criterion <= 1.0).all())
    assert bool(((r.restart >= 1) & (r.iteration >= 1)).all())


def test_random_sign_keeps_the_first_label_preserving_draw(
    mnist_model, mnist_test, mnist_space
) -> None:
    """Replays the documented draw order: pattern d = sign(randn(x.shape)) for d = 1, 2, ..."""
    x = correct(mnist_model, *mnist_test, 12)
    model = Rigged(mnist_model, x, corner_coin).eval()
    ex = create_method("vanilla_gradient", model)
    cfg = attack_config("random_sign", eps=0.1, k=50, draws=6)
    r = attribution_attack(ex, x, cfg, mnist_space, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    expect_x, expect_d = x.clone(), torch.zeros(len(x), dtype=torch.int64)
    for d in range(1, 7):
        trial = mnist_space.project(x + 0.1 / STD * torch.randn(x.shape, generator=gen).sign(),
                                    x, 0.1)
        ok = predicted(model, trial) == r.target
        new = (expect_d == 0) & ok
        expect_x[new], expect_d[new] = trial[new], d
    failed = expect_d == 0
    expect_x[failed] = trial[failed]  # the last draw is returned, flagged not kept
    assert torch.equal(r.x_adv, expect_x)
    assert torch.equal(r.kept, ~failed)
    assert r.iteration.tolist() == torch.where(failed, 6, expect_d).tolist()
    # not vacuous: some images needed several draws, and at least one ran out
    assert int(expect_d.max()) >= 3 and bool(failed.any())
    assert torch.equal(r.kept, predicted(model, r.x_adv) == r.target)


def test_draws_is_validated() -> None:
    assert attack_config("random_sign").draws == 10
    with pytest.raises(AttrbenchError, match=r"draws must be an integer >= 1"):
        attack_config("random_sign", draws=0)


def test_eps_zero_is_kept(mnist_model, mnist_test, mnist_space) -> None:
    x = correct(mnist_model, *mnist_test, 3)
    r = attribution_attack(create_method("vanilla_gradient", mnist_model), x,
                           attack_config("random_sign", eps=0.0, k=10), mnist_space)
    assert bool(r.kept.all()) and torch.equal(r.x_adv, x)
    assert r.restart.tolist() == [0, 0, 0] and r.iteration.tolist() == [0, 0, 0]


# ---------------------------------------------------------------------------- pipeline + summary

CELL_CFG = RobustnessConfig(attacks=("random_sign", "topk"), eps=(0.1, 0.3), k=50, windows=(1,),
                            diverse=False, attack_params={"iterations": 2, "step": 1.0},
                            num_images=8, chunk_size=4)


@pytest.fixture(scope="module")
def mnist_data():
    return load_dataset("mnist-mini", "test")


@pytest.fixture(scope="module")
def rigged(mnist_model, mnist_data) -> nn.Module:
    xs = torch.stack([mnist_data[i][0] for i in range(CELL_CFG.num_images)])
    return Rigged(mnist_model, xs, beyond(0.2)).eval()


def test_cell_above_threshold_has_no_usable_image_and_below_averages_kept_only(
    rigged, mnist_data, mnist_space
) -> None:
    rows = run_robustness({"rigged": rigged}, mnist_data, CELL_CFG, mnist_space)
    assert {"kept_label", "restart", "iteration"} <= set(rows.columns)
    above = rows[rows["eps"] == 0.3]
    assert not bool(above["kept_label"].any())
    assert bool(above["value"].isna().all())  # never a 1.0 for an image that was not perturbed
    below = rows[rows["eps"] == 0.1]
    assert bool(below["kept_label"].all())
    summary = summarise(rows, min_images=3)
    top = summary[summary["measure"] == "topk_intersection"].set_index(["attack", "eps"])
    n_images = rows["image_id"].nunique()
    for attack in ("random_sign", "topk"):
        cell = top.loc[(attack, 0.3)]
        assert cell["n"] == 0 and cell["n_images"] == n_images and cell["failed"] == 1.0
        assert math.isnan(cell["mean"]) and cell["status"] == "too few"
        cell = top.loc[(attack, 0.1)]
        values = below[(below["attack"] == attack) & (below["measure"] == "topk_intersection")]
        assert cell["n"] == n_images and cell["failed"] == 0.0 and cell["status"] == "ok"
        assert cell["mean"] == pytest.approx(values["value"].mean())
        assert cell["mean"] < 1.0  # the perturbed images' maps did move


def _rows(values: list[float], kept: list[bool], eps: float = 0.1) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({
        "run": "r", "model": "m", "method": "vanilla_gradient", "attack": "random_sign",
        "eps": eps, "image_id": np.arange(n), "label": 0, "target": 0, "kept_label": kept,
        "restart": 1, "iteration": 1, "measure": "topk_intersection", "value": values,
    })


def test_summarise_hand_computed() -> None:
    rows = pd.concat([
        _rows([0.2, 0.4, math.nan, math.nan], [True, True, False, False], eps=0.1),
        _rows([0.5, math.nan, math.nan, math.nan], [True, False, False, False], eps=0.3),
    ], ignore_index=True)
    s = summarise(rows, min_images=2).set_index("eps")
    assert s.loc[0.1, "mean"] == pytest.approx(0.3)
    assert s.loc[0.1, "std"] == pytest.approx(math.sqrt(0.02))  # sample std of 0.2, 0.4
    assert (s.loc[0.1, "n"], s.loc[0.1, "n_images"], s.loc[0.1, "failed"]) == (2, 4, 0.5)
    assert s.loc[0.1, "status"] == "ok"
    assert math.isnan(s.loc[0.3, "mean"]) and s.loc[0.3, "status"] == "too few"
    assert (s.loc[0.3, "n"], s.loc[0.3, "failed"]) == (1, 0.75)
    wide = summary_table(summarise(rows, min_images=2))
    assert list(wide.iloc[0]) == ["0.300 (n=2)", "too few (n=1)"]
    fails = failure_table(summarise(rows, min_images=2))
    assert list(fails.iloc[0]) == ["50% (2/4)", "75% (3/4)"]
    fig = robustness_figure(summarise(rows, min_images=2), "vanilla_gradient")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "label not kept (fraction of images)" in titles
    with pytest.raises(AttrbenchError, match=r"min_images must be an integer >= 1 \(--min"):
        summarise(rows, min_images=0)


def test_report_shows_failed_fraction_and_too_few(tmp_path: Path) -> None:
    rows = pd.concat([
        _rows([0.2, 0.4, math.nan, math.nan], [True, True, False, False], eps=0.1),
        _rows([math.nan] * 4, [False] * 4, eps=0.3),
    ], ignore_index=True)
    ResultStore(tmp_path, {"test": 1}, 0).table(ROBUSTNESS_ROWS).write("a", rows)
    html = write_robustness_report(tmp_path, min_images=2).read_text()
    assert "50% (2/4)" in html and "100% (4/4)" in html
    assert "0.300 (n=2)" in html and "too few (n=0)" in html
    csv = pd.read_csv(tmp_path / "robustness_summary.csv")
    assert list(csv["n"]) == [2, 0] and list(csv["failed"]) == [0.5, 1.0]
    assert list(csv["status"]) == ["ok", "too few"]
    assert (tmp_path / "figures" / "robustness_vanilla_gradient.png").stat().st_size > 0


def test_rows_of_an_older_version_are_refused(tmp_path: Path) -> None:
    old = ROBUSTNESS_SCHEMA.names
    (tmp_path / "shards").mkdir()
    frame = _rows([0.5], [True]).drop(columns=["kept_label", "restart", "iteration"])
    old_schema = pa.schema([f for f in ROBUSTNESS_SCHEMA if f.name in frame.columns])
    pq.write_table(pa.Table.from_pandas(frame[old_schema.names], schema=old_schema,
                                        preserve_index=False), tmp_path / "shards" / "a.parquet")
    assert "kept_label" in old
    with pytest.raises(AttrbenchError, match=r"older attrbench.*kept_label.*new --out folder"):
        read_robustness(tmp_path)


@pytest.mark.extended
def test_cli_prints_kept_fraction_and_too_few(tmp_path: Path) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("small_cnn", num_classes=10, in_channels=1)
    spec = load_dataset("mnist-mini", "test").spec
    meta = {"classes": list(spec.classes),
            "normalization": {"mean": list(spec.mean), "std": list(spec.std)}}
    save_checkpoint(model, tmp_path / "nat", meta)
    out = tmp_path / "rob"
    args = ["robustness", "--checkpoint", f"natural={tmp_path / 'nat'}", "--num-images", "40",
            "--attack", "random_sign", "--eps", "0.1", "--k", "30", "--window", "1",
            "--no-diverse", "--out", str(out), "--device", "cpu", "--min-images", "1000"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = read_robustness(out)
    n_images = rows["image_id"].nunique()
    kept = int(rows.drop_duplicates("image_id")["kept_label"].sum())
    line = next(s for s in result.output.splitlines() if "random_sign" in s and "ε=0.1" in s)
    assert f"label kept {kept}/{n_images}" in line and "failed" in line
    assert "topk_intersection too few" in line  # fewer than 1000 images
    bad = CliRunner().invoke(app, [*args[:-2], "--min-images", "0"])
    assert bad.exit_code != 0 and "min_images must be an integer >= 1" in str(bad.exception)
