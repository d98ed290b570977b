"""``attrbench bam build | verify | run``: the BAM benchmark (Yang & Kim 2019) on the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attrbench.cli.app import app
from attrbench.errors import AttrbenchError

bam_app = typer.Typer(help="BAM: attribution methods vs known relative feature importance.",
                      no_args_is_help=True)
app.add_typer(bam_app, name="bam")

DataOpt = Annotated[Optional[Path], typer.Option(
    "--dataset", help="Built BAM folder \\[default: the shipped 64 px bam_mini set].")]
OutOpt = Annotated[Path, typer.Option(help="Run folder (models resume there).")]
ModelOpt = Annotated[str, typer.Option(help="Architecture of the BAM models (resnet50 = paper).")]
EpochsOpt = Annotated[int, typer.Option(help="Training epochs per model.")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]


def _data(data: Path | None) -> Path:
    from attrbench.bam.manifest import bam_mini_path

    return data if data is not None else bam_mini_path()


@bam_app.command("build")
def build_command(
    out: Annotated[Path, typer.Argument(help="New output folder.")],
    miniplaces: Annotated[Optional[Path], typer.Option(
        help="Folder with miniplaces-objects.tar and miniplaces-scenes.tar.")] = None,
    objects: Annotated[Optional[Path], typer.Option(
        help="Object crops: folder or .tar of <class>/<crop>.png with alpha.")] = None,
    scenes: Annotated[Optional[Path], typer.Option(
        help="Scenes: folder or .tar of <class>/<image>.jpg.")] = None,
    object_class: Annotated[Optional[list[str]], typer.Option(
        "--object", help="Object class to use (repeatable) \\[default: all].")] = None,
    scene_class: Annotated[Optional[list[str]], typer.Option(
        "--scene", help="Scene class to use (repeatable) \\[default: all].")] = None,
    per_pair: Annotated[int, typer.Option(
        help="Images per (object, scene) pair. A class with fewer crops is split into disjoint "
             "train / test crop pools first, so no crop is in both splits.")] = 100,
    val_fraction: Annotated[float, typer.Option(help="Held-out fraction (test split).")] = 0.1,
    image_size: Annotated[int, typer.Option(help="Output side in pixels.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of every draw.")] = 0,
    commonality: Annotated[bool, typer.Option(help="Also build the X^k sets.")] = True,
    cf_object: Annotated[Optional[str], typer.Option(help="Common-feature object class.")] = None,
    cf_scene: Annotated[Optional[str], typer.Option(help="Always-CF scene class.")] = None,
    image_format: Annotated[str, typer.Option("--format", help="jpg or png.")] = "jpg",
) -> None:
    """Paste object crops into scenes: obj/scene/scene_only/obj_gray trees, masks, manifest."""
    from attrbench.bam.build import BamBuildConfig, build_bam

    if miniplaces is not None:
        objects = objects or miniplaces / "miniplaces-objects.tar"
        scenes = scenes or miniplaces / "miniplaces-scenes.tar"
    if objects is None or scenes is None:
        raise AttrbenchError("Give --miniplaces DIR, or both --objects and --scenes.")
    cfg = BamBuildConfig(
        objects=tuple(object_class) if object_class else None,
        scenes=tuple(scene_class) if scene_class else None, per_pair=per_pair,
        val_fraction=val_fraction, image_size=image_size, seed=seed, commonality=commonality,
        cf_object=cf_object, cf_scene=cf_scene, image_format=image_format)
    manifest = build_bam(objects, scenes, out, cfg)
    counts = manifest.groupby(["set", "split"]).size().to_string()
    typer.echo(f"wrote {out}\n{counts}")


@bam_app.command("coco-crops")
def coco_crops_command(
    out: Annotated[Path, typer.Argument(help="Output folder of <class>/<id>.png crops.")],
    instances: Annotated[Path, typer.Option(help="COCO instances JSON.")],
    images: Annotated[Path, typer.Option(help="Folder of the COCO images.")],
    coco_class: Annotated[list[str], typer.Option(
        "--class", help="COCO category (repeatable), e.g. dog.")],
    per_class: Annotated[int, typer.Option(help="Images per class (paper 1000).")] = 1000,
) -> None:
    """Cut RGBA object crops from COCO instance masks (the authors' recipe) for 'bam build'."""
    from attrbench.bam.coco import extract_coco_crops

    counts = extract_coco_crops(instances, images, out, coco_class, per_class)
    typer.echo(", ".join(f"{c}: {n}" for c, n in counts.items()))


@bam_app.command("verify")
def verify_command(
    data: DataOpt = None, out: OutOpt = Path("runs/bam"), model: ModelOpt = "small_cnn",
    epochs: EpochsOpt = 30, seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    commonality: Annotated[bool, typer.Option(help="Also train/check the X^k models.")] = True,
    device: DeviceOpt = "auto",
) -> None:
    """Train (or load) f_o, f_s and the X^k models and print the Fig. 2 checks."""
    from attrbench.atomic import write_text_atomic
    from attrbench.bam.manifest import BamFolder
    from attrbench.bam.models import load_bam_models, model_names, train_bam_models, verify
    from attrbench.bam.pipeline import BamTrainOptions, bind_run_folder
    from attrbench.runtime import resolve_device

    folder = BamFolder(_data(data))
    opts = BamTrainOptions(model=model, epochs=epochs, seed=seed)
    bind_run_folder(folder, out, opts)  # the same folder identity as `bam run`
    use_k = commonality and bool(folder.commonality_sets)
    train_bam_models(folder, out, model=opts.model, recipe=opts.recipe, epochs=opts.epochs,
                     seed=opts.seed, device=device, commonality=use_k, batch_size=opts.batch_size,
                     lr=opts.lr)
    models = load_bam_models(out, list(model_names(folder, use_k)), resolve_device(device))
    table = verify(folder, models)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "verify.csv", table.to_csv(index=False))
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@bam_app.command("run")
def run_command(
    data: DataOpt = None, out: OutOpt = Path("runs/bam"), model: ModelOpt = "small_cnn",
    epochs: EpochsOpt = 30,
    method: Annotated[Optional[list[str]], typer.Option(
        help="Paper label (GC VG SG IG IG-SG GxI GB GGC) or registered method (repeatable) "
             "\\[default: the paper's eight]. As in the authors' code, SG and IG-SG are the "
             "squared forms (mean of squared maps over 25 noisy copies) and IG/IG-SG use 25 "
             "points at linspace(0, 1, 25) from a black baseline.")] = None,
    num_images: Annotated[Optional[int], typer.Option(
        help="Use N test images \\[default: all].")] = None,
    trials: Annotated[int, typer.Option(help="Trials for the error bars.")] = 10,
    trial_size: Annotated[int, typer.Option(
        help="Pairs per trial. With no more eligible pairs than this, the mean over all n is "
             "reported with n and no std (not resampled).")] = 100,
    delta_steps: Annotated[int, typer.Option(help="Gradient steps of the delta search.")] = 300,
    delta_step_size: Annotated[float, typer.Option(
        help="Step lambda of the delta search in 0-255 pixel units, where the search runs with "
             "the paper's eta1 = eta2 = 0.01 (as the authors' code).")] = 500.0,
    delta_tolerance: Annotated[float, typer.Option(
        help="IIR uses only pairs with ||f(x+delta) - f(x)|| <= this fraction of ||f(x)||; the "
             "others are excluded and counted in delta.json. x + delta is explained for the "
             "class predicted on x.")] = 0.05,
    commonality: Annotated[bool, typer.Option(help="Also the X^k MCS series.")] = True,
    tcav: Annotated[bool, typer.Option(
        help="Also TCAV-MCS (Captum concept module) on every block layer and the logit layer, "
             "each with a two-sided t-test against random CAVs (p > 0.01 dropped).")] = True,
    seed: Annotated[int, typer.Option(help="Seed of training, subsets and trials.")] = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train/verify the models, score every method (MCS, IDR, IIR + baselines), write the report."""
    from attrbench.bam.evaluate import PAPER_METHODS, BamRunConfig
    from attrbench.bam.pipeline import BamTrainOptions, run_bam

    cfg = BamRunConfig(methods=tuple(method) if method else PAPER_METHODS, num_images=num_images,
                       n_trials=trials, trial_size=trial_size, delta_steps=delta_steps,
                       delta_step_size=delta_step_size, delta_tolerance=delta_tolerance,
                       commonality=commonality, tcav=tcav,
                       seed=seed)
    results = run_bam(_data(data), out, train_options=BamTrainOptions(model=model, epochs=epochs,
                                                                      seed=seed),
                      run_config=cfg, device=device)
    main = results.metrics[results.metrics["metric"].isin(["MCS", "IDR", "IIR"])]
    typer.echo(main.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"report: {out / 'report.html'}")
