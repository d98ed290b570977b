"""What a run records beside its results: seed, configuration, git revision and library versions."""

from __future__ import annotations

import datetime as _dt
import functools
import importlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

_LIBRARIES = ("attrbench", "torch", "torchvision", "captum", "numpy", "scipy", "pandas", "pyarrow",
              "safetensors", "matplotlib")


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[lib] = "missing"
    # The module's own version carries the build tag (e.g. "2.14.1+cu130"), which the metadata drops.
    for lib in ("torch", "torchvision"):
        try:
            out[lib] = importlib.import_module(lib).__version__
        except ImportError:
            pass
    return tuple(out.items())


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that affect results (``"missing"`` if not installed).

    Looked up once per process (metadata lookups are slow) and returned as a fresh dict.
    """
    return dict(_library_versions())


def git_revision(path: str | Path | None = None) -> str:
    """The git commit of the source tree (with ``-dirty`` if modified), or ``"unknown"``."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def hardware() -> dict[str, Any]:
    """What decides the float kernels a run uses: the CPU instruction set torch dispatches to
    (e.g. ``"AVX512"``), the CPU's bf16 / AMX support, torch's thread count and the GPU's name.

    Runs with the same seed and code are bit-identical only on the same hardware and thread
    count (bf16 autocast and float32 reductions use other kernels elsewhere), so this is what
    to compare when two sessions' numbers differ.
    """
    import torch

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_amx": sorted(f for f in flags if "bf16" in f or f.startswith("amx")),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None),
    }


def provenance(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """The record written beside every run's results."""
    return {
        "seed": seed,
        "config": config,
        "git_revision": git_revision(),
        "versions": library_versions(),
        "hardware": hardware(),
        "platform": platform.platform(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
