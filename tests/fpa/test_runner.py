"""Evaluation runner and API: tidy rows, determinism, resume after a crash or kill -9, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.fpa import EvalConfig, ModelEntry, evaluate, run_evaluation
from attrbench.models import create_model
from attrbench.results import CURVE_SCHEMA, CURVES, ResultStore

VARIANTS = ["IG_sum", "VG'_abs", "SG_abs", "Random"]
PARAMS = {"integrated_gradients": {"steps": 8}, "smoothgrad": {"n_samples": 3}}


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=10, in_channels=3).eval()


@pytest.fixture(scope="module")
def images():
    return load_dataset("cifar10-mini", "test", limit=6)


def _run(model, images, **kw) -> pd.DataFrame:
    return evaluate(model, images, VARIANTS, method_params=PARAMS, chunk_size=4, **kw)


def test_rows_are_tidy_and_complete(model, images) -> None:
    df = _run(model, images)
    assert list(df.columns) == CURVE_SCHEMA.names
    assert len(df) == 6 * len(VARIANTS) * 2 * 21
    assert set(df["variant"]) == set(VARIANTS)
    assert set(df["order"]) == {"MIF", "LIF"}
    assert df["image_id"].drop_duplicates().tolist() == images.ids[:6].tolist()
    # Step 0 is the unperturbed logit of the predicted class, shared by MIF and LIF.
    with torch.no_grad():
        logits = model(torch.stack([images[i][0] for i in range(6)]))
    step0 = df[df.step == 0].pivot_table(index=["variant", "image_id"], columns="order", values="logit")
    assert (step0["MIF"] == step0["LIF"]).all()
    first = df[(df.step == 0) & (df.variant == "IG_sum") & (df.order == "MIF")]
    assert torch.allclose(torch.tensor(first["logit"].to_numpy()), logits.max(1).values.double(),
                          atol=1e-5)
    assert (first["target"].to_numpy() == logits.argmax(1).numpy()).all()
    assert df.loc[df.step == 0, "score"].isna().all() and df.loc[df.step > 0, "score"].notna().all()


def test_scores_follow_the_order(model, images) -> None:
    """MIF masks the highest scores first, LIF the lowest: the step scores are monotone."""
    df = _run(model, images)
    for (variant, image, order), g in df[df.step > 0].groupby(["variant", "image_id", "order"]):
        s = g.sort_values("step")["score"].to_numpy()
        d = s[1:] - s[:-1]
        assert (d <= 1e-12).all() if order == "MIF" else (d >= -1e-12).all(), (variant, image, order)


def test_same_seed_same_table_other_seed_differs(model, images) -> None:
    a, b, c = _run(model, images, seed=1), _run(model, images, seed=1), _run(model, images, seed=2)
    pd.testing.assert_frame_equal(a, b)
    sg = lambda d: d[d.variant == "SG_abs"]["logit"].to_numpy()  # noqa: E731
    assert not (sg(a) == sg(c)).all()


def test_store_resume_equals_uninterrupted_run(model, images, tmp_path: Path) -> None:
    full = _run(model, images, out=tmp_path / "full")
    _run(model, images, out=tmp_path / "partial")
    shards = sorted((tmp_path / "partial" / "shards").glob("*.parquet"))
    assert len(shards) == 2
    shards[1].unlink()  # as if the run died before writing its last shard
    resumed = _run(model, images, out=tmp_path / "partial")
    pd.testing.assert_frame_equal(full.drop(columns="run"), resumed.drop(columns="run"))


def test_resume_after_kill_9(model, images, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, signal, torch
        from attrbench.data import load_dataset
        from attrbench.fpa import evaluate
        from attrbench.models import create_model
        from attrbench.results import Table
        original = Table.write
        def write_then_die(self, key, frame):
            original(self, key, frame)
            os.kill(os.getpid(), signal.SIGKILL)
        Table.write = write_then_die
        torch.manual_seed(0)
        model = create_model("small_cnn", num_classes=10, in_channels=3).eval()
        evaluate(model, load_dataset("cifar10-mini", "test", limit=6), {VARIANTS!r},
                 method_params={PARAMS!r}, chunk_size=4, out={str(out)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ))  # same thread count as this process: same float order
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list((out / "shards").glob("*.parquet"))) == 1
    resumed = _run(model, images, out=out)
    clean = _run(model, images, out=tmp_path / "clean")
    pd.testing.assert_frame_equal(resumed.drop(columns="run"), clean.drop(columns="run"))


def test_folder_of_another_config_is_refused(model, images, tmp_path: Path) -> None:
    _run(model, images, out=tmp_path / "r")
    with pytest.raises(AttrbenchError, match=r"different configuration \(differs in: seed\).*new --out"):
        _run(model, images, out=tmp_path / "r", seed=9)


def test_any_module_and_plain_tensor_dataset() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Softplus(), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 3))
    data = TensorDataset(torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1]))
    df = evaluate(net, data, ["vanilla_gradient|abs_sum"], num_steps=4)
    assert len(df) == 5 * 2 * 5 and df["image_id"].drop_duplicates().tolist() == [0, 1, 2, 3, 4]
    assert sorted(df["fraction"].unique().tolist()) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_true_label_target(model, images) -> None:
    df = evaluate(model, images, ["Random"], target="label")
    assert (df["target"] == df["label"]).all()


@pytest.mark.parametrize(("kw", "message"), [
    ({"methods": ["IG_sun"]}, "Unknown"),
    ({"target": "truth"}, "target must be one of predicted, label"),
    ({"chunk_size": 0}, "chunk_size must be >= 1"),
])
def test_bad_settings(model, images, kw, message) -> None:
    args = {"methods": ["Random"], **kw}
    with pytest.raises(AttrbenchError, match=message):
        evaluate(model, images, **args)


def test_empty_dataset_and_nan_images(model) -> None:
    with pytest.raises(AttrbenchError, match="dataset is empty"):
        evaluate(model, TensorDataset(torch.zeros(0, 3, 32, 32), torch.zeros(0, dtype=torch.long)),
                 ["Random"])
    x = torch.zeros(3, 3, 32, 32)
    x[1, 0, 4, 4] = float("nan")
    with pytest.raises(AttrbenchError, match=r"NaN/Inf pixels \(ids \[1\]\)"):
        evaluate(model, TensorDataset(x, torch.zeros(3, dtype=torch.long)), ["Random"])


def test_no_models_and_non_module() -> None:
    with pytest.raises(AttrbenchError, match="No models to evaluate"):
        run_evaluation([], TensorDataset(torch.zeros(1, 3, 8, 8), torch.zeros(1)), EvalConfig())
    with pytest.raises(AttrbenchError, match="must be a torch.nn.Module"):
        evaluate(lambda x: x, TensorDataset(torch.zeros(1, 3, 8, 8), torch.zeros(1)))  # type: ignore[arg-type]


def test_store_rejects_bad_keys(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, {"a": 1}, seed=0)
    for bad in ("../escape", "a/b", "..", ""):
        with pytest.raises(ValueError, match="invalid key"):
            store.table(CURVES).path(bad)
    with pytest.raises(ValueError, match="invalid key"):
        store.path("masks", "../x")
    assert store.table(CURVES).read().empty
    assert list(store.table(CURVES).read().columns) == CURVE_SCHEMA.names
    entry = ModelEntry(nn.Identity(), "m")
    assert entry.augmentation == "none"


# --- issue 13: a resumed run never mixes results -------------------------------------------------

def _other_weights(model: nn.Module) -> nn.Module:
    torch.manual_seed(1)
    other = create_model("small_cnn", num_classes=10, in_channels=3).eval()
    assert type(other) is type(model)
    return other


def test_swapped_checkpoint_same_architecture_is_refused(model, images, tmp_path: Path) -> None:
    """Case 1: same architecture, other weights, same folder: refused, not the old numbers."""
    _run(model, images, out=tmp_path / "r")
    with pytest.raises(AttrbenchError, match=r"differs in: models\): models\.unknown/model\."
                                             r"weights_sha256: \w{12} there, \w{12} now.*new --out"):
        _run(_other_weights(model), images, out=tmp_path / "r")


def test_other_model_on_more_images_is_refused(model, tmp_path: Path) -> None:
    """Case 2: checkpoint A on 4 images, then B on 6 into the same folder: refused, not mixed."""
    _run(model, load_dataset("cifar10-mini", "test", limit=4), out=tmp_path / "r")
    with pytest.raises(AttrbenchError, match="weights_sha256"):
        _run(_other_weights(model), load_dataset("cifar10-mini", "test", limit=6),
             out=tmp_path / "r")


@pytest.mark.parametrize("via", ["limit", "num_images"])
def test_more_images_extend_the_run_exactly(model, tmp_path: Path, via: str) -> None:
    """Case 3: 3 then 6 images (chunks of 4, so chunk 0 was partial): the table equals a fresh
    6-image run, not 3 + 2 images."""
    data6 = load_dataset("cifar10-mini", "test", limit=6)
    if via == "limit":  # how the CLI's --num-images works: the dataset is cut
        _run(model, load_dataset("cifar10-mini", "test", limit=3), out=tmp_path / "r")
        extended = _run(model, data6, out=tmp_path / "r")
    else:
        _run(model, data6, out=tmp_path / "r", num_images=3)
        extended = _run(model, data6, out=tmp_path / "r", num_images=6)
    fresh = _run(model, data6, out=tmp_path / "fresh")
    assert extended["image_id"].nunique() == 6
    pd.testing.assert_frame_equal(extended.drop(columns="run"), fresh.drop(columns="run"))


def test_other_split_is_refused(model, tmp_path: Path) -> None:
    """Case 4: a folder of the test split is not reported for the train split."""
    _run(model, load_dataset("cifar10-mini", "test", limit=4), out=tmp_path / "r")
    with pytest.raises(AttrbenchError, match=r"dataset\.split: 'test' there, 'train' now"):
        _run(model, load_dataset("cifar10-mini", "train", limit=4), out=tmp_path / "r")


def test_other_method_params_and_fewer_images_are_refused(model, images, tmp_path: Path) -> None:
    _run(model, images, out=tmp_path / "r")
    with pytest.raises(AttrbenchError, match=r"integrated_gradients\.steps: 8 there, 9 now"):
        evaluate(model, images, VARIANTS, chunk_size=4, out=tmp_path / "r",
                 method_params={**PARAMS, "integrated_gradients": {"steps": 9}})
    with pytest.raises(AttrbenchError, match=r"holds 6 images and this run asks for 2"):
        _run(model, images, out=tmp_path / "r", num_images=2)


@pytest.mark.parametrize(("kw", "message"), [
    ({"tie_break": "refrence"}, r"tie_break \(--tie-break\) must be one of random, reference"),
    ({"methods": ["IG_sun"]}, "Unknown"),
    ({"method_params": {"integrated_gradients": {"stpes": 3}}}, "unknown parameter"),
    ({"mask_value": float("nan")}, r"mask_value \(--mask-value\) must be a finite number"),
    ({"num_images": 0}, r"num_images \(--num-images\) must be >= 1"),
])
def test_bad_settings_write_nothing(model, images, tmp_path: Path, kw, message) -> None:
    """Case 8: validation comes before the folder's first write, so the corrected rerun works."""
    args = {"methods": ["IG_sum"], **kw}
    with pytest.raises(AttrbenchError, match=message):
        evaluate(model, images, out=tmp_path / "r", **args)
    assert not (tmp_path / "r").exists()
    evaluate(model, images, ["IG_sum"], out=tmp_path / "r", num_images=1,
             method_params={"integrated_gradients": {"steps": 2}})


class _NaNWhenMasked(nn.Module):
    """Finite logits on clean images, NaN once any pixel of image 1 equals the fill 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hit = (x == 0).flatten(1).any(1, keepdim=True)
        out = x.flatten(1)[:, :3] * 1.0
        return torch.where(hit, torch.full_like(out, float("nan")), out)


def test_nan_logits_name_the_images_and_steps() -> None:
    """Case 5: NaN/Inf logits are refused at once, naming image ids and steps."""
    x = torch.full((2, 1, 4, 4), 0.5)
    data = TensorDataset(x, torch.tensor([0, 1]))
    with pytest.raises(AttrbenchError, match=r"gave NaN/Inf logits on masked images for image ids "
                                             r"\[0, 1\] at MIF steps \[1, 2\].*--mask-value"):
        evaluate(_NaNWhenMasked(), data, ["Random"], num_steps=2)


@pytest.mark.parametrize(("data", "message"), [
    (TensorDataset(torch.randn(2, 32, 32, 3), torch.zeros(2, dtype=torch.long)),
     r"look channels-last \(H, W, C\) = \(32, 32, 3\); permute them"),
    (TensorDataset(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)),
     r"must be float tensors .* got torch.uint8"),
    (TensorDataset(torch.randn(2, 3, 32, 32)), r"must yield \(image, label\) pairs, got a 1-tuple"),
    (TensorDataset(torch.randn(2, 3, 2, 2), torch.zeros(2, dtype=torch.long)),
     r"fails on one image of shape \(3, 2, 2\) \(.*\); give images of the size"),
])
def test_dataset_boundary_checks(model, data, message) -> None:
    """Case 12: the Python API names the problem instead of raising raw torch errors."""
    with pytest.raises(AttrbenchError, match=message):
        evaluate(model, data, ["Random"])
    assert not model.training


def test_evaluate_with_out_checks_the_run_once(model, images, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate(out=) validates once (prepare_run) for both the identity and the run: one
    check_dataset forward per model, one read of the given maps."""
    import attrbench.fpa.runner as runner

    calls = {"check": 0, "maps": 0}
    real_check, real_maps = runner.check_dataset, runner.precomputed_maps

    def check(*args, **kw):
        calls["check"] += 1
        return real_check(*args, **kw)

    def maps(*args, **kw):
        calls["maps"] += 1
        return real_maps(*args, **kw)

    monkeypatch.setattr(runner, "check_dataset", check)
    monkeypatch.setattr(runner, "precomputed_maps", maps)
    given = {"ones": torch.ones(len(images), 32, 32)}
    table = evaluate(model, images, ["VG_abs"], num_images=4, num_steps=2, out=tmp_path / "r",
                     maps=given)
    assert calls == {"check": 1, "maps": 1}
    assert set(table["variant"]) == {"VG_abs", "ones"}
