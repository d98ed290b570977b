"""ROAR and IteROAR retrain a user nn.Module (builder or template), and refuse another one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.roar import RoarConfig, run_roar
from attrbench.roar.iterative import IteRoarConfig, run_iteroar


def _run_configs(root: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text())["config"]
            for p in root.rglob("run.json") if p.parent != root}


def test_roar_retrains_a_user_builder_with_fresh_seeded_weights(
        tmp_path: Path, tiny: dict[str, Any], user_nets) -> None:
    UserNet, OtherNet = user_nets
    cfg = RoarConfig(variants="random", thresholds=(50,), repeats=2, **tiny)
    table = run_roar(cfg, tmp_path, model=UserNet)
    assert len(table) == 2 + 2
    runs = _run_configs(tmp_path)
    assert len(runs) == 4 and {c["model"] for c in runs.values()} == {
        f"user:{UserNet.__module__}.UserNet"}
    # every retrain starts from its own seed's weights: repeats differ, variants share them
    inits = {name: c["model_init_sha256"] for name, c in runs.items()}
    assert len({inits[n] for n in inits if n.endswith("_r0")}) == 1
    assert inits["none_t0_r0"] != inits["none_t0_r1"]
    again = run_roar(cfg, tmp_path, model=UserNet)  # resumes: nothing retrained
    assert again["test_accuracy"].tolist() == table["test_accuracy"].tolist()
    with pytest.raises(AttrbenchError, match="different configuration"):
        run_roar(cfg, tmp_path, model=OtherNet)
    with pytest.raises(AttrbenchError, match="different configuration"):
        run_roar(cfg, tmp_path)  # the registry's small_cnn


def test_iteroar_retrains_a_module_template(tmp_path: Path, tiny: dict[str, Any],
                                            user_nets) -> None:
    UserNet, OtherNet = user_nets
    template = UserNet(10)
    before = {k: v.clone() for k, v in template.state_dict().items()}
    cfg = IteRoarConfig(variants="random", iterations=1, repeats=1, **tiny)
    tables = run_iteroar(cfg, tmp_path, model=template)
    assert sorted(tables["accuracy"]["iteration"]) == [0, 1]
    runs = _run_configs(tmp_path)
    assert {c["model"] for c in runs.values()} == {f"user:{UserNet.__module__}.UserNet"}
    assert len({c["model_init_sha256"] for c in runs.values()}) == 2  # seeds 0 and 1
    assert all(torch.equal(v, before[k]) for k, v in template.state_dict().items())
    with pytest.raises(AttrbenchError, match="different configuration"):
        run_iteroar(cfg, tmp_path, model=OtherNet(10))
