"""Run seeds of the stochastic estimators (Random, SmoothGrad, SQ-SG) and of the tie-break depend
on the seed, the method and the image only, never on display labels (issue 11 item 12)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from torch import nn
from typer.testing import CliRunner

from attrbench.cli import app
from attrbench.data import load_dataset
from attrbench.fpa import evaluate
from attrbench.models import save_checkpoint

VARIANTS = ["Random", "SG'_sum", "SQ-SG_sum"]
PARAMS = {"smoothgrad": {"n_samples": 3}, "smoothgrad_sq": {"n_samples": 3}}
KEY = ["variant", "image_id", "order", "step"]


@pytest.fixture(scope="module")
def model(make_small_cnn) -> nn.Module:
    return make_small_cnn()


@pytest.fixture(scope="module")
def images():
    return load_dataset("cifar10-mini", "test", limit=2)


def _logits(df: pd.DataFrame) -> pd.Series:
    return df.set_index(KEY)["logit"].sort_index()


def _api(model, images, **kw) -> pd.DataFrame:
    return evaluate(model, images, VARIANTS, method_params=PARAMS, chunk_size=4, **kw)


def test_labels_do_not_move_the_numbers(model, images) -> None:
    default = _logits(_api(model, images))  # the API's labels: "model" / "unknown"
    relabelled = _logits(_api(model, images, model_name="small_cnn", augmentation="baseline"))
    pd.testing.assert_series_equal(default, relabelled, check_exact=True)
    # The seed still matters, so the equality above is not vacuous.
    other = _logits(_api(model, images, seed=1))
    for variant in ("Random", "SG'_sum", "SQ-SG_sum"):
        assert not default.loc[variant].equals(other.loc[variant]), variant


@pytest.mark.extended
def test_cli_with_any_augmentation_label_equals_the_api(model, images, tmp_path: Path) -> None:
    stem = save_checkpoint(model, tmp_path / "ckpt" / "model",
                           {"augmentation": {"name": "none"}})
    cli = CliRunner()
    variant_args = [a for v in VARIANTS for a in ("--method", v)]
    params = ["--method-param", "smoothgrad.n_samples=3",
              "--method-param", "smoothgrad_sq.n_samples=3"]
    runs = {}
    for label in ("none", "baseline"):
        out = tmp_path / f"eval_{label}"
        result = cli.invoke(app, ["evaluate", "--checkpoint", str(stem), "--out", str(out),
                                  "--num-images", "2", "--augment", label, "--device", "cpu",
                                  *variant_args, *params], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        runs[label] = _logits(pd.concat(pd.read_parquet(p) for p in
                                        sorted((out / "shards").glob("*.parquet"))))
    api = _logits(_api(model, images))
    pd.testing.assert_series_equal(runs["none"], runs["baseline"], check_exact=True)
    pd.testing.assert_series_equal(runs["none"], api, check_exact=True)
