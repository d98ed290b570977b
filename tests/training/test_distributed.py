"""Data-parallel training: per-rank batches, seeds and refusals (fast), and real 2-process gloo runs
under torchrun (extended): same weights as 1 process with the same global batch, a killed rank
resumes exactly, a test pass without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from attrbench.errors import AttrbenchError
from attrbench.training import TrainConfig
from attrbench.training.distributed import (DistContext, cli_args, local_slice, rank_batches,
                                            rank_seed, setup, torchrun_command)
from attrbench.training.loop import _batches

_TORCHRUN_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID")


@pytest.mark.parametrize("n", [0, 1, 2, 5, 31, 32, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_local_slices_partition_the_batch(n: int, world: int) -> None:
    parts = [local_slice(n, r, world) for r in range(world)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(parts[r][1] == parts[r + 1][0] for r in range(world - 1))
    sizes = [hi - lo for lo, hi in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_local_slice_hand_cases() -> None:
    assert [local_slice(5, r, 2) for r in range(2)] == [(0, 3), (3, 5)]
    assert [local_slice(1, r, 2) for r in range(2)] == [(0, 1), (1, 1)]
    assert [local_slice(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]


def test_rank_seeds() -> None:
    assert rank_seed(123, 0, 1) == 123  # one process: the loop's seeds, unchanged
    seeds = {rank_seed(123, r, 4) for r in range(4)} | {rank_seed(123, r, 2) for r in range(2)}
    assert len(seeds) == 6 and all(0 <= s < 2**63 for s in seeds)


def _data(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1) * torch.ones(
        1, 1, 2, 2), torch.arange(n))


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(("n", "batch", "world"),
                         [(64, 32, 2), (65, 32, 2), (70, 12, 4), (9, 3, 3)])
def test_rank_batches_are_the_one_process_batches(streamed: bool, n: int, batch: int,
                                                  world: int) -> None:
    """Concatenating the ranks' shares of every step gives the 1-process batch, in both the
    in-memory and the streamed (DataLoader) paths; an empty share borrows one image at weight 0."""
    ds = _data(n)
    memory = None if streamed else (ds.tensors[0], ds.tensors[1])
    single = [y.tolist() for _, y in _batches(ds, memory, batch, torch.Generator().manual_seed(7))]
    shares = [list(rank_batches(ds, memory, batch, torch.Generator().manual_seed(7),
                                DistContext(r, world, r, "gloo"))) for r in range(world)]
    assert all(len(s) == len(single) for s in shares)
    for step, expected in enumerate(single):
        got: list[int] = []
        for r in range(world):
            b = shares[r][step]
            assert b.global_size == len(expected) and b.x.shape[0] == b.y.shape[0] >= 1
            assert torch.equal(b.x[:, 0, 0, 0].long(), b.y)  # images travel with their labels
            got += b.y[:b.real].tolist()
        assert got == expected


def test_borrowed_image_has_weight_zero() -> None:
    ds = _data(65)
    last = list(rank_batches(ds, None, 32, torch.Generator().manual_seed(0),
                             DistContext(1, 2, 1, "gloo")))[-1]
    assert last.global_size == 1 and last.real == 0 and last.x.shape[0] == 1


@pytest.fixture
def two_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batch_size": 33}, r"--batch-size 33 \(the global batch\) does not split evenly over 2 "
                         r"processes; pass a multiple of 2 \(e.g. 32\)"),
    ({"backend": "nccl"}, r"NCCL backend needs CUDA devices .* use --dist-backend gloo"),
    ({"backend": "mpi"}, r"Unknown distributed backend 'mpi'; use one of auto, gloo, nccl"),
    ({"sync_bn": True}, r"--sync-bn needs CUDA .* drop --sync-bn"),
    ({"device": "cuda:0"}, r"--device cuda:0 names one GPU for all 2 processes; pass "
                           r"--device cuda"),
])
def test_bad_distributed_settings_are_refused_before_joining(two_ranks: None, kwargs: dict,
                                                             message: str) -> None:
    args = {"device": "cpu", "batch_size": 32, **kwargs}
    with pytest.raises(AttrbenchError, match=message):
        setup(args.pop("device"), **args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_refused(two_ranks: None) -> None:
    with pytest.raises(AttrbenchError, match=r"CUDA is not available; use --device cpu"):
        setup("cuda", batch_size=32)


def test_inconsistent_rank_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(AttrbenchError, match=r"RANK=2 and WORLD_SIZE=2 are inconsistent"):
        setup("cpu")


def test_one_process_is_the_plain_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    ctx, dev = setup("cpu", backend="nccl", sync_bn=True, batch_size=33)  # all moot in 1 process
    assert ctx == DistContext() and dev == torch.device("cpu")
    assert not torch.distributed.is_initialized()


def test_nproc_rebuilds_the_command_line() -> None:
    import typer.main

    from attrbench.cli import app

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    ctx = command.make_context("train", ["--out", "r", "--epochs", "2", "--no-amp", "--nproc", "2",
                                         "--augment-param", "p1_max=0.3", "--augment-param",
                                         "p2_max=0.1", "--sync-bn"])
    args = cli_args(command, ctx.params, skip=("nproc",))
    assert args[0] == "train" and "--nproc" not in args
    again = command.make_context("train", args[1:]).params  # the rebuilt line parses back
    assert again == {**ctx.params, "nproc": None}
    assert list(again["augment_param"]) == ["p1_max=0.3", "p2_max=0.1"] and again["amp"] is False
    assert again["sync_bn"] is True and again["epochs"] == 2
    cmd = torchrun_command(2, args)
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       "--nproc-per-node=2"] and cmd[5:8] == ["-m", "attrbench", "train"]


def test_nproc_inside_torchrun_must_match(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from attrbench.cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "r"), "--nproc", "3"])
    assert result.exit_code != 0
    assert "--nproc 3 given inside a torchrun job of 2 processes" in str(result.output) + str(
        result.exception)


def test_sync_bn_is_part_of_the_config() -> None:
    cfg = TrainConfig.from_recipe("quick", dataset="d", model="m", sync_bn=True)
    assert cfg.to_dict()["sync_bn"] is True
    assert TrainConfig.default_values()["sync_bn"] is False  # older run folders: off


# ---------------------------------------------------------------- real processes (torchrun, gloo)

_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    from torch import nn
    from attrbench.data import load_dataset
    from attrbench.models.factory import MODELS
    from attrbench.models.small_cnn import SmallCNN
    from attrbench.models.spec import ModelSpec
    from attrbench.training import TrainConfig, evaluate_accuracy, train
    from attrbench.training.distributed import DistContext, accuracy_counts, env_world

    def nobn_cnn(num_classes, in_channels):
        # small_cnn without BatchNorm: per-rank batch statistics cannot make ranks differ.
        net = SmallCNN(num_classes, in_channels)
        for block in ("block1", "block2", "block3", "block4", "block5"):
            setattr(getattr(net.features, block), "bn", nn.Identity())
        return net

    MODELS.register("nobn_cnn", ModelSpec(
        name="nobn_cnn", builder=nobn_cnn, description="test", cam_layer="features.block5",
        fc_layer="fc", min_input_size=4, default_input_shape=(3, 32, 32), family="small",
        reference="test"))
    out, model = sys.argv[1], sys.argv[2]
    train_limit, crash_epoch = int(sys.argv[3]), int(sys.argv[4])
    # "plain": no crops or flips (drawn per rank, so they differ from 1 process by design).
    plain = dict(crop_padding=0, hflip=False) if sys.argv[5] == "plain" else {}
    cfg = TrainConfig.from_recipe("quick", dataset="cifar10-mini", model=model, epochs=2,
                                  batch_size=32, train_limit=train_limit, test_limit=31,
                                  device="cpu", seed=4, **plain)
    rank, world, _ = env_world()

    def die(epoch):
        if rank == world - 1 and epoch == crash_epoch:
            os.kill(os.getpid(), signal.SIGKILL)

    result = train(cfg, out, on_epoch_end=die, progress=False)
    test = load_dataset("cifar10-mini", split="test", limit=31)
    ctx = DistContext(rank, world, rank, "gloo" if world > 1 else None)
    hits, total = accuracy_counts(result.model, test, ctx, torch.device("cpu"))
    if rank == 0:
        json.dump({"hits": hits, "total": total, "history": result.history,
                   "one_process_accuracy": evaluate_accuracy(result.model, test)},
                  open(os.path.join(out, "check.json"), "w"))
""")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TORCHRUN_ENV}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _launch(script: Path, out: Path, model: str, limit: int, nproc: int,
            crash_epoch: int = -1, plain: bool = False) -> subprocess.CompletedProcess:
    args = [str(script), str(out), model, str(limit), str(crash_epoch), "plain" if plain else "aug"]
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", *args] if nproc > 1 else [sys.executable, *args])
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=900)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dist") / "run_train.py"
    path.write_text(_SCRIPT)
    return path


@pytest.mark.extended
def test_two_processes_reach_the_one_process_weights(script: Path, tmp_path: Path) -> None:
    """65 images in batches of 32 (the last global batch has 1 image: rank 1 borrows one at weight
    0), no BatchNorm, no crops or flips: 2 gloo processes and 1 process do the same SGD steps, up
    to float summation order (per-rank sums, then the all-reduce)."""
    one = _launch(script, tmp_path / "one", "nobn_cnn", 65, nproc=1, plain=True)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _launch(script, tmp_path / "two", "nobn_cnn", 65, nproc=2, plain=True)
    assert two.returncode == 0, two.stderr[-3000:]
    w1, w2 = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-5, atol=1e-6, msg=key)  # seen: 2e-8
    h1 = json.loads((tmp_path / "one" / "check.json").read_text())
    h2 = json.loads((tmp_path / "two" / "check.json").read_text())
    for a, b in zip(h1["history"], h2["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["train_accuracy"] == a["train_accuracy"]  # same 65 images, same predictions
    # The 2-process test pass: 31 images split 16 + 15, no duplicates, = the 1-process count.
    assert h2["total"] == 31 and h2["hits"] / 31 == pytest.approx(h2["one_process_accuracy"])
    assert h2["history"][-1]["test_accuracy"] == pytest.approx(h2["one_process_accuracy"])


@pytest.mark.extended
def test_killed_rank_resumes_to_the_uninterrupted_weights(script: Path, tmp_path: Path) -> None:
    """small_cnn (with BatchNorm) in 2 processes; rank 1 is SIGKILLed after epoch 1 is on disk,
    torchrun stops rank 0, and rerunning finishes with bit-identical weights and history."""
    full = subprocess.run(
        [sys.executable, "-m", "attrbench", "train", "--out", str(tmp_path / "full"),
         "--nproc", "2", "--dataset", "cifar10-mini", "--model", "small_cnn", "--epochs", "2",
         "--batch-size", "32", "--train-limit", "64", "--test-limit", "31", "--device", "cpu",
         "--seed", "4"], capture_output=True, text=True, env=_env(), timeout=900)
    assert full.returncode == 0, full.stderr[-3000:]
    killed = _launch(script, tmp_path / "resumed", "small_cnn", 64, nproc=2, crash_epoch=0)
    assert killed.returncode != 0
    history = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1]
    assert not list((tmp_path / "resumed").glob(".*.tmp")), "a temporary file survived the kill"
    again = _launch(script, tmp_path / "resumed", "small_cnn", 64, nproc=2)
    assert again.returncode == 0, again.stderr[-3000:]
    wf, wr = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    assert wf.keys() == wr.keys()
    for key in wf:
        assert torch.equal(wf[key], wr[key]), key
    hf = json.loads((tmp_path / "full" / "history.json").read_text())
    hr = json.loads((tmp_path / "resumed" / "history.json").read_text())
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in hf]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in hr]
