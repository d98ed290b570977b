"""``attrbench report DIR``: rebuild the report of any benchmark's results folder from its files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attrbench.cli.app import app


@app.command()
def report(
    root: Annotated[Path, typer.Argument(help="Results folder written by evaluate, reproduce, "
                                              "demo, roar, iteroar, robustness or bam run.")],
    ci: Annotated[Optional[str], typer.Option(help="FPA only: independent (the paper's) or "
                                                   "paired confidence interval \\[default: "
                                                   "independent].")] = None,
    min_images: Annotated[Optional[int], typer.Option(help="Robustness only: cells with fewer "
                                                           "label-kept images show 'too few' "
                                                           "\\[default: 5].")] = None,
) -> None:
    """Rebuild the tables, figures and HTML report of a results folder from its stored files.

    The folder's config.json names the benchmark that wrote it (older folders are recognised by
    their contents); nothing is recomputed.
    """
    from attrbench.benchmarks import benchmark_of, report as rebuild
    from attrbench.errors import AttrbenchError

    name = benchmark_of(root)
    options = {}
    for flag, key, value, owner in (("--ci", "ci", ci, "fpa"),
                                    ("--min-images", "min_images", min_images, "robustness")):
        if value is None:
            continue
        if name != owner:
            raise AttrbenchError(f"{flag} applies to {owner} folders; {root} holds {name} "
                                 "results.")
        options[key] = value
    path = rebuild(root, **options)
    typer.echo(f"{name} report: {path}")
