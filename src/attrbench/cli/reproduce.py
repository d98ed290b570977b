"""``attrbench reproduce fpa`` and ``attrbench demo``: the FPA paper's experiment end to end."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from attrbench.cli.app import app
from attrbench.cli.options import check_known_keys, load_config_file, parse_key_values
from attrbench.errors import AttrbenchError

reproduce_app = typer.Typer(help="Reproduce a paper's experiment end to end.", no_args_is_help=True)
app.add_typer(reproduce_app, name="reproduce")


def parse_method_params(pairs: list[str] | None) -> dict[str, dict]:
    """``integrated_gradients.steps=50`` -> ``{"integrated_gradients": {"steps": 50}}``."""
    out: dict[str, dict] = {}
    for key, value in parse_key_values(pairs, "--method-param").items():
        method, sep, param = key.partition(".")
        if not sep:
            raise AttrbenchError(f"Bad --method-param {key!r}; write METHOD.PARAM=VALUE, "
                                 "e.g. integrated_gradients.steps=50.")
        out.setdefault(method, {})[param] = value
    return out


@reproduce_app.command("fpa")
def reproduce_fpa_command(
    out: Annotated[Path, typer.Option(help="Results folder (resumes if it holds the same config).")] = Path("runs/fpa"),
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name or directory \\[default: cifar10-mini].")] = None,
    model: Annotated[Optional[str], typer.Option(help="Architecture; cifar_resnet18 for the paper's setting \\[default: small_cnn].")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Training recipe; paper-cifar for the paper's setting \\[default: quick].")] = None,
    augmentation: Annotated[Optional[list[str]], typer.Option(help="Models to compare (repeatable) \\[default: none fpa rectangle].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override the recipe's epochs.")] = None,
    train_limit: Annotated[Optional[int], typer.Option(help="Train on the first N training images.")] = None,
    num_images: Annotated[Optional[int], typer.Option(help="Evaluate the first N test images \\[default: 100].")] = None,
    variant: Annotated[Optional[list[str]], typer.Option(help="Estimator variants or presets (repeatable) \\[default: fpa-table].")] = None,
    method_param: Annotated[Optional[list[str]], typer.Option(help="METHOD.PARAM=VALUE override, e.g. integrated_gradients.steps=50.")] = None,
    tie_break: Annotated[Optional[str], typer.Option(help="random (seeded) or reference (authors' argsort) \\[default: random].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of training and evaluation \\[default: 0].")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda or cuda:N \\[default: auto].")] = None,
    data_root: Annotated[Optional[str], typer.Option(help="Root folder for datasets on disk.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with a [fpa] table; flags given explicitly are applied on top.")] = None,
) -> None:
    """Train without augmentation, with FPA and with Rectangle; score the estimators; write the report."""
    from attrbench.evaluation.fpa_reproduction import FPAReproductionConfig, reproduce_fpa

    values: dict[str, Any] = load_config_file(config, "fpa")
    flags = dict(dataset=dataset, model=model, recipe=recipe, epochs=epochs, train_limit=train_limit,
                 num_images=num_images, tie_break=tie_break, seed=seed, device=device,
                 data_root=data_root)
    values.update({k: v for k, v in flags.items() if v is not None})
    if augmentation:
        values["augmentations"] = tuple(augmentation)
    if variant:
        values["variants"] = tuple(variant)
    if method_param:
        values["method_params"] = parse_method_params(method_param)
    for key in ("augmentations", "variants"):
        if key in values:
            values[key] = tuple(values[key])
    check_known_keys(values, {f.name for f in dataclasses.fields(FPAReproductionConfig)},
                     str(config) if config else "the options")
    t0 = time.perf_counter()
    paths = reproduce_fpa(FPAReproductionConfig(**values), out)
    typer.echo(f"\nfinished in {time.perf_counter() - t0:.0f} s")
    for name, path in paths.items():
        typer.echo(f"  {name:<12} {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("runs/demo"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """The main job on the embedded data: `reproduce fpa` with its CPU defaults (about 10 minutes)."""
    reproduce_fpa_command(out=out, device=device, augmentation=None, variant=None, method_param=None,
                          dataset=None, model=None, recipe=None, epochs=None, train_limit=None,
                          num_images=None, tie_break=None, seed=None, data_root=None, config=None)
