"""``attrbench evaluate``: a user's checkpoint on a dataset (``attrbench report`` rebuilds the
report of any results folder: :mod:`attrbench.cli.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attrbench.cli.app import app
from attrbench.cli.options import (check_out_folder, check_positive, method_names, option,
                                   parse_method_params)


@app.command()
def evaluate(
    checkpoint: Annotated[Path, option("checkpoint")],
    out: Annotated[Path, option("out", "Results folder (resumes if it holds the same config).")],
    dataset: Annotated[str, option("dataset")] = "cifar10-mini",
    split: Annotated[str, option("split", "Split to evaluate.")] = "test",
    num_images: Annotated[Optional[int], option("num_images", "Evaluate the first N images \\[default: all].")] = None,
    method: Annotated[Optional[list[str]], option("method", "Estimator variants 'method|post', aliases (IG_sum) or presets (repeatable; see `attrbench methods`) \\[default: fpa-table].")] = None,
    method_param: Annotated[Optional[list[str]], option("method_param", "METHOD.PARAM=VALUE override (repeatable), e.g. integrated_gradients.steps=50 (wins over --parity); PARAM=VALUE when one method is given.")] = None,
    parity: Annotated[Optional[str], typer.Option(help="paper: FPA App. B text (IG from a black image, right Riemann m = 200; SG/SQ-SG n = 15); code: the authors' code (IG from 0 in input space = gray for [-1, 1] inputs, linspace(0, 1, 200); n = 50) \\[default: neither: IG from 0 (= the masking value), right Riemann m = 200, n = 15].")] = None,
    num_steps: Annotated[Optional[int], typer.Option(help="Perturbation steps after step 0, evenly spread up to every pixel masked; the x-axis is the true masked fraction \\[default: 20, i.e. 21 points 0, 5, ..., 100 %; the authors' int(5 % HW)-pixel step stops at 95 % on e.g. 40x40].")] = None,
    mask_value: Annotated[float, typer.Option(help="Fill of masked pixels in the model's input space.")] = 0.0,
    tie_break: Annotated[str, typer.Option(help="random (seeded) or reference (authors' argsort).")] = "random",
    target: Annotated[str, option("target")] = "predicted",
    augmentation: Annotated[Optional[str], option("augment", "Label for the augmentation column \\[default: from the checkpoint].")] = None,
    seed: Annotated[int, option("seed", "Seed of noise, random maps and tie-breaks.")] = 0,
    data_root: Annotated[Optional[str], option("data_root")] = None,
    image_size: Annotated[Optional[int], option("image_size", "Resize (then centre-crop) folder images to this side, e.g. to the checkpoint's training size.")] = None,
    device: Annotated[str, option("device")] = "auto",
    chunk_size: Annotated[int, typer.Option(help="Images per shard file (the unit of resume and of --shard).")] = 64,
    shard: Annotated[Optional[str], typer.Option(help="K/N: compute only the image chunks c with c % N == K into --out (N independent processes or machines on a shared filesystem, each resuming alone); auto: K, N from torchrun (RANK, WORLD_SIZE) or SLURM (SLURM_PROCID/NTASKS, array tasks). The report is built by the shard that finds every chunk on disk, or by `attrbench report`.")] = None,
) -> None:
    """Score estimator variants on your checkpoint: MIF/LIF curves, fidelity table and HTML report.

    A results folder is bound to its run: a rerun with another checkpoint, dataset, split, images,
    methods or parameters is refused (the message says what differs); a larger --num-images with
    everything else equal extends it. Images must have the checkpoint's training size.
    """
    from attrbench.data import load_dataset
    from attrbench.fpa import evaluate as run
    from attrbench.fpa.report import build_all
    from attrbench.fpa.runner import ModelEntry, missing_chunks
    from attrbench.models import check_input_compatible, load_checkpoint
    from attrbench.models.checkpoint import check_checkpoint_input
    from attrbench.results.shards import parse_shard, shard_device
    from attrbench.runtime import resolve_device
    from attrbench.variants import parity_method_params

    parity_method_params(parity, (0.0,), (1.0,))  # an unknown --parity fails before any loading
    methods = tuple(method or ("fpa-table",))
    user_params = parse_method_params(method_param, method_names(methods))  # before any loading
    check_out_folder(out)
    check_positive(num_images, "--num-images")
    check_positive(num_steps, "--num-steps")
    check_positive(image_size, "--image-size")
    check_positive(chunk_size, "--chunk-size")
    part = parse_shard(shard) if shard is not None else None
    dev = resolve_device(device)
    if part is not None:
        dev = shard_device(dev)
    typer.echo(f"loading {dataset} ({split}) ...", err=True)  # a large folder takes a while
    data = load_dataset(dataset, split, root=data_root, limit=num_images, image_size=image_size)
    model, meta = load_checkpoint(checkpoint, dev, expected_num_classes=data.spec.num_classes)
    check_input_compatible(model, data.spec.image_shape)
    check_checkpoint_input(meta, data.spec.image_shape, f"Checkpoint {checkpoint}")
    aug = augmentation or (meta.get("augmentation") or {}).get("name", "unknown")
    params = parity_method_params(parity, data.spec.mean, data.spec.std)
    for name, values in user_params.items():
        params[name] = {**params.get(name, {}), **values}
    run(model, data, methods, num_steps=num_steps, mask_value=mask_value,
        tie_break=tie_break, target=target, seed=seed, method_params=params,
        model_name=str(meta.get("architecture", "model")), augmentation=aug, out=out, device=dev,
        progress=True, chunk_size=chunk_size, shard=part)
    if part is not None:
        entry = ModelEntry(model, str(meta.get("architecture", "model")), aug)
        missing = missing_chunks([entry], out, len(data), chunk_size)
        if missing:
            typer.echo(f"shard {part[0]}/{part[1]} done; {len(missing)} chunk(s) of other shards "
                       f"still missing (e.g. {missing[:5]}); when all shards have finished, run "
                       f"`attrbench report {out}`.")
            return
    paths = build_all(out)
    typer.echo(f"fidelity table: {paths['fidelity_md']}\nreport: {paths['report']}")
