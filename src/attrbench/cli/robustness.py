"""``attrbench robustness``: attack attributions of one or more checkpoints and measure the change
(Kamath et al., AAAI 2024: top-k intersection, LENS, top-k-div, rank correlations vs ε)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from attrbench.cli.app import app
from attrbench.cli.options import (build_config, method_names, option,
                                   parse_key_values, parse_method_params)
from attrbench.errors import AttrbenchError


def parse_eps(text: str | float) -> float:
    """``"8/255"`` -> 0.03137..., ``"0.3"`` -> 0.3 (pixel units of [0, 1] images)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    try:
        return float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise AttrbenchError(f"Bad --eps {text!r}; write a number or a fraction, e.g. 0.3 or 8/255.") from None


def parse_checkpoint(text: str) -> tuple[str | None, Path]:
    """``"pgd=runs/adv/model"`` -> ("pgd", path); a bare path gets its label from the sidecar."""
    label, sep, path = text.partition("=")
    if sep and label and "/" not in label:
        return label, Path(path)
    return None, Path(text)


@app.command()
def robustness(
    checkpoint: Annotated[list[str], option("checkpoint", "Checkpoint stem or .safetensors, optionally LABEL=PATH (repeatable: natural vs adversarially trained side by side).")],
    out: Annotated[Path, option("out", "Results folder (resumes if it holds the same config).")] = Path("runs/robustness"),
    dataset: Annotated[str, option("dataset", "Dataset name or directory.")] = "mnist-mini",
    split: Annotated[str, option("split", "Split to attack.")] = "test",
    num_images: Annotated[Optional[int], option("num_images", "Consider the first N images; the correctly classified ones are attacked \\[default: 16].")] = None,
    method: Annotated[Optional[list[str]], option("method", "Attribution method (repeatable) \\[default: vanilla_gradient].")] = None,
    method_param: Annotated[Optional[list[str]], option("method_param", "METHOD.PARAM=VALUE override, e.g. integrated_gradients.steps=20.")] = None,
    attack: Annotated[Optional[list[str]], typer.Option(help="random, random_sign, topk, mass_center or lens_topk (repeatable) \\[default: random_sign topk].")] = None,
    eps: Annotated[Optional[list[str]], typer.Option(help="Budget in pixel units, e.g. 8/255 or 0.3 (repeatable) \\[default: 0 1 2 4 8 /255, or 0 1/8 1/4 1/2 1 of the preset eps].")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Attack preset: mnist, flower or imagenet (NOTES §5.3).")] = None,
    attack_param: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE for every attack, e.g. iterations=20, restarts=1, criterion=kendall, draws=10 (random_sign: sign patterns tried per image).")] = None,
    k: Annotated[Optional[int], typer.Option(help="Top-k size, 1 to HxW of the images (checked before anything runs) \\[default: 100 on 28x28, 1000 on >= 128x128].")] = None,
    window: Annotated[Optional[list[int]], typer.Option(help="LENS / NMS radius w (repeatable) \\[default: 1 2 3].")] = None,
    diverse: Annotated[Optional[bool], typer.Option("--diverse/--no-diverse", help="Compute the top-k-div measures \\[default: on].")] = None,
    seed: Annotated[Optional[int], option("seed", "Seed of every random draw \\[default: 0].")] = None,
    parity: Annotated[Optional[str], typer.Option(help="code: the LENS code's IG (black image, 100 right-Riemann points; the LENS text fixes none) \\[default: IG from 0 in input space = gray for [-1, 1] inputs, 200 right-Riemann points]; --method-param wins.")] = None,
    data_root: Annotated[Optional[str], option("data_root", "Root folder for datasets on disk.")] = None,
    device: Annotated[str, option("device", "auto, cpu, cuda or cuda:N.")] = "auto",
    config: Annotated[Optional[Path], option("config", "TOML file with a \\[robustness] table; explicit flags win.")] = None,
    min_images: Annotated[int, typer.Option(help="Report: a cell with fewer label-kept images shows 'too few' instead of a mean.")] = 5,
    shard: Annotated[Optional[str], typer.Option(help="K/N: compute only the units of work (chunks of each model/method/attack/eps, in loop order) u with u % N == K into --out; auto: from torchrun or SLURM. The shard that finds every unit on disk writes the report.")] = None,
) -> None:
    """Attack attributions within an ε-ball (label kept) and write tidy Parquet, curves and a report.

    Only perturbations that keep the predicted label count, as in Ghorbani et al. (2019) and
    Kamath et al. (2024). Each row records kept_label (and the restart / iteration of the returned
    example; random_sign: how many sign patterns were drawn). Images where the attack kept no
    label are left out of every mean (not scored as unchanged = 1.0); the table, the figure and the
    report give the failed fraction and the n behind each mean. random_sign draws up to draws=10
    sign patterns per image (seeded) and keeps the first that keeps the label: a baseline at the
    stated budget, so iterations and restarts do not apply to it (departure: no worst-of-restarts).
    """
    from attrbench.data import load_dataset
    from attrbench.models import check_input_compatible, load_checkpoint
    from attrbench.robustness.pipeline import RobustnessConfig, run_robustness
    from attrbench.robustness.report import console_lines, write_robustness_report
    from attrbench.robustness.results import check_min_images, summarise
    from attrbench.adversarial import InputSpace
    from attrbench.runtime import resolve_device

    flags = dict(num_images=num_images, preset=preset, k=k, diverse=diverse, seed=seed,
                 parity=parity, methods=method or None, attacks=attack or None, eps=eps or None,
                 windows=window or None,
                 method_params=(parse_method_params(method_param,
                                                    method_names(method) if method else None)
                                if method_param else None),
                 attack_params=(parse_key_values(attack_param, "--attack-param")
                                if attack_param else None))

    def make(**values: Any) -> RobustnessConfig:  # eps as text ("8/255") from flags or file
        if values.get("eps") is not None:
            values["eps"] = tuple(parse_eps(e) for e in values["eps"])
        return RobustnessConfig(**values)

    cfg = build_config(RobustnessConfig, config, "robustness", flags, factory=make)
    check_min_images(min_images)
    from attrbench.results.shards import parse_shard, shard_device

    part = parse_shard(shard) if shard is not None else None
    dev = resolve_device(device)
    if part is not None:
        dev = shard_device(dev)
    data = load_dataset(dataset, split, root=data_root)
    models = {}
    for i, text in enumerate(checkpoint):
        label, path = parse_checkpoint(text)
        model, meta = load_checkpoint(path, dev, expected_num_classes=data.spec.num_classes)
        check_input_compatible(model, data.spec.image_shape)
        label = label or (meta.get("augmentation") or {}).get("name") or f"model{i}"
        if label in models:
            raise AttrbenchError(f"Two checkpoints are labelled {label!r}; write LABEL=PATH to tell them apart.")
        models[label] = model
    space = InputSpace.from_stats(data.spec.mean, data.spec.std)
    rows = run_robustness(models, data, cfg, space, out=out, device=dev, progress=True, shard=part)
    if part is not None and rows.attrs.get("missing_shards"):
        typer.echo(f"shard {part[0]}/{part[1]} done; {rows.attrs['missing_shards']} unit(s) of "
                   f"other shards still missing; when all have finished, rerun without --shard "
                   f"(it only writes the report).")
        return
    report = write_robustness_report(out, min_images=min_images)
    for line in console_lines(summarise(rows, min_images)):
        typer.echo(line)
    typer.echo(f"{len(rows)} rows in {out / 'shards'}")
    typer.echo(f"report: {report} (tables: {out / 'robustness_summary.csv'})")
