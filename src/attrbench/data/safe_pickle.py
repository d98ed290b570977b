"""Unpickling that can only rebuild numpy arrays and plain containers, for CIFAR-10 batch files.

The official ``cifar-10-batches-py`` files are pickles of dicts holding a uint8 array, lists of
labels and byte strings. ``pickle.load`` on a file from disk would run any callable the file
names (e.g. ``os.system``), so we use :class:`pickle.Unpickler` with :meth:`find_class` restricted
to the few numpy reconstruction functions such a file needs; everything else is refused before it
is imported.
(``numpy.load(allow_pickle=False)`` cannot read these files, and torchvision's ``CIFAR10`` calls
``pickle.load`` unrestricted, hence this small module.)
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from attrbench.errors import AttrbenchError

# (module, name) pairs an array pickle may reference, across numpy 1.x ("numpy.core") and 2.x
# ("numpy._core") and pickle protocols 2 (bytes via _codecs.encode) to 5 (_frombuffer).
_ALLOWED_NAMES: frozenset[tuple[str, str]] = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [
        (f"numpy.{core}.{mod}", name)
        for core in ("core", "_core")
        for mod, name in (
            ("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer")
        )
    ]
)


def _resolve(module: str, name: str) -> Any:
    """The allowed object for ``module.name``, imported from the installed numpy without the
    deprecated ``numpy.core`` alias (numpy 2 moved it to ``numpy._core``)."""
    if module == "numpy":
        return getattr(np, name)
    if module == "_codecs":
        return codecs.encode
    tail = module.split(".", 2)[2]  # "multiarray" or "numeric"
    for core in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{core}.{tail}"), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {module}.{name}")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler whose globals are limited to :data:`_ALLOWED_NAMES`."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 (pickle API)
        if (module, name) not in _ALLOWED_NAMES:
            raise AttrbenchError(
                f"Refusing to load {self._source}: its pickle asks for {module}.{name}, but a "
                "CIFAR-10 batch may only contain numpy arrays, lists and strings; replace the "
                "file with an official copy."
            )
        return _resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102 (pickle API)
        raise AttrbenchError(f"Refusing to load {self._source}: it uses pickle persistent ids.")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]


def load_array_pickle(path: Path) -> Any:
    """Unpickle ``path`` allowing only numpy arrays, dtypes, scalars and builtin containers.

    Args:
        path: a pickle file such as ``cifar-10-batches-py/data_batch_1``.

    Returns:
        The unpickled object (for CIFAR-10 a dict with str keys).

    Raises:
        AttrbenchError: the pickle references anything else (it would run code), or the file is
            truncated or not a pickle at all.
    """
    try:
        with open(path, "rb") as fh:
            return _ArrayOnlyUnpickler(fh, str(path)).load()
    except AttrbenchError:
        raise
    except OSError as exc:
        raise AttrbenchError(
            f"Cannot read {path}: {exc.strerror}; check the path and permissions."
        ) from None
    except Exception as exc:  # any decoding failure of a user file means "corrupt", in one line
        raise AttrbenchError(
            f"{path} is not a readable CIFAR-10 batch ({type(exc).__name__}: "
            f"{_first_line(exc)}); the file is truncated or corrupt, re-extract "
            "cifar-10-python.tar.gz."
        ) from None
