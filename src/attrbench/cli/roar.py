"""``attrbench roar`` and ``attrbench iteroar``: remove-and-retrain benchmarks from the shell.

CPU-sized defaults (``--preset cpu``: embedded CIFAR subset, small_cnn, 2 epochs, 5000/500
images); ``--preset paper`` is the papers' setting (ResNet-50 from scratch on full splits).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from attrbench.cli.app import app
from attrbench.cli.options import build_config, option
from attrbench.errors import AttrbenchError

def _o(text: str, *decls: str) -> Any:
    """A Typer option with help ``text``."""
    return typer.Option(*decls, help=text)


OptStr = Optional[str]
OptInt = Optional[int]
Out = Annotated[Optional[Path], option(
    "out", "Results folder (resumes if it holds the same config).")]
Preset = Annotated[str, _o(
    "cpu (embedded CIFAR subset, small_cnn, 2 epochs; a demo), cifar (ResNet-20 on the full "
    "CIFAR-10 JPEG splits, 10 epochs, bf16; VG, IG, SG², VarGrad and random, 2 repeats; IG 16 "
    "steps and SG²/VarGrad 10 samples, cut from the papers\x27 25 to fit a CPU; give --data-root) "
    "or paper (ResNet-50, full splits).")]
Dataset = Annotated[OptStr, option("dataset")]
Model = Annotated[OptStr, option("model", "Architecture retrained at every point.")]
Recipe = Annotated[OptStr, _o("Training recipe (attrbench train --help lists them).")]
Epochs = Annotated[OptInt, _o("Override the recipe's epochs.")]
BatchSize = Annotated[OptInt, _o("Override the recipe's batch size.")]
Method = Annotated[Optional[list[str]], option(
    "method", "Estimator 'method|post' or 'random' (repeatable, comma-separated); per-element "
              "ranking takes method names.")]
Repeats = Annotated[OptInt, _o("Independent retrains per point \\[default: 3].")]
Unit = Annotated[OptStr, _o("spatial (channel-reduced pixels) or element (per channel, as the "
                            "ROAR code).")]
Fill = Annotated[OptStr, _o("mean (training per-channel mean), zero, or removed_mean (per image "
                            "and channel).")]
Limit = Annotated[OptInt, _o("Use the first N images of the split.")]
Seed = Annotated[OptInt, option("seed", "Base seed; repeat r uses seed + r.")]
Device = Annotated[OptStr, option("device")]
DataRoot = Annotated[OptStr, option("data_root")]
ImageSize = Annotated[OptInt, option(
    "image_size", "Resize side for ImageFolder data (224 for the paper).")]
Config = Annotated[Optional[Path], option(
    "config", "TOML file; its \\[roar]/\\[iteroar] table is overridden by explicit flags.")]
NoReport = Annotated[bool, _o("Skip figures and report.html.", "--no-report")]
Thresholds = Annotated[OptStr, _o("Percent removed, e.g. 10,30,50,70,90.")]
Kar = Annotated[bool, _o("Keep-and-retrain: remove the least important t %.", "--kar")]
Shard = Annotated[OptStr, _o(
    "K/N: run only shard K of N into the same --out (N processes or machines on a shared "
    "filesystem, each resuming alone); auto: K, N from torchrun or SLURM. roar: block K of the "
    "(estimator, threshold) points listed estimator-major, shard 0 also trains the t = 0 models "
    "and the others wait for its repeat-0 model; iteroar: the chains c with c % N == K "
    "(repeat-major), shard 0 also trains every repeat\x27s f_0 and the others wait for it. "
    "The report is written by the shard that finds every row on disk.")]
Order = Annotated[OptStr, _o(
    "threshold (all variants at 90 %, then 50 %, ...: the most informative rows first) or "
    "variant (all thresholds of one variant, then the next: each variant\x27s maps are needed "
    "once, for runs that span sessions whose maps/ cache is lost); the rows are the same "
    "\\[default: threshold].")]
Tau = Annotated[Optional[float], _o("Percentile threshold per map \\[default: 95].")]
Rho = Annotated[Optional[float], _o("Largest masked fraction of the area \\[default: 0.5].")]
Iterations = Annotated[OptInt, _o("I \\[default: rho / (1 - tau/100)].")]
Target = Annotated[OptStr, option(
    "target", "Class explained: predicted (default, as the ROAR code) or label (the paper's "
              "z = (x, y); warns: label maps leak the label into the masks, Sec. 4.7) "
              "\\[default: predicted].")]
IterFill = Annotated[OptStr, _o("zero (paper's x*m, default), removed_mean or mean.")]
Leakage = Annotated[bool, _o(
    "Run the mask-leakage test on each repeat-0 chain as soon as it is finished, while its "
    "masks are on disk; a chain counts as finished once its tests are stored.", "--leakage")]
LeakageIteration = Annotated[Optional[list[int]], _o(
    "Iterations whose masks are tested (repeatable, 0-based) \\[default: the last].")]
MaskOp = Annotated[Optional[list[str]], _o("Also test after dilate, erode, shift or hull (repeatable).")]
LeakageRuns = Annotated[int, _o("Runs per arm of the leakage test (>= 3).")]
LeakageEpochs = Annotated[int, _o("Epochs of each mask classifier.")]


def _split_list(items: list[str] | None) -> tuple[str, ...] | None:
    if not items:
        return None
    return tuple(t.strip() for item in items for t in item.split(",") if t.strip())


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise AttrbenchError(
            f"{what} must be comma-separated numbers, e.g. 10,30,50; got {text!r}.") from None


def _build(cls: Any, section: str, config: Path | None, preset: str, flags: dict[str, Any]) -> Any:
    return build_config(cls, config, section, flags, factory=functools.partial(cls.preset, preset))


def _shard(text: str | None, cfg: Any) -> tuple[tuple[int, int] | None, Any]:
    """``--shard`` parsed, and ``cfg`` on this shard's GPU (``cuda:LOCAL_RANK``) if it uses
    CUDA."""
    if text is None:
        return None, cfg
    import dataclasses

    from attrbench.results.shards import parse_shard, shard_device
    from attrbench.runtime import resolve_device

    device = shard_device(resolve_device(cfg.device))
    return parse_shard(text), dataclasses.replace(cfg, device=str(device))


def _finish(out: Path, no_report: bool, t0: float, missing: int = 0,
            what: str = "row(s)") -> None:
    typer.echo(f"finished in {time.perf_counter() - t0:.0f} s; results in {out}")
    if missing:
        typer.echo(f"{missing} {what} of other shards are not on disk yet; when every shard has "
                   f"finished, `attrbench report {out}` (or rerunning without --shard) writes "
                   "the report.")
    elif not no_report:
        from attrbench.roar.report import write_roar_report

        typer.echo(f"report: {write_roar_report(out)}")


@app.command("roar")
def roar_command(
    out: Out = None, preset: Preset = "cpu", dataset: Dataset = None, model: Model = None,
    recipe: Recipe = None, epochs: Epochs = None, batch_size: BatchSize = None,
    method: Method = None, thresholds: Thresholds = None, kar: Kar = False,
    order: Order = None, repeats: Repeats = None, unit: Unit = None, fill: Fill = None,
    train_limit: Limit = None, test_limit: Limit = None, seed: Seed = None,
    device: Device = None, data_root: DataRoot = None, image_size: ImageSize = None,
    config: Config = None, no_report: NoReport = False, shard: Shard = None,
) -> None:
    """ROAR / KAR: remove the top t % of features per estimator, retrain, report accuracy vs t."""
    from attrbench.results import summarise
    from attrbench.roar import RoarConfig, run_roar

    flags = dict(dataset=dataset, model=model, recipe=recipe, epochs=epochs, batch_size=batch_size,
                 variants=_split_list(method), thresholds=_floats(thresholds, "--thresholds"),
                 keep=kar or None, order=order, repeats=repeats, unit=unit, fill=fill,
                 train_limit=train_limit, test_limit=test_limit, seed=seed, device=device,
                 data_root=data_root, image_size=image_size)
    cfg = _build(RoarConfig, "roar", config, preset, flags)
    part, cfg = _shard(shard, cfg)
    out = out or Path(f"runs/{cfg.benchmark}")
    t0 = time.perf_counter()
    table = run_roar(cfg, out, log=typer.echo, shard=part)
    typer.echo(summarise(table, ("benchmark", "variant", "threshold"), "test_accuracy")
               .to_string(index=False))
    _finish(out, no_report, t0, int(table.attrs.get("missing_rows", 0)))


@app.command("iteroar")
def iteroar_command(
    out: Out = None, preset: Preset = "cpu", dataset: Dataset = None, model: Model = None,
    recipe: Recipe = None, epochs: Epochs = None, batch_size: BatchSize = None,
    method: Method = None, tau: Tau = None, rho: Rho = None, iterations: Iterations = None,
    target: Target = None, repeats: Repeats = None, unit: Unit = None, fill: IterFill = None,
    train_limit: Limit = None, test_limit: Limit = None, seed: Seed = None, device: Device = None,
    data_root: DataRoot = None, image_size: ImageSize = None, config: Config = None,
    leakage: Leakage = False, leakage_iteration: LeakageIteration = None, mask_op: MaskOp = None,
    leakage_runs: LeakageRuns = 3, leakage_epochs: LeakageEpochs = 5,
    no_report: NoReport = False, shard: Shard = None,
) -> None:
    """IteROAR: retrain, re-explain and occlude the top (100 - tau) % I times; MMO, MAMO, CMA."""
    from attrbench.roar.iterative import IteRoarConfig, run_iteroar
    from attrbench.roar.leakage import ChainLeakage

    if (mask_op or leakage_iteration) and not leakage:
        raise AttrbenchError("--mask-op and --leakage-iteration choose the leakage tests; add "
                             "--leakage to run them.")
    flags = dict(dataset=dataset, model=model, recipe=recipe, epochs=epochs, batch_size=batch_size,
                 variants=_split_list(method), tau=tau, rho=rho, iterations=iterations,
                 target=target, repeats=repeats, unit=unit, fill=fill, train_limit=train_limit,
                 test_limit=test_limit, seed=seed, device=device, data_root=data_root,
                 image_size=image_size)
    cfg = _build(IteRoarConfig, "iteroar", config, preset, flags)
    part, cfg = _shard(shard, cfg)
    out = out or Path("runs/iteroar")
    assert cfg.iterations is not None
    hook = None if not leakage else ChainLeakage(
        cfg, Path(out), tuple(leakage_iteration or [cfg.iterations - 1]),
        ops=(None, *(mask_op or [])), runs=leakage_runs, epochs=leakage_epochs, log=typer.echo)
    t0 = time.perf_counter()
    tables = run_iteroar(cfg, out, log=typer.echo, after_chain=hook, shard=part)
    cols = ["variant", "repeat", "mmo", "mamo", "mamo_frac_mask", "random_mamo", "cma",
            "cma_frac_area", "random_cma"]
    typer.echo(tables["overlap"][cols].round(3).to_string(index=False))
    _finish(out, no_report, t0, int(tables["accuracy"].attrs.get("missing_chains", 0)),
            "chain(s)")
