"""``attrbench models``: list the registered model architectures."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from attrbench.cli.app import app
from attrbench.errors import AttrbenchError


@app.command("models")
def models(
    pattern: str = typer.Argument("*", help="Shell-style name filter, e.g. 'cifar_resnet*'."),
    num_classes: int = typer.Option(
        10, "--num-classes", min=1, help="Classes used to count parameters."
    ),
    in_channels: int = typer.Option(
        3, "--in-channels", min=1, help="Input channels used to count parameters."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List registered models: name, parameter count, design input, Grad-CAM layer, description."""
    from attrbench.models.factory import architecture_summary, list_models  # torch: only when run

    names = list_models(pattern)
    if not names:
        raise AttrbenchError(
            f"No model matches {pattern!r}; run 'attrbench models' to see them all."
        )
    rows = [architecture_summary(n, num_classes, in_channels) for n in names]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(
        title=f"attrbench models (parameters for {num_classes} classes, {in_channels} channel(s))"
    )
    for col, justify in (("name", "left"), ("params", "right"), ("input", "left"),
                         ("cam_layer", "left"), ("description", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["name"], f"{r['params']:,}", r["input"], r["cam_layer"], r["description"])
    console = Console()
    console.print(table)
    shipped = pretrained_rows()
    if shipped:
        trained = Table(title="shipped trained models (attrbench.load_pretrained(name), --init NAME)")
        for col in ("name", "augmentation", "recipe", "data", "accuracy (embedded test)"):
            trained.add_column(col, no_wrap=col == "name")
        for r in shipped:
            trained.add_row(r["name"], r["augmentation"], r["recipe"], r["data"], r["accuracy"])
        console.print(trained)


def pretrained_rows() -> list[dict[str, str]]:
    """One row per shipped model, read from the sidecars (no weights are loaded)."""
    from attrbench.models.pretrained import list_pretrained, pretrained_metadata

    rows = []
    for name in list_pretrained():
        meta = pretrained_metadata(name)
        cfg = meta.get("config", {})
        acc = meta.get("shipped", {}).get("accuracy", {}).get("embedded_test_1000")
        rows.append({"name": name, "augmentation": str(cfg.get("augment", "?")),
                     "recipe": str(cfg.get("recipe", "?")), "data": str(cfg.get("dataset", "?")),
                     "accuracy": f"{100 * acc:.1f} %" if acc is not None else "?"})
    return rows
