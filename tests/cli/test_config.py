"""One config style: frozen dataclasses validated on construction, loaded from a TOML table by
``build_config`` with flags on top."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest

from attrbench.cli.options import build_config
from attrbench.errors import AttrbenchError
from attrbench.fpa import EvalConfig
from attrbench.roar import RoarConfig
from attrbench.robustness.pipeline import RobustnessConfig


def test_table_then_flags_then_validation(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[evaluate]\nnum_steps = 8\nvariants = ["IG_sum", "Random"]\nseed = 3\n'
                    "[other]\nseed = 99\n")
    cfg = build_config(EvalConfig, path, "evaluate", {"seed": 5, "num_images": None})
    assert cfg == EvalConfig(num_steps=8, variants=("IG_sum", "Random"), seed=5)
    assert isinstance(cfg.variants, tuple)  # TOML lists become the field's tuple
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


def test_bad_keys_types_and_values_name_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[evaluate]\nnum_stepz = 8\n")
    with pytest.raises(AttrbenchError, match=r"Unknown option\(s\) num_stepz in .*bad\.toml; "
                                             r"valid: .*num_steps"):
        build_config(EvalConfig, path, "evaluate", {})
    path.write_text('[evaluate]\nnum_steps = "eight"\n')
    with pytest.raises(AttrbenchError, match=r"num_steps in .*must be an integer"):
        build_config(EvalConfig, path, "evaluate", {})
    path.write_text("[evaluate]\nnum_steps = 0\n")  # right type, invalid: the config refuses it
    with pytest.raises(AttrbenchError, match=r"num_steps \(--num-steps\) must be >= 1"):
        build_config(EvalConfig, path, "evaluate", {})
    path.write_text("[evaluate\n")
    with pytest.raises(AttrbenchError, match="is not valid TOML"):
        build_config(EvalConfig, path, "evaluate", {})


@pytest.mark.parametrize("make", [
    lambda: EvalConfig(chunk_size=0),
    lambda: EvalConfig(tie_break="sorted"),
    lambda: RobustnessConfig(num_images=0),
    lambda: RobustnessConfig(attacks=("pgd",)),
    lambda: RoarConfig(repeats=0),
])
def test_every_config_refuses_bad_values_on_construction(make) -> None:
    with pytest.raises(AttrbenchError):
        make()


def test_factory_builds_from_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "roar.toml"
    path.write_text('[roar]\nthresholds = [10, 50]\nvariants = ["random"]\n')
    cfg = build_config(RoarConfig, path, "roar", {"repeats": 2},
                       factory=functools.partial(RoarConfig.preset, "cpu"))
    assert cfg.thresholds == (10.0, 50.0) and cfg.repeats == 2 and cfg.variants == ("random",)
    assert cfg.test_limit == 500  # from the cpu preset
