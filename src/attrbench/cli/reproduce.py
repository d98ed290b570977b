"""``attrbench reproduce fpa`` and ``attrbench demo``: the FPA paper's experiment end to end."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from attrbench.cli.app import app
from attrbench.cli.options import build_config, method_names, option, parse_method_params
from attrbench.errors import AttrbenchError

reproduce_app = typer.Typer(help="Reproduce a paper's experiment end to end.", no_args_is_help=True)
app.add_typer(reproduce_app, name="reproduce")


@reproduce_app.command("fpa")
def reproduce_fpa_command(
    out: Annotated[Path, option("out", "Results folder (resumes if it holds the same config).")] = Path("runs/fpa"),
    dataset: Annotated[Optional[str], option("dataset", "Dataset: a registered name or a folder \\[default: cifar10-mini].")] = None,
    model: Annotated[Optional[str], option("model", "Architecture; cifar_resnet18 for the paper's setting \\[default: small_cnn].")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Training recipe; paper-cifar for the paper's setting \\[default: quick].")] = None,
    augmentation: Annotated[Optional[list[str]], option("augment", "Augmentations to train and compare (repeatable) \\[default: none fpa rectangle].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override the recipe's epochs.")] = None,
    train_limit: Annotated[Optional[int], typer.Option(help="Train on N training images: a seeded stratified subset (every class in proportion, drawn with the training seed).")] = None,
    num_images: Annotated[Optional[int], option("num_images", "Evaluate the first N test images \\[default: 100].")] = None,
    method: Annotated[Optional[list[str]], option("method", "Estimator variants 'method|post', aliases (IG_sum) or presets (repeatable; see `attrbench methods`) \\[default: fpa-table].")] = None,
    method_param: Annotated[Optional[list[str]], option("method_param")] = None,
    tie_break: Annotated[Optional[str], typer.Option(help="random (seeded) or reference (authors' argsort) \\[default: random].")] = None,
    seed: Annotated[Optional[int], option("seed", "Seed of training and evaluation \\[default: 0].")] = None,
    device: Annotated[Optional[str], option("device", "auto, cpu, cuda or cuda:N \\[default: auto].")] = None,
    data_root: Annotated[Optional[str], option("data_root")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Repeat the whole experiment for K training seeds (seed, seed+1, ...), each in OUT/seed-S (resumable), and summarise A with its between-seed spread, a two-level bootstrap CI and Kendall's W of the estimator ranking in OUT/seeds.md.")] = None,
    pretrained: Annotated[Optional[list[str]], typer.Option(help="Evaluate these shipped models (repeatable; see `attrbench models`) instead of training.")] = None,
    config: Annotated[Optional[Path], option("config", "TOML file with a \\[fpa] table; flags given explicitly are applied on top.")] = None,
) -> None:
    """Train without augmentation, with FPA and with Rectangle; score the estimators; write the report."""
    from attrbench.fpa.reproduction import FPAReproductionConfig, reproduce_fpa

    flags = dict(dataset=dataset, model=model, recipe=recipe, epochs=epochs, train_limit=train_limit,
                 num_images=num_images, tie_break=tie_break, seed=seed, device=device,
                 data_root=data_root, augmentations=augmentation or None,
                 variants=method or None, pretrained=pretrained or None)
    cfg = build_config(FPAReproductionConfig, config, "fpa", flags)
    if method_param:  # names the methods of the merged config (file or flags)
        cfg = dataclasses.replace(cfg, method_params=parse_method_params(
            method_param, method_names(list(cfg.variants))))
    t0 = time.perf_counter()
    if seeds is not None:
        from attrbench.fpa.seeds import reproduce_fpa_seeds

        paths = reproduce_fpa_seeds(cfg, out, seeds)
    else:
        paths = reproduce_fpa(cfg, out)
    typer.echo(f"\nfinished in {time.perf_counter() - t0:.0f} s")
    for name, path in paths.items():
        typer.echo(f"  {name:<12} {path}")


#: The shipped models `attrbench demo` evaluates (see `attrbench models`).
DEMO_MODELS = ("cifar_resnet20.none", "cifar_resnet20.fpa", "cifar_resnet20.rectangle")
#: Test images the demo evaluates: what fits the 10-minute budget of `make demo` on 2 CPU cores.
DEMO_NUM_IMAGES = 200


_DEMO_HELP = (
    "The main job: the FPA paper's CIFAR-10 experiment on the shipped ResNet-20s (about 3.5 minutes "
    "on 2 CPU cores). Evaluates the shipped cifar_resnet20 models trained without augmentation, "
    "with FPA and with Rectangle on the full CIFAR-10 training set (see `attrbench models`) with "
    "the paper's ten estimator variants (fpa-table) on the first embedded test images; writes the "
    "table beside the paper's Table D.2, the Claims section, paired comparisons, figures and "
    "report.html.")


@app.command(help=_DEMO_HELP)
def demo(
    out: Annotated[Path, option("out", "Results folder.")] = Path("runs/demo"),
    device: Annotated[str, option("device")] = "auto",
    num_images: Annotated[int, option("num_images", "Embedded test images to evaluate (>= 100 keeps the CIs useful).")] = DEMO_NUM_IMAGES,
    train: Annotated[bool, typer.Option("--train", help="Train from scratch instead of using the shipped models: three small CNNs with the quick recipe on the 5,000 embedded training images (8 epochs each, about 54 % accuracy; too weak to show the paper's findings, see the Claims section).")] = False,
) -> None:
    """The main job: the FPA paper's CIFAR-10 experiment on the shipped ResNet-20s (about 3.5 minutes).

    Evaluates the shipped cifar_resnet20 models trained without augmentation, with FPA and with
    Rectangle on the full CIFAR-10 training set (see `attrbench models`) with the paper's ten
    estimator variants (fpa-table) on the first embedded test images; writes the table beside the
    paper's Table D.2, the Claims section, paired comparisons, figures and report.html.
    """
    if train:
        reproduce_fpa_command(out=out, device=device, augmentation=None, method=None,
                              method_param=None, dataset=None, model=None, recipe=None,
                              epochs=None, train_limit=None, num_images=num_images,
                              tie_break=None, seed=None, data_root=None, pretrained=None,
                              seeds=None, config=None)
        return
    from attrbench.fpa.reproduction import FPAReproductionConfig, reproduce_fpa

    t0 = time.perf_counter()
    from attrbench.models.pretrained import list_pretrained

    shipped = tuple(name for name in DEMO_MODELS if name in list_pretrained())
    if not shipped:
        raise AttrbenchError("No shipped demo models in this installation; reinstall attrbench, "
                             "or run `attrbench demo --train`.")
    paths = reproduce_fpa(FPAReproductionConfig(pretrained=shipped, num_images=num_images,
                                                 device=device), out)
    typer.echo(f"\nfinished in {time.perf_counter() - t0:.0f} s")
    for name, path in paths.items():
        typer.echo(f"  {name:<12} {path}")
