"""Command-line interface: ``attrbench <command> --help``.

Each command lives in its own module and registers itself on :data:`attrbench.cli.app.app`.
User errors (:class:`~attrbench.errors.AttrbenchError`) are printed as one line, exit code 2.
"""

from __future__ import annotations

import sys
import warnings

from attrbench.cli.app import app
from attrbench.cli.options import rename_hint
from attrbench.errors import AttrbenchError

# Command modules: importing one registers its commands on ``app``.
from attrbench.cli import (bam, data, evaluate, explain, info, models,  # noqa: E402,F401
                           reproduce, roar, robustness, train)
from attrbench.cli import methods  # noqa: E402,F401
from attrbench.cli import report  # noqa: E402,F401

__all__ = ["app", "main"]


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """attrbench's own warnings as ``warning: ...`` (one line); others as Python prints them."""
    if category.__module__.startswith("attrbench"):
        print(f"warning: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main() -> None:
    """Entry point of the ``attrbench`` console script."""
    warnings.showwarning = _one_line_warning
    hint = rename_hint(sys.argv[1:])  # an old flag spelling: say its new name, not just "no such"
    if hint is not None:
        print(f"error: {hint}", file=sys.stderr)
        raise SystemExit(2)
    try:
        app()
    except AttrbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
