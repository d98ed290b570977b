"""Command-line interface: ``attrbench <command> --help``.

Each command lives in its own module and registers itself on :data:`attrbench.cli.app.app`.
User errors (:class:`~attrbench.errors.AttrbenchError`) are printed as one line, exit code 2.
"""

from __future__ import annotations

import sys

from attrbench.cli.app import app
from attrbench.errors import AttrbenchError

# Command modules: importing one registers its commands on ``app``.
from attrbench.cli import (bam, data, evaluate, explain, info, models,  # noqa: E402,F401
                           reproduce, roar, robustness, train)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``attrbench`` console script."""
    try:
        app()
    except AttrbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
