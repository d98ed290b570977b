"""``attrbench data``: list the registered datasets; describe one (size, classes, histogram)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from attrbench.cli.app import app
from attrbench.cli.options import option

data_app = typer.Typer(
    help="Datasets: the embedded sets and loaders for CIFAR-10 / ImageFolder folders.",
    no_args_is_help=True,
)


@data_app.command("list")
def list_command(
    pattern: Annotated[
        str, typer.Argument(help="Shell-style filter on the names, e.g. 'cifar*'.")
    ] = "*",
) -> None:
    """Table of the registered datasets: name, kind, splits, classes, image shape, description."""
    from attrbench.data import get_dataset_entry, list_datasets  # torch: only when run

    table = Table(title="attrbench datasets (or pass a folder: its layout is detected)")
    for col in ("name", "kind", "splits", "classes", "C×H×W", "description"):
        table.add_column(col, no_wrap=col != "description")
    for name in list_datasets(pattern):
        entry = get_dataset_entry(name)
        spec = entry.static_spec("paper") if entry.static_spec is not None else None
        table.add_row(
            name, entry.kind, ",".join(entry.splits) or "folder",
            str(spec.num_classes) if spec else "folder",
            "×".join(map(str, spec.image_shape)) if spec else "files", escape(entry.description),
        )
    Console(width=max(Console().width, 110)).print(table)


@data_app.command("info")
def info_command(
    name_or_path: Annotated[
        str, typer.Argument(help="Registered dataset name or a dataset folder.")
    ],
    split: Annotated[Optional[str], typer.Option(
        help="Split: train, test (val, all for some folders) \\[default: test].")] = None,
    data_root: Annotated[Optional[str], option("data_root")] = None,
    image_size: Annotated[Optional[int], option(
        "image_size", "ImageFolder data: resize the shorter side and centre-crop to this.")] = None,
    download: Annotated[bool, typer.Option(
        "--download", help="cifar10 only: download the official archive into --data-root.")] = False,
) -> None:
    """Describe one split: size, image shape, normalisation, classes with their label counts."""
    from attrbench.data import load_dataset

    dataset = load_dataset(name_or_path, split, root=data_root, image_size=image_size,
                           download=download)
    spec = dataset.spec
    hist = dataset.label_histogram().tolist()
    console = Console()
    console.print(f"[bold]{spec.name}[/bold] split {dataset.split!r}: {len(dataset):,} images, "
                  f"shape (C,H,W) = {spec.image_shape}, {spec.num_classes} classes")
    console.print(f"source: {escape(spec.source)}")
    console.print(f"normalisation: mean {spec.mean}, std {spec.std} (pixels in [0, 1])")
    console.print(f"image ids: {int(dataset.ids.min())}..{int(dataset.ids.max())}")
    table = Table(title="label histogram")
    for col, justify in (("label", "right"), ("class", "left"), ("images", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for label, (cls, count) in enumerate(zip(spec.classes, hist)):
        table.add_row(str(label), escape(cls), f"{count:,}")
    console.print(table)


app.add_typer(data_app, name="data")
