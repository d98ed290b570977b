"""``attrbench models``: lists every registered model with its parameter count."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import attrbench.cli.models  # noqa: F401  (registers the command on the app)
from attrbench.cli.app import app
from attrbench.models import count_parameters, list_models

runner = CliRunner()


def test_models_json_lists_all_with_params() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == list_models()
    by_name = {r["name"]: r for r in rows}
    assert by_name["cifar_resnet20"]["params"] == count_parameters("cifar_resnet20") == 269_722
    assert by_name["resnet50"]["cam_layer"] == "layer4" and by_name["small_cnn"]["input"] == "3x32x32"


def test_models_table_pattern_and_options() -> None:
    result = runner.invoke(app, ["models", "cifar_resnet*", "--num-classes", "100"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cifar_resnet56" in result.output and "small_cnn" not in result.output
    assert f"{count_parameters('cifar_resnet20', 100):,}" in result.output


def test_models_no_match_is_a_user_error() -> None:
    result = runner.invoke(app, ["models", "vit*"])
    assert result.exit_code != 0
    assert "No model matches 'vit*'" in str(result.exception)


def test_models_help() -> None:
    result = runner.invoke(app, ["models", "--help"])
    assert result.exit_code == 0 and "List registered models" in result.output
