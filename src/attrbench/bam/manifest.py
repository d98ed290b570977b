"""Read a built BAM folder: per-labelling datasets, masks aligned with them, commonality sets.

The layout is written by :func:`attrbench.bam.build.build_bam`; every tree is an ImageFolder tree
(``<labelling>/{train,test}/<class>/<stem>.<ext>``) read with :func:`attrbench.data.load_dataset`,
and the masks are looked up by file stem in ``manifest.csv``.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from attrbench.bam.build import LABELLINGS
from attrbench.data import load_dataset
from attrbench.data.base import ImageDataset
from attrbench.errors import AttrbenchError


class BamFolder:
    """A built BAM dataset on disk.

    Args:
        root: the folder given to ``attrbench bam build``.

    Raises:
        AttrbenchError: ``root`` is not a BAM folder (no ``bam.json``/``manifest.csv``).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if not (self.root / "bam.json").is_file() or not (self.root / "manifest.csv").is_file():
            raise AttrbenchError(f"{self.root} is not a BAM folder (bam.json and manifest.csv "
                                 "missing); build one with 'attrbench bam build'.")
        self.info: dict[str, Any] = json.loads((self.root / "bam.json").read_text())

    @cached_property
    def manifest(self) -> pd.DataFrame:
        """All rows of ``manifest.csv`` (one per composite and set)."""
        frame = pd.read_csv(self.root / "manifest.csv", keep_default_na=False)
        return frame

    @property
    def commonality_sets(self) -> list[str]:
        """Names of the X^k folders, ``k`` ascending (``["k0.1", ..., "k1.0"]``)."""
        return list(self.info.get("commonality_sets", []))

    def tree(self, labelling: str) -> Path:
        """Folder of a labelling (``obj``, ``scene``, ``scene_only``, ``obj_gray``) or an X^k set.

        Raises:
            AttrbenchError: unknown labelling.
        """
        if labelling in LABELLINGS:
            return self.root / labelling
        if labelling in self.commonality_sets:
            return self.root / "commonality" / labelling
        valid = ", ".join([*LABELLINGS, *self.commonality_sets])
        raise AttrbenchError(f"Unknown BAM labelling {labelling!r}; valid: {valid}.")

    def dataset(self, labelling: str, split: str = "test", **kwargs: Any) -> ImageDataset:
        """The labelling's split as an attrbench dataset (kwargs go to ``load_dataset``)."""
        return load_dataset(self.tree(labelling), split=split, **kwargs)

    def masks_for(self, files: list[str], size: tuple[int, int] | None = None) -> torch.Tensor:
        """Object (or CF) masks of the given image files, aligned with them.

        Args:
            files: image paths of a labelling tree (``dataset.files``); matched by file stem.
            size: expected ``(H, W)``; default the folder's image size.

        Returns:
            (N, H, W) bool.

        Raises:
            AttrbenchError: a file has no mask (a scene-only X^k image), or a mask has the
                wrong size.
        """
        side = int(self.info["image_size"])
        size = size or (side, side)
        lookup = (self.manifest[self.manifest["mask"] != ""].drop_duplicates("stem")
                  .set_index("stem")["mask"])
        out = torch.zeros(len(files), *size, dtype=torch.bool)
        for i, f in enumerate(files):
            stem = Path(f).stem
            if stem not in lookup.index:
                raise AttrbenchError(f"Image {f} has no object mask in {self.root}/manifest.csv; "
                                     "rebuild the folder with 'attrbench bam build'.")
            out[i] = torch.from_numpy(read_mask(self.root / lookup[stem], size))
        return out


def bam_mini_path() -> Path:
    """Folder of the small BAM set shipped with the package (built by scripts/build_bam_mini.py)."""
    return Path(__file__).resolve().parents[1] / "data" / "embedded" / "bam_mini"


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A binary mask PNG as (H, W) bool, checked against the image size ``size``.

    Raises:
        AttrbenchError: missing file or a mask whose size differs from the images.
    """
    if not path.is_file():
        raise AttrbenchError(f"Mask {path} is missing; rebuild the BAM folder.")
    with Image.open(path) as image:
        mask = np.asarray(image.convert("L")) >= 128
    if mask.shape != tuple(size):
        raise AttrbenchError(
            f"Mask {path} is {mask.shape[1]}x{mask.shape[0]} but the images are "
            f"{size[1]}x{size[0]}; masks must have the image size (rebuild the folder)."
        )
    return mask
