"""Training loop: determinism, exact resume after a crash (incl. a real kill -9), config checks."""

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

from attrbench.errors import AttrbenchError
from attrbench.training import TrainConfig, train
from attrbench.training.loop import _lr_at


def _cfg(**kw) -> TrainConfig:
    base = dict(dataset="cifar10-mini", model="small_cnn", epochs=2, batch_size=32, train_limit=64,
                test_limit=32, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig.from_recipe("quick", **base)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_same_seed_gives_identical_weights_and_history(tmp_path: Path) -> None:
    r1 = train(_cfg(augment="fpa", augment_preset="cifar"), tmp_path / "a", progress=False)
    r2 = train(_cfg(augment="fpa", augment_preset="cifar"), tmp_path / "b", progress=False)
    _assert_same_weights(tmp_path / "a", tmp_path / "b")
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]
    assert len(r1.history) == 2 and 0.0 <= r1.test_accuracy <= 1.0


def test_different_seed_gives_different_weights(tmp_path: Path) -> None:
    train(_cfg(seed=1, epochs=1), tmp_path / "a", progress=False)
    train(_cfg(seed=2, epochs=1), tmp_path / "b", progress=False)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path: Path) -> None:
    cfg = _cfg(epochs=3, augment="rectangle")
    train(cfg, tmp_path / "full", progress=False)

    class Crash(Exception):
        pass

    def crash_after_first(epoch: int) -> None:
        if epoch == 0:
            raise Crash

    with pytest.raises(Crash):
        train(cfg, tmp_path / "resumed", on_epoch_end=crash_after_first, progress=False)
    assert len(json.loads((tmp_path / "resumed" / "history.json").read_text())) == 1
    result = train(cfg, tmp_path / "resumed", progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    _assert_same_weights(tmp_path / "full", tmp_path / "resumed")


def test_resume_after_kill_9(tmp_path: Path) -> None:
    """A real SIGKILL right after epoch 1 is on disk; the rerun finishes with the same weights."""
    script = textwrap.dedent(f"""
        import os, signal
        from attrbench.training import TrainConfig, train
        cfg = TrainConfig.from_recipe("quick", dataset="cifar10-mini", model="small_cnn", epochs=2,
                                      batch_size=32, train_limit=64, test_limit=32, device="cpu", seed=5)
        def die(epoch):
            if epoch == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        train(cfg, {str(tmp_path / 'killed')!r}, on_epoch_end=die, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ))  # same thread count as this process: same float order
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not list((tmp_path / "killed").glob(".*.tmp")), "a temporary file survived the kill"
    cfg = _cfg(epochs=2, seed=5)
    result = train(cfg, tmp_path / "killed", progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2]
    train(cfg, tmp_path / "clean", progress=False)
    _assert_same_weights(tmp_path / "killed", tmp_path / "clean")


def test_finished_run_is_loaded_not_retrained(tmp_path: Path) -> None:
    cfg = _cfg(epochs=1)
    first = train(cfg, tmp_path / "r", progress=False)
    mtime = (tmp_path / "r" / "model.safetensors").stat().st_mtime_ns
    again = train(cfg, tmp_path / "r", progress=False)
    assert (tmp_path / "r" / "model.safetensors").stat().st_mtime_ns == mtime
    assert again.test_accuracy == first.test_accuracy


def test_folder_with_other_config_is_refused(tmp_path: Path) -> None:
    train(_cfg(epochs=1), tmp_path / "r", progress=False)
    with pytest.raises(AttrbenchError, match=r"different config \(differs in: lr\).*delete the folder"):
        train(_cfg(epochs=1, lr=0.123), tmp_path / "r", progress=False)


def test_run_json_records_config_seed_and_versions(tmp_path: Path) -> None:
    train(_cfg(epochs=1), tmp_path / "r", progress=False)
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["seed"] == 3 and run["config"]["model"] == "small_cnn"
    assert run["versions"]["torch"] == torch.__version__
    sidecar = json.loads((tmp_path / "r" / "model.json").read_text())
    assert "test_accuracy" in json.dumps(sidecar)


def test_schedules() -> None:
    step = TrainConfig.from_recipe("paper-cifar", dataset="d", model="m")
    assert _lr_at(step, 0) == pytest.approx(0.01)
    assert _lr_at(step, 29) == pytest.approx(0.01)
    assert _lr_at(step, 30) == pytest.approx(0.001)
    ref = TrainConfig.from_recipe("reference-cifar", dataset="d", model="m")
    assert _lr_at(ref, 60) == pytest.approx(1e-4) and ref.crop_padding == 4 and ref.epochs == 90
    cos = TrainConfig.from_recipe("paper-food101", dataset="d", model="m")
    assert _lr_at(cos, 0) == pytest.approx(0.1)
    assert _lr_at(cos, 34) == pytest.approx(0.05)


@pytest.mark.parametrize(("kw", "message"), [
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"lr": -1.0}, "lr must be > 0"),
    ({"schedule": "linear"}, "Unknown schedule 'linear'"),
    ({"train_limit": 0}, "train_limit must be >= 1"),
    ({"bogus": 1}, "Unknown training option 'bogus'"),
])
def test_bad_config_values(kw: dict, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        TrainConfig.from_recipe("quick", dataset="d", model="m", **kw)


def test_unknown_recipe_lists_valid_ones() -> None:
    with pytest.raises(AttrbenchError, match=r"Unknown recipe 'paper-cifr'. Did you mean 'paper-cifar'"):
        TrainConfig.from_recipe("paper-cifr", dataset="d", model="m")


def test_pgd_regime_runs_and_is_recorded(tmp_path: Path) -> None:
    cfg = TrainConfig.from_recipe("quick", dataset="mnist-mini", model="small_cnn", epochs=1,
                                  batch_size=32, train_limit=64, test_limit=16, device="cpu",
                                  regime="pgd", regime_preset="mnist",
                                  regime_params={"steps": 2}, seed=3)
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    _assert_same_weights(tmp_path / "a", tmp_path / "b")
    sidecar = json.loads((tmp_path / "a" / "model.json").read_text())
    assert sidecar["regime"]["name"] == "pgd" and sidecar["regime"]["preset"] == "mnist"
    assert sidecar["regime"]["params"] == {"steps": 2}
    assert sidecar["regime"]["resolved"]["steps"] == 2
    assert sidecar["regime"]["resolved"]["eps"] == pytest.approx(0.3)
    run = json.loads((tmp_path / "a" / "run.json").read_text())["config"]
    assert (run["regime"], run["regime_preset"], run["regime_params"]) == ("pgd", "mnist",
                                                                          {"steps": 2})
    assert "adversarial" not in run
    natural = _cfg(epochs=1, dataset="mnist-mini", batch_size=32, train_limit=64, test_limit=16)
    train(natural, tmp_path / "n", progress=False)
    wn, wa = _weights(tmp_path / "n"), _weights(tmp_path / "a")
    assert any(not torch.equal(wn[k], wa[k]) for k in wn)


def test_unknown_regime_and_renamed_options() -> None:
    with pytest.raises(AttrbenchError, match="Unknown training regime 'fgsm'.*ig-norm, none, pgd"):
        TrainConfig.from_recipe("quick", dataset="d", model="m", regime="fgsm")
    with pytest.raises(AttrbenchError, match="'adversarial' is now 'regime'; rename it"):
        TrainConfig.from_recipe("quick", dataset="d", model="m", adversarial="pgd")
    with pytest.raises(AttrbenchError, match="'none' takes no preset or parameters"):
        TrainConfig.from_recipe("quick", dataset="d", model="m", regime_preset="mnist")
    with pytest.raises(AttrbenchError, match=r"Unknown IG-NORM option\(s\) lambda"):
        TrainConfig.from_recipe("quick", dataset="d", model="m", regime="ig-norm",
                                regime_params={"lambda": 1})


def test_run_folder_from_before_a_new_option_still_resumes(tmp_path: Path) -> None:
    """A run.json without a newer option (here: the regime) counts as having its default."""
    cfg = _cfg(epochs=1)
    train(cfg, tmp_path / "r", progress=False)
    run_file = tmp_path / "r" / "run.json"
    run = json.loads(run_file.read_text())
    for key in ("adversarial", "adversarial_preset", "adversarial_params"):
        del run["config"][key]
    run_file.write_text(json.dumps(run))
    assert train(cfg, tmp_path / "r", progress=False).history


def test_none_fpa_and_rectangle_runs_see_identical_batches_crops_and_flips(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FPA draws from its own generator stream, so the three runs are paired batch by batch."""
    import attrbench.training.loop as loop

    seen: dict[str, list[torch.Tensor]] = {}
    current: list[str] = []
    real_flip = loop.random_hflip

    def recording_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        out = real_flip(x, gen)
        seen.setdefault(current[-1], []).append(out.clone())
        return out

    monkeypatch.setattr(loop, "random_hflip", recording_flip)
    for aug in ("none", "fpa", "rectangle"):
        current.append(aug)
        preset = "cifar" if aug == "fpa" else None
        train(_cfg(augment=aug, augment_preset=preset, epochs=2), tmp_path / aug, progress=False)
    assert len(seen["none"]) == len(seen["fpa"]) == len(seen["rectangle"]) == 4
    for a, b, c in zip(seen["none"], seen["fpa"], seen["rectangle"]):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_crop_padding_is_black_not_the_mask_value(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Recipes pad crops with black (pixel 0 -> -1 after CIFAR normalisation), recorded in the sidecar."""
    import attrbench.training.loop as loop

    fills: list[object] = []
    real_crop = loop.random_crop

    def recording_crop(x, padding, gen, fill=0.0):
        fills.append(fill)
        return real_crop(x, padding, gen, fill=fill)

    monkeypatch.setattr(loop, "random_crop", recording_crop)
    train(_cfg(epochs=1), tmp_path / "r", progress=False)
    assert fills and all(f == [-1.0, -1.0, -1.0] for f in fills)
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["crop"] == {"padding": 2, "fill": "black"}


@pytest.mark.parametrize("content", [b"\x80\x04truncated", b"not a pickle at all"])
def test_truncated_or_foreign_resume_state_gives_one_line(tmp_path: Path, content: bytes) -> None:
    cfg = _cfg(epochs=2)
    train(cfg, tmp_path / "r", progress=False)
    (tmp_path / "r" / "resume.pt").write_bytes(content)
    with pytest.raises(AttrbenchError, match="not a readable training state.*delete it"):
        train(cfg, tmp_path / "r", progress=False)


def test_resume_state_with_code_in_it_is_refused_never_run(tmp_path: Path) -> None:
    import pickle

    cfg = _cfg(epochs=2)
    train(cfg, tmp_path / "r", progress=False)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"model": Evil()}, tmp_path / "r" / "resume.pt", pickle_module=pickle)
    with pytest.raises(AttrbenchError, match="not a readable training state"):
        train(cfg, tmp_path / "r", progress=False)
    assert not marker.exists()
