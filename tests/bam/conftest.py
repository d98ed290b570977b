"""Tiny synthetic BAM sources (object crops with alpha, scenes) as folders and as tar files."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def make_sources(root: Path, *, scene_side: int = 32, crop_mode: str = "RGBA") -> tuple[Path, Path]:
    """Write ``objects/<class>/*.png`` (2 classes x 3 crops), ``scenes/<class>/*.png`` (3 x 4)."""
    rng = np.random.default_rng(0)
    objects, scenes = root / "objects", root / "scenes"
    for c, (h, w) in {"ball": (14, 20), "cup": (22, 12)}.items():
        (objects / c).mkdir(parents=True)
        for j in range(3):
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            alpha = np.zeros((h, w), np.uint8)
            alpha[2:-2, 1:-1] = 255
            rgb[alpha == 0] = 0
            pixels = np.dstack([rgb, alpha]) if crop_mode == "RGBA" else rgb
            Image.fromarray(pixels).save(objects / c / f"{c}_{j}.png")
    for c in ("coast", "forest", "field"):
        (scenes / c).mkdir(parents=True)
        for j in range(4):
            pixels = rng.integers(0, 256, (scene_side, scene_side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(scenes / c / f"{j:04d}.png")
    return objects, scenes


def make_tar(folder: Path, tar_path: Path) -> Path:
    """Pack ``folder`` as an uncompressed tar with ``folder.name`` as the top directory."""
    with tarfile.open(tar_path, "w") as tar:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=f"{folder.name}/{p.relative_to(folder).as_posix()}")
    return tar_path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_sources(tmp_path_factory.mktemp("src"))
