"""Resuming ROAR / IteROAR from a folder reduced to its results (scripts/ledger.py); guards."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from attrbench.errors import AttrbenchError
from attrbench.roar import RoarConfig, run_roar
from attrbench.roar.iterative import IteRoarConfig, run_iteroar

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ledger.py"
VG = "vanilla_gradient|abs_sum"
COLS = ["variant", "threshold", "repeat", "test_accuracy", "train_accuracy", "model_sha256"]


@pytest.fixture(scope="module")
def ledger() -> Any:
    spec = importlib.util.spec_from_file_location("ledger", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ledger"] = module
    spec.loader.exec_module(module)
    return module


def _set_column(shard: Path, column: str, value: str) -> None:
    frame = pd.read_parquet(shard)
    frame[column] = value
    frame.to_parquet(shard, index=False)


@pytest.fixture(scope="module")
def roar_run(tmp_path_factory: pytest.TempPathFactory,
             tiny_module: dict[str, Any]) -> tuple[RoarConfig, Path, pd.DataFrame]:
    cfg = RoarConfig(variants=("random", VG), thresholds=(50,), repeats=2, **tiny_module)
    out = tmp_path_factory.mktemp("roar") / "run"
    return cfg, out, run_roar(cfg, out)


def test_roar_resumes_from_its_ledger(tmp_path: Path, roar_run: Any, ledger: Any) -> None:
    cfg, out, table = roar_run
    assert table["model_sha256"].str.len().eq(64).all()
    maps = pd.read_parquet(next((out / "tables" / "maps").glob("*.parquet")))
    assert maps["maps_sha256"].str.len().eq(64).all()  # VG's maps; random is not cached
    kept = [str(p) for p in ledger.kept_files(out)]
    assert "config.json" in kept and any(p.startswith("train/none_t0_r0/") for p in kept)
    assert not any(p.startswith(("train/none_t0_r1", "train/random")) for p in kept)
    assert not any(p.startswith("maps/") for p in kept)  # the cached maps are left out
    assert [p for p in kept if p.startswith("probes/")] == [  # VG's probe (random has none)
        f"probes/{p.name}" for p in (out / "probes").glob("vanilla_gradient+abs_sum_*.npz")]

    saved = tmp_path / "ledger" / "run"
    assert ledger.save(out, saved)[0] == len(kept)
    assert ledger.save(out, saved) == (0, len(kept))  # unchanged files are not rewritten
    # A new checkout: the ledger only, one finished row lost as well.
    fresh = tmp_path / "fresh"
    copied, same, differing = ledger.restore(saved, fresh)
    assert (copied, same, differing) == (len(kept), 0, [])
    next((fresh / "tables" / "accuracy").glob("vanilla*_t50_r1.parquet")).unlink()
    again = run_roar(cfg, fresh)
    pd.testing.assert_frame_equal(again[COLS], table[COLS])  # maps recomputed, identical
    assert not (fresh / "train" / "none_t0_r1").exists()  # a finished row is not retrained
    assert not (fresh / "train" / "random_t50_r0").exists()
    assert (fresh / "train" / "vanilla_gradient+abs_sum_t50_r1").is_dir()


def _lose_maps(out: Path, tmp_path: Path) -> Path:
    """A copy of ``out`` without its cached maps (the probe kept) and one finished VG row."""
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "maps")
    next((copy / "tables" / "accuracy").glob("vanilla*_t50_r1.parquet")).unlink()
    return copy


def test_recomputed_maps_are_checked_against_the_probe(tmp_path: Path, roar_run: Any) -> None:
    """Maps that are not bit-identical (as on another CPU) but make the same removal decisions
    on the probe are used, and recorded; other decisions or no probe are refused."""
    from attrbench.roar import benchmark

    cfg, out, table = roar_run
    copy = _lose_maps(out, tmp_path)
    _set_column(next((copy / "tables" / "maps").glob("*.parquet")), "maps_sha256", "0" * 64)
    lines: list[str] = []
    again = run_roar(cfg, copy, log=lines.append)
    pd.testing.assert_frame_equal(again[COLS], table[COLS])
    assert any("recomputed; not bit-identical" in line and "100.0000 %" in line for line in lines)
    record = pd.read_parquet(copy / "tables" / "maps_recomputed")
    assert record["probe_agreement"].tolist() == [1.0] and record["recorded_sha256"][0] == "0" * 64

    # The probe's decisions reversed: the maps are refused.
    copy2 = _lose_maps(out, tmp_path / "b")
    _set_column(next((copy2 / "tables" / "maps").glob("*.parquet")), "maps_sha256", "0" * 64)
    probe = next((copy2 / "probes").glob("*.npz"))
    with np.load(probe) as data:
        flipped = {k: -data[k] for k in data.files}
    np.savez_compressed(probe, **flipped)
    with pytest.raises(AttrbenchError, match=r"other removal decisions.*agree, fewer than 99.9 %"):
        run_roar(cfg, copy2)
    assert benchmark.MIN_AGREEMENT == 0.999

    # No probe (a folder from before probes): only bit-identical maps are used.
    probe.unlink()
    with pytest.raises(AttrbenchError,
                       match="recomputed maps of vanilla_gradient.*no probe.*differs"):
        run_roar(cfg, copy2)


def test_roar_refuses_another_reference_model(tmp_path: Path, roar_run: Any) -> None:
    cfg, out, _ = roar_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "train" / "none_t0_r0")
    next((copy / "tables" / "accuracy").glob("vanilla*_t50_r1.parquet")).unlink()
    _set_column(copy / "tables" / "accuracy" / "none_t0_r0.parquet", "model_sha256", "f" * 64)
    with pytest.raises(AttrbenchError, match="repeat-0 model.*differs.*none_t0_r0"):
        run_roar(cfg, copy)


def test_finished_roar_folder_trains_nothing(tmp_path: Path, roar_run: Any, ledger: Any) -> None:
    cfg, out, table = roar_run
    copy = tmp_path / "copy"
    ledger.restore(_saved(out, tmp_path, ledger), copy)
    shutil.rmtree(copy / "train")  # not even repeat 0's model is needed once every row exists
    pd.testing.assert_frame_equal(run_roar(cfg, copy)[COLS], table[COLS])
    assert not (copy / "train").exists()


def _saved(out: Path, tmp_path: Path, ledger: Any) -> Path:
    saved = tmp_path / "ledger"
    ledger.save(out, saved)
    return saved


def test_iteroar_skips_finished_chains_and_guards_f0(tmp_path: Path, tiny: dict[str, Any],
                                                      ledger: Any) -> None:
    cfg = IteRoarConfig(variants=("random", VG), tau=90, rho=0.3, repeats=1, **tiny)
    out = tmp_path / "run"
    first = run_iteroar(cfg, out)
    assert first["accuracy"]["model_sha256"].str.len().eq(64).all()
    kept = ledger.kept_files(out)
    assert kept[0] == Path("config.json") and not any(p.parts[0] == "masks" for p in kept)
    assert {p.parts[1] for p in kept if p.parts[0] == "train"} == {"original_r0_i0"}  # f_0 only

    fresh = tmp_path / "fresh"
    ledger.restore(_saved(out, tmp_path, ledger), fresh)
    again = run_iteroar(cfg, fresh)  # both chains finished: nothing is trained
    assert [p.name for p in (fresh / "train").iterdir()] == ["original_r0_i0"]
    assert not (fresh / "masks").exists()
    for name in ("accuracy", "overlap"):
        pd.testing.assert_frame_equal(again[name], first[name])

    # VG's chain lost its last row: it runs again from a retrained f_0, which must be the same.
    (fresh / "tables" / "accuracy" / "vanilla_gradient+abs_sum_r0_i3.parquet").unlink()
    (fresh / "tables" / "overlap" / "vanilla_gradient+abs_sum_r0.parquet").unlink()
    redo = run_iteroar(cfg, fresh)
    cols = ["variant", "iteration", "test_accuracy", "model_sha256"]
    pd.testing.assert_frame_equal(redo["accuracy"][cols], first["accuracy"][cols])
    assert not (fresh / "masks" / "random_r0_i0.npz").exists()  # the random chain stayed done

    (fresh / "tables" / "overlap" / "vanilla_gradient+abs_sum_r0.parquet").unlink()
    shutil.rmtree(fresh / "train")
    shutil.rmtree(fresh / "masks")
    _set_column(fresh / "tables" / "accuracy" / "original_r0_i0.parquet", "model_sha256", "a" * 64)
    with pytest.raises(AttrbenchError, match="original_r0_i0 differs"):
        run_iteroar(cfg, fresh)


def test_restore_keeps_live_files(tmp_path: Path, roar_run: Any, ledger: Any) -> None:
    _, out, _ = roar_run
    saved = _saved(out, tmp_path, ledger)
    live = tmp_path / "live"
    ledger.restore(saved, live)
    (live / "config.json").write_text("{}")
    copied, same, differing = ledger.restore(saved, live)
    assert copied == 0 and differing == [live / "config.json"]
    assert (live / "config.json").read_text() == "{}"
    with pytest.raises(SystemExit, match="no config.json"):
        ledger.kept_files(tmp_path / "missing")


def test_unfinished_training_is_not_kept(tmp_path: Path, roar_run: Any, ledger: Any) -> None:
    _, out, _ = roar_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    history = copy / "train" / "none_t0_r0" / "history.json"
    assert ledger.finished_training(history.parent)
    history.write_text("[]")  # as after a crash before the last epoch
    assert not ledger.finished_training(history.parent)
    assert not any(p.parts[0] == "train" for p in ledger.kept_files(copy))


def test_leakage_runs_per_chain_and_survives_lost_masks(tmp_path: Path, tiny: dict[str, Any],
                                                        ledger: Any) -> None:
    from attrbench.roar.leakage import ChainLeakage

    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.2, repeats=2, **tiny)
    out = tmp_path / "run"
    calls: list[tuple[str, int]] = []
    hook = ChainLeakage(cfg, out, (1,), runs=3, epochs=1)

    class Spy:  # records when the hook runs: right after each chain, before the next
        def done(self, variant: str, repeat: int) -> bool:
            return hook.done(variant, repeat)

        def __call__(self, variant: str, repeat: int) -> None:
            calls.append((variant, repeat))
            assert (out / "masks" / f"random_r{repeat}_i1.npz").exists()
            hook(variant, repeat)

    first = run_iteroar(cfg, out, after_chain=Spy())
    assert calls == [("random", 0), ("random", 1)]
    rows = pd.read_parquet(out / "tables" / "leakage")
    assert list(rows["iteration"]) == [1] and list(rows["repeat"]) == [0]  # repeat 0 only

    # A new checkout whose chain finished but whose leakage test did not: the masks are gone,
    # so the chain is recomputed (the same models, by their SHA-256) and then tested.
    fresh = tmp_path / "fresh"
    ledger.restore(_saved(out, tmp_path, ledger), fresh)
    next((fresh / "tables" / "leakage").glob("*.parquet")).unlink()
    again = run_iteroar(cfg, fresh, after_chain=ChainLeakage(cfg, fresh, (1,), runs=3, epochs=1))
    redo = pd.read_parquet(fresh / "tables" / "leakage")
    pd.testing.assert_frame_equal(redo, rows)
    pd.testing.assert_frame_equal(again["accuracy"].drop(columns="seconds"),
                                  first["accuracy"].drop(columns="seconds"))
    assert not (fresh / "masks" / "random_r1_i0.npz").exists()  # repeat 1 needed no test
    # Everything stored: a further run trains nothing.
    shutil.rmtree(fresh / "train")
    shutil.rmtree(fresh / "masks")
    run_iteroar(cfg, fresh, after_chain=ChainLeakage(cfg, fresh, (1,), runs=3, epochs=1))
    assert not (fresh / "train").exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"iterations": (2,)}, "must lie in 0..1"),
    ({"iterations": ()}, "must lie in 0..1"),
    ({"iterations": (0,), "ops": ("blur",)}, "Unknown mask operation 'blur'"),
    ({"iterations": (0,), "runs": 2}, "at least 3 runs"),
])
def test_chain_leakage_checks_its_plan(tmp_path: Path, tiny: dict[str, Any],
                                       kwargs: dict[str, Any], message: str) -> None:
    from attrbench.roar.leakage import ChainLeakage

    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.2, repeats=1, **tiny)
    with pytest.raises(AttrbenchError, match=message):
        ChainLeakage(cfg, tmp_path, **kwargs)


def test_iteroar_chain_without_its_masks_is_recomputed_in_one_piece(
        tmp_path: Path, tiny: dict[str, Any]) -> None:
    """Rows whose masks are gone are not continued: as on another machine, where retraining
    the chain need not reproduce them, the chain is discarded and computed again from f_0."""
    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.3, repeats=1, **tiny)
    out = tmp_path / "run"
    first = run_iteroar(cfg, out)["accuracy"]
    shutil.rmtree(out / "masks")
    (out / "tables" / "overlap" / "random_r0.parquet").unlink()  # interrupted before the end
    _set_column(out / "tables" / "accuracy" / "random_r0_i2.parquet", "model_sha256", "b" * 64)
    lines: list[str] = []
    again = run_iteroar(cfg, out, log=lines.append)["accuracy"]
    assert any("random_r0: the masks of its iterations after 0 are gone" in line
               and "on from f_0" in line for line in lines)
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), first.drop(columns="seconds"))
    assert (out / "tables" / "overlap" / "random_r0.parquet").exists()


def test_autosave_commits_only_the_ledger(tmp_path: Path, roar_run: Any) -> None:
    """scripts/ledger_autosave.sh: one round commits the ledger on top of HEAD, leaves other
    changes in the working tree alone, and the index follows (a plain commit keeps the ledger)."""
    import subprocess

    _, out, _ = roar_run
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("ledger.py", "ledger_autosave.sh"):
        shutil.copy(SCRIPT.parent / name, repo / "scripts" / name)
    (repo / "README").write_text("one\n")
    shutil.copytree(out, repo / "runs" / "roar16" / "roar")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=repo, check=True, capture_output=True, text=True).stdout

    git("init", "-q", "-b", "main")
    git("add", "README", "scripts")
    git("commit", "-q", "-m", "start")
    (repo / "README").write_text("two\n")  # an uncommitted change of someone else
    env = {**os.environ, "ONCE": "1", "PY": sys.executable, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(["bash", "scripts/ledger_autosave.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, check=True)
    assert "committed" in done.stdout
    files = git("show", "--name-only", "--format=", "HEAD").split()
    assert "docs/results/ledger/roar16/roar/config.json" in files and "README" not in files
    assert git("show", "HEAD:README") == "one\n" and (repo / "README").read_text() == "two\n"
    assert git("status", "--porcelain", "--", "docs") == ""  # the index follows the ledger
    again = subprocess.run(["bash", "scripts/ledger_autosave.sh"], cwd=repo, env=env,
                           capture_output=True, text=True, check=True)
    assert "committed" not in again.stdout  # nothing new: no empty commit
    end = subprocess.run(["bash", "scripts/ledger_autosave.sh"], cwd=repo,
                         env={**env, "SESSION_END": "1"}, capture_output=True, text=True,
                         check=True)
    assert "files saved" in end.stdout and "committed" not in end.stdout  # nothing in flight


def test_session_end_save_lets_a_chain_go_on(tmp_path: Path, tiny: dict[str, Any],
                                             ledger: Any) -> None:
    """A chain cut after iteration 1 (f_2 half trained) goes on in a new checkout from the
    session-end ledger: nothing discarded, f_1 not retrained, the same rows as in one piece."""
    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.3, repeats=1, **tiny)
    whole = run_iteroar(cfg, tmp_path / "whole")["accuracy"]
    out = tmp_path / "run"
    shutil.copytree(tmp_path / "whole", out)
    for i in (2, 3):  # cut while f_2 trained: its row, later rows, masks and overlap not made
        (out / "tables" / "accuracy" / f"random_r0_i{i}.parquet").unlink()
        shutil.rmtree(out / "train" / f"random_r0_i{i + 1}", ignore_errors=True)
    (out / "masks" / "random_r0_i2.npz").unlink()
    (out / "tables" / "overlap" / "random_r0.parquet").unlink()
    (out / "tables" / "overlap_samples" / "random_r0.parquet").unlink()
    plain = ledger.kept_files(out)
    assert not any(p.parts[0] == "masks" for p in plain)
    assert ledger.resolve_chains(out, ("auto",)) == ("random_r0",)  # of the newest mask
    kept = ledger.kept_files(out, session_end=True, masks_of=("random_r0",))
    assert {p.name for p in kept if p.parts[0] == "masks"} == {"random_r0_i0.npz",
                                                               "random_r0_i1.npz"}
    # f_2 has no row yet: kept (its resume.pt); f_1 has its row and its masks: not needed.
    assert {p.parts[1] for p in kept if p.parts[0] == "train"} == {"original_r0_i0",
                                                                  "random_r0_i2"}
    with pytest.raises(SystemExit, match="--session-end"):
        ledger.save(out, tmp_path / "ledger", masks_of=("random_r0",))
    saved = tmp_path / "ledger"
    ledger.save(out, saved, session_end=True, masks_of=("random_r0",))

    fresh = tmp_path / "fresh"
    ledger.restore(saved, fresh)
    lines: list[str] = []
    again = run_iteroar(cfg, fresh, log=lines.append)["accuracy"]
    assert not any("masks are gone" in line for line in lines)
    assert not (fresh / "train" / "random_r0_i1").exists()  # continued, not retrained
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), whole.drop(columns="seconds"))


def test_prune_follows_the_run_only_in_a_restored_folder(tmp_path: Path, tiny: dict[str, Any],
                                                         ledger: Any) -> None:
    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.3, repeats=1, **tiny)
    out = tmp_path / "run"
    run_iteroar(cfg, out)
    saved = tmp_path / "ledger"
    ledger.save(out, saved, session_end=True, masks_of=("random_r0",))
    row = Path("tables") / "accuracy" / "random_r0_i3.parquet"
    (out / row).unlink()
    assert ledger.prune(out, saved) == 0  # a folder not made by restore deletes nothing
    assert (saved / row).exists()

    fresh = tmp_path / "fresh"
    ledger.restore(saved, fresh)
    assert (fresh / ledger.RESTORED).is_file()
    (fresh / row).unlink()  # as when the run discards a stale chain
    assert ledger.prune(fresh, saved) == 1  # the plain (autosave) save: tables only
    assert not (saved / row).exists() and (saved / "masks" / "random_r0_i0.npz").exists()
    # A session-end save that names no chain drops the masks; the reference model stays.
    ledger.save(fresh, saved, session_end=True)
    assert ledger.prune(fresh, saved, session_end=True) == 3
    assert not (saved / "masks").exists()
    assert ledger.finished_training(saved / "train" / "original_r0_i0")


@pytest.mark.parametrize("keep_f2", [False, True])
def test_iteroar_chain_goes_on_from_its_last_surviving_masks(
        tmp_path: Path, tiny: dict[str, Any], keep_f2: bool) -> None:
    """Masks of iterations 0 and 1 survive, 2 not: the chain goes on from f_2 if its finished
    training folder is there (its masks remade from it), else from f_1 (f_2 retrained); the rows
    after that point are recomputed, the ones before kept, and the chain ends as in one piece."""
    cfg = IteRoarConfig(variants=("random",), tau=90, rho=0.3, repeats=1, **tiny)
    out = tmp_path / "run"
    first = run_iteroar(cfg, out)["accuracy"]
    (out / "masks" / "random_r0_i2.npz").unlink()
    (out / "tables" / "overlap" / "random_r0.parquet").unlink()  # unfinished chain
    for i in (1, 3) if keep_f2 else (1, 2, 3):
        shutil.rmtree(out / "train" / f"random_r0_i{i}")
    f2 = out / "train" / "random_r0_i2" / "model.safetensors"
    before = f2.stat().st_mtime_ns if keep_f2 else None
    row3 = out / "tables" / "accuracy" / "random_r0_i3.parquet"
    _set_column(row3, "model_sha256", "c" * 64)  # recomputed, so a stale value cannot survive
    lines: list[str] = []
    again = run_iteroar(cfg, out, log=lines.append)["accuracy"]
    point = 2 if keep_f2 else 1
    assert any(f"after {point} are gone" in line and f"on from iteration {point}" in line
               for line in lines)
    # f_1 is not retrained (its masks survive); f_2 is reloaded (kept) or retrained; f_3 retrained.
    assert {p.name for p in (out / "train").iterdir()} == {"original_r0_i0", "random_r0_i2",
                                                           "random_r0_i3"}
    assert (f2.stat().st_mtime_ns == before) is keep_f2
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), first.drop(columns="seconds"))
    assert (out / "tables" / "overlap" / "random_r0.parquet").exists()
