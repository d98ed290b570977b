"""``attrbench train``: train a model, with or without FPA / Rectangle augmentation, in a training
regime (natural, PGD or IG-NORM)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated, Optional

import typer

from attrbench.cli.app import app
from attrbench.cli.options import build_config, check_out_folder, option, parse_key_values
from attrbench.errors import AttrbenchError


@app.command()
def train(
    ctx: typer.Context,
    out: Annotated[Path, option("out", "Run folder (checkpoint, history, provenance).")],
    dataset: Annotated[Optional[str], option("dataset", "Registered dataset name or a data directory \\[default: cifar10-mini].")] = None,
    model: Annotated[Optional[str], option("model", "Registered model (see `attrbench models`) \\[default: small_cnn].")] = None,
    augment: Annotated[Optional[str], option("augment", "none, fpa or rectangle \\[default: none].")] = None,
    augment_preset: Annotated[Optional[str], typer.Option(help="Augmentation preset, e.g. cifar or imagenet for FPA.")] = None,
    augment_param: Annotated[Optional[list[str]], typer.Option(help="Augmentation override KEY=VALUE (repeatable), e.g. p1_max=0.3.")] = None,
    regime: Annotated[Optional[str], typer.Option(help="Training regime: none (natural), pgd (Madry et al. adversarial training: CE on PGD examples) or ig-norm (Chen et al.: CE + lam * max ||IG of the loss||_1; one process only) \\[default: none].")] = None,
    regime_preset: Annotated[Optional[str], typer.Option(help="Regime preset (Kamath et al. settings): mnist (eps 0.3, 40 steps of 0.01; ig-norm: m 10, lam 1) or flower (eps 8/255, 7 steps of 2/255; ig-norm: m 5, lam 0.1).")] = None,
    regime_param: Annotated[Optional[list[str]], typer.Option(help="Regime override KEY=VALUE (repeatable; budgets in [0, 1] pixel units): eps, step, steps, random_start; ig-norm also ig_steps, lam.")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="quick, cifar-resnet20, finetune, paper-cifar, reference-cifar, paper-imagenet, paper-food101 \\[default: quick].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override the recipe's epochs.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Override the recipe's learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Override the recipe's batch size.")] = None,
    seed: Annotated[Optional[int], option("seed", "Seed for weights, shuffling and augmentation \\[default: 0].")] = None,
    device: Annotated[Optional[str], option("device", "auto, cpu, cuda or cuda:N \\[default: auto].")] = None,
    amp: Annotated[Optional[bool], typer.Option("--amp/--no-amp", help="bfloat16 autocast (CUDA, and CPUs with AVX-512 BF16: ~1.4x faster) \\[default: off].")] = None,
    train_limit: Annotated[Optional[int], typer.Option(help="Use only N training images: a seeded stratified subset (every class in proportion, drawn with --seed; recorded as train_subset in run.json). [train] train_subset = \"first\" takes the first N (runs from before the subset).")] = None,
    test_limit: Annotated[Optional[int], typer.Option(help="Use only the first N test images (a reduced evaluation, never a draw).")] = None,
    data_root: Annotated[Optional[str], option("data_root", "Root folder for datasets read from disk.")] = None,
    image_size: Annotated[Optional[int], option("image_size", "Resize + centre-crop side for ImageFolder data.")] = None,
    init: Annotated[Optional[str], typer.Option(help="Fine-tune: start from these weights: a shipped model (cifar_resnet20.none, see `attrbench models`), a checkpoint, or a plain PyTorch state dict (.pt/.pth/.safetensors, read weights-only). Use with --recipe finetune.")] = None,
    crop_fill: Annotated[Optional[str], typer.Option(help="Crop padding: black (pixel 0 before normalisation, as the FPA authors' code), reflect, or mean (0 after normalisation = the FPA mask value; older runs) \\[default: black].")] = None,
    config: Annotated[Optional[Path], option("config", "TOML file with a \\[train] table; flags override it.")] = None,
    nproc: Annotated[Optional[int], typer.Option(help="Data-parallel processes on this node: relaunches this command under `torchrun --standalone --nproc-per-node N` (one per GPU with --device cuda). --batch-size stays the global batch.")] = None,
    dist_backend: Annotated[str, typer.Option(help="Under torchrun: auto (NCCL on CUDA, gloo on CPU), gloo or nccl.")] = "auto",
    sync_bn: Annotated[Optional[bool], typer.Option("--sync-bn/--no-sync-bn", help="Under torchrun: SyncBatchNorm over the global batch (CUDA only) \\[default: off: each process normalises with its own share].")] = None,
) -> None:
    """Train, writing checkpoint + per-epoch history atomically; rerun the same command to resume.

    Data-parallel: `torchrun --nproc-per-node N -m attrbench train ...` (or `--nproc N`) splits
    every global batch of --batch-size images over N processes; only rank 0 writes files, and
    rerunning the same command after a crash of any process resumes from the last epoch on disk.
    Departures from a plain DistributedSampler: no padding with repeated images (the test pass
    and the last batch are split unevenly instead), and the batches are the 1-process batches.
    """
    from attrbench.training.distributed import env_world

    if nproc is not None:
        if nproc < 1:
            raise AttrbenchError(f"--nproc must be >= 1, got {nproc}.")
        world = env_world()[1]
        if "TORCHELASTIC_RUN_ID" in os.environ or world > 1:
            if world != nproc:
                raise AttrbenchError(f"--nproc {nproc} given inside a torchrun job of {world} "
                                     "processes; drop --nproc when launching with torchrun.")
        elif nproc > 1:
            from attrbench.training.distributed import cli_args, torchrun_command

            cmd = torchrun_command(nproc, cli_args(ctx.command, ctx.params, skip=("nproc",)))
            typer.echo("launching: " + " ".join(cmd))
            raise typer.Exit(subprocess.run(cmd, check=False).returncode)
    from attrbench.training import TrainConfig
    from attrbench.training import train as run_training
    from attrbench.training.config import LEGACY_REGIME_KEYS

    check_out_folder(out)
    flags = {"recipe": recipe, "dataset": dataset, "model": model, "epochs": epochs, "lr": lr,
             "batch_size": batch_size, "seed": seed, "device": device, "amp": amp,
             "train_limit": train_limit, "test_limit": test_limit, "data_root": data_root,
             "image_size": image_size, "augment": augment, "augment_preset": augment_preset,
             "augment_params": parse_key_values(augment_param, "--augment-param") or None,
             "regime": regime, "regime_preset": regime_preset,
             "regime_params": parse_key_values(regime_param, "--regime-param") or None,
             "init": init, "crop_fill": crop_fill, "sync_bn": sync_bn}
    cfg = build_config(TrainConfig, config, "train", flags, factory=TrainConfig.from_values,
                       renamed={old: new for new, old in LEGACY_REGIME_KEYS.items()})
    result = run_training(cfg, out, dist_backend=dist_backend)
    if env_world()[0] != 0:
        return
    typer.echo(f"test accuracy {100 * result.test_accuracy:.2f}% after {len(result.history)} epochs; "
               f"checkpoint {result.checkpoint}")
