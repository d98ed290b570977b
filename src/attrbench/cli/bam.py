"""``attrbench bam build | verify | run``: the BAM benchmark (Yang & Kim 2019) on the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
import typer.core

from attrbench.cli.app import app
from attrbench.cli.options import option
from attrbench.errors import AttrbenchError

if TYPE_CHECKING:
    from attrbench.bam.pipeline import BamTrainOptions

bam_app = typer.Typer(help="BAM: attribution methods vs known relative feature importance.",
                      no_args_is_help=True)
app.add_typer(bam_app, name="bam")

DataOpt = Annotated[Optional[Path], option(
    "dataset", "Built BAM folder \\[default: the shipped 64 px bam_mini set].")]
OutOpt = Annotated[Path, option("out", "Run folder (models resume there).")]
ModelOpt = Annotated[Optional[str], option(
    "model", "Architecture of the BAM models (resnet50 = paper) \\[default: the preset's, else "
             "small_cnn].")]
EpochsOpt = Annotated[Optional[int], typer.Option(
    help="Training epochs per model \\[default: the preset's, else 30].")]
PresetOpt = Annotated[Optional[str], typer.Option(
    help="Named setting (data build, training, metric defaults); explicit options win. cpu: "
         "the 10 x 10 MiniPlaces set at 32 px, ResNet-20s fine-tuned from cifar_resnet20.none, "
         "~75 min on one core (docs/design.md, 'BAM CPU preset').")]
DeviceOpt = Annotated[str, option("device")]
ConfigOpt = Annotated[Optional[Path], option(
    "config", "TOML file: table \\[bam] sets the metric settings (BamRunConfig fields: methods, "
              "num_images, n_trials, trial_size, delta_*, tcav_random, max_batch ...), table "
              "\\[bam.train] the training (model, recipe, epochs, batch_size, lr, seed, k_epochs, "
              "init, amp). Precedence: preset < file < flags.")]
#: the positional OUT of `bam build` / `bam coco-crops` before it became --out
OldOut = Annotated[Optional[str], typer.Argument(hidden=True)]


class _OutFlagCommand(typer.core.TyperCommand):
    """A command whose hidden positional (the old OUT) stays out of the usage line."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return [self.options_metavar] if self.options_metavar else []


def _data(data: Path | None) -> Path:
    from attrbench.bam.manifest import bam_mini_path

    return data if data is not None else bam_mini_path()


def _train_options(preset: str | None, config: Path | None, model: str | None,
                   epochs: int | None, seed: int | None, default_seed: int = 0
                   ) -> BamTrainOptions:
    """How the models are trained: the preset's options (or the plain defaults, seed
    ``default_seed``), then table ``[bam.train]`` of ``config``, then the flags given."""
    import dataclasses

    from attrbench.bam.pipeline import BamTrainOptions, get_preset
    from attrbench.cli.options import build_config

    base = get_preset(preset).train if preset is not None else BamTrainOptions()
    base = dataclasses.replace(base, seed=default_seed)
    return build_config(BamTrainOptions, config, "bam.train",
                        {"model": model, "epochs": epochs, "seed": seed},
                        factory=lambda **values: dataclasses.replace(base, **values))


def _out_flag(out: Path | None, old_out: str | None) -> Path:
    """The ``--out`` folder; the old positional spelling (``bam build DIR``) gets a one-line
    hint."""
    if old_out is not None:
        raise AttrbenchError(f"the output folder is now --out (write --out {old_out}); one flag "
                             "name per concept across commands, see `attrbench bam --help`.")
    if out is None:
        raise AttrbenchError("Give the output folder as --out DIR.")
    return out


@bam_app.command("build", cls=_OutFlagCommand)
def build_command(
    out: Annotated[Optional[Path], option("out", "New output folder (required).")] = None,
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
    per_pair: Annotated[Optional[int], typer.Option(
        help="Images per (object, scene) pair. A class with fewer crops is split into disjoint "
             "train / test crop pools first, so no crop is in both splits \\[default: the "
             "preset's, else 100].")] = None,
    val_fraction: Annotated[Optional[float], typer.Option(
        help="Held-out fraction (test split) \\[default: the preset's, else 0.1].")] = None,
    image_size: Annotated[Optional[int], option(
        "image_size", "Output side in pixels \\[default: the preset's, else 128].")] = None,
    seed: Annotated[int, option("seed", "Seed of every draw.")] = 0,
    commonality: Annotated[bool, typer.Option(help="Also build the X^k sets.")] = True,
    cf_object: Annotated[Optional[str], typer.Option(help="Common-feature object class.")] = None,
    cf_scene: Annotated[Optional[str], typer.Option(help="Always-CF scene class.")] = None,
    image_format: Annotated[str, typer.Option("--format", help="jpg or png.")] = "jpg",
    preset: Annotated[Optional[str], typer.Option(
        help="Build the data of a named 'bam run' preset (cpu: per pair 300, 32 px); explicit "
             "options win.")] = None,
    old_out: OldOut = None,
) -> None:
    """Paste object crops into scenes: obj/scene/scene_only/obj_gray trees, masks, manifest."""
    from attrbench.bam.build import BamBuildConfig, build_bam

    out = _out_flag(out, old_out)
    if miniplaces is not None:
        objects = objects or miniplaces / "miniplaces-objects.tar"
        scenes = scenes or miniplaces / "miniplaces-scenes.tar"
    if objects is None or scenes is None:
        raise AttrbenchError("Give --miniplaces DIR, or both --objects and --scenes.")
    from attrbench.bam.pipeline import get_preset

    sizes: dict = dict(get_preset(preset).build) if preset is not None else {}
    for key, value in (("per_pair", per_pair), ("val_fraction", val_fraction),
                       ("image_size", image_size)):
        if value is not None:
            sizes[key] = value
    cfg = BamBuildConfig(
        objects=tuple(object_class) if object_class else None,
        scenes=tuple(scene_class) if scene_class else None, seed=seed, commonality=commonality,
        cf_object=cf_object, cf_scene=cf_scene, image_format=image_format, **sizes)
    manifest = build_bam(objects, scenes, out, cfg)
    counts = manifest.groupby(["set", "split"]).size().to_string()
    typer.echo(f"wrote {out}\n{counts}")


@bam_app.command("coco-crops", cls=_OutFlagCommand)
def coco_crops_command(
    instances: Annotated[Path, typer.Option(help="COCO instances JSON.")],
    images: Annotated[Path, typer.Option(help="Folder of the COCO images.")],
    coco_class: Annotated[list[str], typer.Option(
        "--class", help="COCO category (repeatable), e.g. dog.")],
    out: Annotated[Optional[Path], option(
        "out", "Output folder of <class>/<id>.png crops (required).")] = None,
    per_class: Annotated[int, typer.Option(help="Images per class (paper 1000).")] = 1000,
    old_out: OldOut = None,
) -> None:
    """Cut RGBA object crops from COCO instance masks (the authors' recipe) for 'bam build'."""
    from attrbench.bam.coco import extract_coco_crops

    out = _out_flag(out, old_out)
    counts = extract_coco_crops(instances, images, out, coco_class, per_class)
    typer.echo(", ".join(f"{c}: {n}" for c, n in counts.items()))


@bam_app.command("verify")
def verify_command(
    data: DataOpt = None, out: OutOpt = Path("runs/bam"), model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: Annotated[Optional[int], option("seed", "Training seed \\[default: 0].")] = None,
    commonality: Annotated[bool, typer.Option(help="Also train/check the X^k models.")] = True,
    device: DeviceOpt = "auto", preset: PresetOpt = None, config: ConfigOpt = None,
) -> None:
    """Train (or load) f_o, f_s and the X^k models and print the Fig. 2 checks."""
    from attrbench.bam.manifest import BamFolder
    from attrbench.bam.models import load_bam_models, model_names, verify
    from attrbench.bam.pipeline import (bind_run_folder, check_preset_data, get_preset,
                                        train_models, write_outputs)
    from attrbench.runtime import resolve_device

    folder = BamFolder(_data(data))
    opts = _train_options(preset, config, model, epochs, seed)
    if preset is not None:
        check_preset_data(get_preset(preset), folder)
    store = bind_run_folder(folder, out, opts)  # the same folder identity as `bam run`
    use_k = commonality and bool(folder.commonality_sets)
    train_models(folder, out, opts, device=device, commonality=use_k)
    models = load_bam_models(out, list(model_names(folder, use_k)), resolve_device(device))
    table = verify(folder, models)
    write_outputs(store, verify=table)
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@bam_app.command("run")
def run_command(
    data: DataOpt = None, out: OutOpt = Path("runs/bam"), model: ModelOpt = None,
    epochs: EpochsOpt = None, preset: PresetOpt = None,
    method: Annotated[Optional[list[str]], option(
        "method", "Paper label (GC VG SG IG IG-SG GxI GB GGC) or registered method (repeatable) "
             "\\[default: the paper's eight]. As in the authors' code, SG and IG-SG are the "
             "squared forms (mean of squared maps over 25 noisy copies) and IG/IG-SG use 25 "
             "points at linspace(0, 1, 25) from a black baseline.")] = None,
    num_images: Annotated[Optional[int], option(
        "num_images", "Use N test images \\[default: the preset's, else all].")] = None,
    trials: Annotated[Optional[int], typer.Option(
        help="Trials for the error bars \\[default: the preset's, else 10].")] = None,
    trial_size: Annotated[Optional[int], typer.Option(
        help="Pairs per trial. With no more eligible pairs than this, the mean over all n is "
             "reported with n and no std (not resampled) \\[default: the preset's, else "
             "100].")] = None,
    delta_steps: Annotated[Optional[int], typer.Option(
        help="Gradient steps of the delta search \\[default: 300].")] = None,
    delta_step_size: Annotated[Optional[float], typer.Option(
        help="Step lambda of the delta search in 0-255 pixel units, where the search runs with "
             "the paper's eta1 = eta2 = 0.01 (as the authors' code) \\[default: 500].")] = None,
    delta_tolerance: Annotated[Optional[float], typer.Option(
        help="IIR uses only pairs with ||f(x+delta) - f(x)|| <= this fraction of ||f(x)||; the "
             "others are excluded and counted in delta.json. x + delta is explained for the "
             "class predicted on x \\[default: 0.05].")] = None,
    commonality: Annotated[Optional[bool], typer.Option(
        "--commonality/--no-commonality", help="Also the X^k MCS series \\[default: on].")] = None,
    tcav: Annotated[Optional[bool], typer.Option(
        "--tcav/--no-tcav",
        help="Also TCAV-MCS (Captum concept module) on every block layer and the logit layer, "
             "each with a two-sided t-test against random CAVs (p > 0.01 dropped) "
             "\\[default: on].")] = None,
    seed: Annotated[Optional[int], option(
        "seed", "Seed of training, subsets and trials \\[default: 0].")] = None,
    device: DeviceOpt = "auto", config: ConfigOpt = None,
) -> None:
    """Train/verify the models, score every method (MCS, IDR, IIR + baselines), write the report."""
    import dataclasses

    from attrbench.bam.evaluate import BamRunConfig
    from attrbench.bam.pipeline import get_preset, run_bam
    from attrbench.cli.options import build_config

    base = BamRunConfig(**get_preset(preset).run) if preset is not None else BamRunConfig()
    flags = {"methods": tuple(method) if method else None, "num_images": num_images,
             "n_trials": trials, "trial_size": trial_size, "delta_steps": delta_steps,
             "delta_step_size": delta_step_size, "delta_tolerance": delta_tolerance,
             "commonality": commonality, "tcav": tcav, "seed": seed}
    cfg = build_config(BamRunConfig, config, "bam", flags, subtables=("train",),
                       factory=lambda **values: dataclasses.replace(base, **values))
    options = _train_options(preset, config, model, epochs, seed, default_seed=cfg.seed)
    results = run_bam(_data(data), out, train_options=options, run_config=cfg, device=device,
                      preset=preset)
    main = results.metrics[results.metrics["metric"].isin(["MCS", "IDR", "IIR"])]
    typer.echo(main.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"report: {out / 'report.html'}")
