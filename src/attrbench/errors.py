"""User-facing errors.

Every problem caused by the user's input (a bad name, a malformed file, a wrong shape) is raised as
:class:`AttrbenchError`, a ``ValueError`` whose message is one line that says what to do. The CLI prints
the message without a traceback; the Python API lets it propagate.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AttrbenchError(ValueError):
    """An error in the user's input or environment, with a message that says how to fix it."""


def unknown_name_error(kind: str, name: str, valid: Iterable[str]) -> AttrbenchError:
    """Build the error for an unknown registry name, listing valid names and close matches.

    Args:
        kind: what was looked up, e.g. ``"method"``.
        name: the name the user gave.
        valid: all registered names.
    """
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return AttrbenchError(f"Unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(valid)}.")
