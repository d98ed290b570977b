"""The Typer application object; command modules attach their commands to it.

The CLI only parses arguments, builds a config and calls the library (see docs/design.md).
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="attrbench",
    help="Which feature-attribution method really explains your image classifier?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
