"""Sharded evaluation (--shard K/N): parsing and environment, shards that add up to the 1-process
table (in process and as 2 concurrent CLI processes), a crashed shard resuming alone, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from attrbench.cli import app
from attrbench.data import CIFAR10_CLASSES, load_dataset
from attrbench.errors import AttrbenchError
from attrbench.fpa import evaluate
from attrbench.fpa.runner import EvalConfig, ModelEntry, missing_chunks, run_evaluation
from attrbench.models import create_model, save_checkpoint
from attrbench.results.shards import in_shard, parse_shard, shard_from_env
from attrbench.results.store import ResultStore, Table

_LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS",
               "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT",
               "SLURM_LOCALID")
META = {"classes": list(CIFAR10_CLASSES), "dataset": "cifar10-mini",
        "augmentation": {"name": "none"}, "normalization": {"mean": [0.5] * 3, "std": [0.5] * 3}}
VARIANTS = ("Random", "VG_abs")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _LAUNCH_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("text", "expected"), [("0/1", (0, 1)), ("3/4", (3, 4)),
                                                (" 1 / 2 ", (1, 2))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("2/2", r"--shard 2/2: the shard index K must be in 0\.\.1"),
    ("5/3", r"--shard 5/3: the shard index K must be in 0\.\.2"),
    ("-1/2", r"--shard -1/2: the shard index K must be in 0\.\.1"),
    ("0/0", r"--shard 0/0: the number of shards N must be >= 1"),
    ("1", r"--shard '1' is not K/N"),
    ("a/b", r"--shard 'a/b' is not K/N"),
])
def test_bad_shards(clean_env: pytest.MonkeyPatch, text: str, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        parse_shard(text)


@pytest.mark.parametrize(("env", "expected"), [
    ({"RANK": "1", "WORLD_SIZE": "3"}, (1, 3)),                                     # torchrun
    ({"SLURM_PROCID": "2", "SLURM_NTASKS": "4"}, (2, 4)),                           # srun -n 4
    ({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5",
      "SLURM_ARRAY_TASK_COUNT": "4"}, (2, 4)),                                      # --array=5-8
    ({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_PROCID": "1",
      "SLURM_NTASKS": "2"}, (3, 6)),                                                # both
])
def test_shard_from_environment(clean_env: pytest.MonkeyPatch, env: dict[str, str],
                                expected: tuple[int, int]) -> None:
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert shard_from_env() == expected == parse_shard("auto")


def test_auto_without_launcher_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(AttrbenchError, match=r"found neither torchrun .* pass --shard K/N"):
        parse_shard("auto")
    clean_env.setenv("SLURM_ARRAY_TASK_ID", "0")
    with pytest.raises(AttrbenchError, match=r"SLURM_ARRAY_TASK_COUNT is not"):
        parse_shard("auto")


def test_in_shard_partitions_chunks() -> None:
    owners = [[k for k in range(3) if in_shard(c, (k, 3))] for c in range(10)]
    assert owners == [[c % 3] for c in range(10)]
    assert all(in_shard(c, None) for c in range(5))


@pytest.fixture(scope="module")
def setup() -> tuple[torch.nn.Module, object]:
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10, in_channels=3).eval()
    return model, load_dataset("cifar10-mini", "test")  # the configs take the first 10


def _cfg(**kw: object) -> EvalConfig:
    return EvalConfig(variants=VARIANTS, num_images=10, chunk_size=3, num_steps=4, **kw)


def _store(root: Path, model: torch.nn.Module, data: object, cfg: EvalConfig) -> ResultStore:
    from attrbench.fpa.runner import evaluation_identity

    config, images = evaluation_identity([ModelEntry(model, "small_cnn", "none")], data, cfg)
    return ResultStore(root, config, cfg.seed, images=images)


def test_two_shards_equal_one_process(setup, tmp_path: Path) -> None:
    """10 images in chunks of 3: shard 0/2 takes chunks 0 and 2, shard 1/2 chunks 1 and 3."""
    model, data = setup
    entry, cfg = ModelEntry(model, "small_cnn", "none"), _cfg()
    full = run_evaluation([entry], data, cfg, store=_store(tmp_path / "one", model, data, cfg),
                          progress=False)
    part = run_evaluation([entry], data, cfg, store=_store(tmp_path / "two", model, data, cfg),
                          progress=False, shard=(0, 2))
    assert sorted(p.name[-18:] for p in (tmp_path / "two" / "shards").iterdir()) == [
        "chunk00000.parquet", "chunk00002.parquet"]
    assert set(part["image_id"]) == {0, 1, 2, 6, 7, 8}
    assert missing_chunks([entry], tmp_path / "two", 10, 3) == [1, 3]
    both = run_evaluation([entry], data, cfg, store=_store(tmp_path / "two", model, data, cfg),
                          progress=False, shard=(1, 2))
    assert missing_chunks([entry], tmp_path / "two", 10, 3) == []
    pd.testing.assert_frame_equal(both.drop(columns="run"), full.drop(columns="run"))


def test_shard_without_store_and_shard_without_chunks(setup) -> None:
    model, data = setup
    entry = ModelEntry(model, "small_cnn", "none")
    full = run_evaluation([entry], data, _cfg(), progress=False)
    one = run_evaluation([entry], data, _cfg(), progress=False, shard=(3, 4))
    assert set(one["image_id"]) == {9}
    pd.testing.assert_frame_equal(one.reset_index(drop=True),
                                  full[full["image_id"] == 9].reset_index(drop=True))
    assert run_evaluation([entry], data, _cfg(), progress=False, shard=(5, 6)).empty
    with pytest.raises(AttrbenchError, match=r"--shard 6/6"):
        run_evaluation([entry], data, _cfg(), progress=False, shard=(6, 6))


def test_crashed_shard_resumes_alone(setup, tmp_path: Path, monkeypatch) -> None:
    """Shard 1/2 dies after its first chunk; rerunning shard 1/2 alone computes only its missing
    chunk (shard 0/2's files are untouched) and the union equals the 1-process table."""
    model, data = setup
    entry, cfg = ModelEntry(model, "small_cnn", "none"), _cfg()
    full = run_evaluation([entry], data, cfg, store=_store(tmp_path / "one", model, data, cfg),
                          progress=False)
    root = tmp_path / "r"
    run_evaluation([entry], data, cfg, store=_store(root, model, data, cfg), progress=False,
                   shard=(0, 2))
    before = {p.name: p.stat().st_mtime_ns for p in (root / "shards").iterdir()}

    class Killed(Exception):
        pass

    written: list[str] = []
    original = Table.write

    def dying_write(self, key, frame):
        if written:
            raise Killed
        written.append(key)
        original(self, key, frame)

    monkeypatch.setattr(Table, "write", dying_write)
    with pytest.raises(Killed):
        run_evaluation([entry], data, cfg, store=_store(root, model, data, cfg), progress=False,
                       shard=(1, 2))
    monkeypatch.setattr(Table, "write", original)
    assert missing_chunks([entry], root, 10, 3) == [3]
    computed: list[str] = []

    def counting_write(self, key, frame):
        computed.append(key)
        original(self, key, frame)

    monkeypatch.setattr(Table, "write", counting_write)
    table = run_evaluation([entry], data, cfg, store=_store(root, model, data, cfg),
                           progress=False, shard=(1, 2))
    assert [k[-10:] for k in computed] == ["chunk00003"]
    assert {p.name: p.stat().st_mtime_ns for p in (root / "shards").iterdir()
            if p.name in before} == before
    pd.testing.assert_frame_equal(table.drop(columns="run"), full.drop(columns="run"))


def test_shard_of_another_configuration_is_refused(setup, tmp_path: Path) -> None:
    model, data = setup
    evaluate(model, data, VARIANTS, num_images=10, num_steps=4, chunk_size=3, out=tmp_path / "r",
             shard=(0, 2), model_name="small_cnn", augmentation="none")
    with pytest.raises(AttrbenchError, match=r"different configuration \(differs in: seed\)"):
        evaluate(model, data, VARIANTS, num_images=10, num_steps=4, chunk_size=3, seed=1,
                 out=tmp_path / "r", shard=(1, 2), model_name="small_cnn", augmentation="none")
    with pytest.raises(AttrbenchError, match=r"differs in: chunk_size"):
        evaluate(model, data, VARIANTS, num_images=10, num_steps=4, chunk_size=4,
                 out=tmp_path / "r", shard=(1, 2), model_name="small_cnn", augmentation="none")


# ------------------------------------------------------------------------------------ the CLI


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model"
    save_checkpoint(create_model("small_cnn", num_classes=10, in_channels=3), path,
                    {**META, "architecture": "small_cnn"})
    return path


def _args(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return ["evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--num-images", "10",
            "--chunk-size", "3", "--method", VARIANTS[0], "--method", VARIANTS[1],
            "--num-steps", "4", "--device", "cpu", *extra]


@pytest.mark.parametrize(("shard", "message"), [("2/2", "the shard index K must be in 0..1"),
                                                ("0/0", "the number of shards N must be >= 1")])
def test_cli_refuses_bad_shard(checkpoint: Path, tmp_path: Path, clean_env, shard: str,
                               message: str) -> None:
    result = CliRunner().invoke(app, _args(checkpoint, tmp_path / "r", "--shard", shard))
    assert result.exit_code != 0 and isinstance(result.exception, AttrbenchError)
    assert message in str(result.exception)
    assert not (tmp_path / "r").exists()  # refused before anything is written


@pytest.mark.extended
def test_two_concurrent_cli_shards_give_the_one_process_table(checkpoint: Path,
                                                              tmp_path: Path) -> None:
    """Two `attrbench evaluate --shard K/2` processes at once into one folder: the shard finishing
    last builds the report, whose fidelity table equals a 1-process run's."""
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH_ENV}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "attrbench"]
    procs = [subprocess.Popen(cmd + _args(checkpoint, tmp_path / "two", "--shard", f"{k}/2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    one = subprocess.run(cmd + _args(checkpoint, tmp_path / "one"), capture_output=True, text=True,
                         env=env, timeout=900)
    assert one.returncode == 0, one.stderr[-2000:]
    assert any("fidelity table" in o[0] for o in outs)
    a = pd.read_csv(tmp_path / "one" / "fidelity_long.csv")
    b = pd.read_csv(tmp_path / "two" / "fidelity_long.csv")
    drop = [c for c in a.columns if c == "run"]
    pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))
