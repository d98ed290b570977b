"""One progress display for every long-running loop: a rich bar on a terminal, plain lines in a log.

* ``enabled=False``: silent (tests, library use that asks for it);
* stderr is a terminal: a rich bar (done/total, elapsed, remaining);
* stderr is redirected (a log file, a batch job): one line per ``advance`` call, at most one every
  :data:`LINE_INTERVAL_S` seconds (plus the last), so a log shows how far a run got.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

#: Least seconds between two progress lines when stderr is not a terminal (the last always prints).
LINE_INTERVAL_S = 5.0


def attached_to_terminal(stream: TextIO | None = None) -> bool:
    """True if ``stream`` (default: stderr) is an interactive terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_bar(enabled: bool, total: int, description: str, unit: str = "",
                 stream: TextIO | None = None) -> Iterator[Callable[[int], None]]:
    """Context manager yielding ``advance(n)``: ``n`` more units of work are done.

    Args:
        enabled: False gives a no-op ``advance``.
        total: units of work (e.g. images x models).
        description: label shown left of the bar / at the start of each line.
        unit: name of a unit for the lines (``"images"``), may be empty.
        stream: where lines go (default stderr); a terminal stream gets the rich bar.
    """
    if not enabled:
        yield lambda n: None
        return
    stream = stream if stream is not None else sys.stderr
    if not attached_to_terminal(stream):
        yield _line_printer(total, description, unit, stream)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False, console=Console(file=stream)) as bar:
        task = bar.add_task(f"{description} ({unit})" if unit else description, total=total)
        yield lambda n: bar.advance(task, n)


def _line_printer(total: int, description: str, unit: str,
                  stream: TextIO) -> Callable[[int], None]:
    start = time.monotonic()
    state = {"done": 0, "last": -float("inf")}
    suffix = f" {unit}" if unit else ""

    def advance(n: int) -> None:
        if n <= 0:
            return
        state["done"] += n
        now = time.monotonic()
        finished = state["done"] >= total
        if not finished and now - state["last"] < LINE_INTERVAL_S:
            return
        state["last"] = now
        pct = 100.0 * state["done"] / total if total else 100.0
        print(f"{description}: {state['done']}/{total}{suffix} ({pct:.0f} %), "
              f"{now - start:.0f} s", file=stream, flush=True)

    return advance
