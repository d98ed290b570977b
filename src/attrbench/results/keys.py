"""Keys of a results folder: the names of shards, side files and per-unit folders.

A key names one unit of work (``"none__cifar_resnet20__chunk00003"``,
``"vanilla_gradient+abs_sum_t30_r0"``) and becomes a file name, so it may hold only letters,
digits and ``_.=+'-``: no path separator, no ``..`` escape, the same on every file system.
"""

from __future__ import annotations

import re

_KEY_RE = re.compile(r"^[A-Za-z0-9_.=+'-]+$")


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid key (letters, digits, ``_.=+'-``; not ``.`` or ``..``).

    Raises:
        ValueError: ``key`` holds other characters (a programming error: build keys with
            :func:`safe_key`).
    """
    if not isinstance(key, str) or not _KEY_RE.match(key) or key in (".", ".."):
        raise ValueError(f"invalid key {key!r}: use letters, digits and _.=+'- (safe_key())")
    return key


def safe_key(text: str) -> str:
    """``text`` with every character other than a letter, digit, ``_``, ``.`` or ``-`` as ``-``.

    Example:
        >>> safe_key("fpa__my model|v2")
        'fpa__my-model-v2'
    """
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in text)


def chunk_suffix(chunk: int) -> str:
    """The end of every shard key of image chunk ``chunk`` (``"__chunk00003"``)."""
    return f"__chunk{chunk:05d}"
