"""Lazy package exports (PEP 562): a package names its public objects without importing them.

``import attrbench`` (and ``attrbench.fpa``, ``attrbench.bam``) must stay fast: the CLI's
``--help`` loads no torch. Each such package keeps a ``{public name: defining module}`` table and
gets its module ``__getattr__`` here, so the import happens on first use and is then cached in
the package's namespace.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` for ``exports`` (``{name: module}``).

    Example:
        >>> import types
        >>> pkg = types.ModuleType("demo_pkg"); sys.modules["demo_pkg"] = pkg
        >>> pkg.__getattr__ = lazy_exports("demo_pkg", {"sqrt": "math"})
        >>> pkg.sqrt(9.0), "sqrt" in vars(pkg)
        (3.0, True)
        >>> del sys.modules["demo_pkg"]
    """
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    return __getattr__
