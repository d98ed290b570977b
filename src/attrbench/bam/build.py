"""Build the BAM dataset: object crops pasted into scenes, four labellings, commonality sets.

BAM (Yang & Kim 2019) Sec. 3.1-3.2 and the authors' ``construct_bam_dataset.py`` (NOTES §2.1):

* for object class ``o``, scene class ``s`` and index ``i < per_pair``, object crop ``i`` of ``o``
  is pasted into scene image ``i`` of ``s``, so every scene image is reused once per object class
  and every crop once per scene class; a class with fewer than ``per_pair`` crops is first split
  into disjoint train / held-out crop pools, each split cycling through its own pool
  (:func:`crop_indices`), so no crop appears in both splits;
* the crop's larger side is scaled to ``randint(int(S/sqrt 3), int(S/sqrt 2))`` (inclusive) of the
  scene side ``S``, aspect kept, bilinear; the top-left corner is uniform among the positions that
  keep it fully inside; premultiplied-alpha compositing (no dark fringes from the crops' black
  surround);
* the last ``val_fraction`` of the indices form the held-out split, named ``test`` as the training
  loop expects (the authors' ``val``: indices 900-999 of 1000).

Labellings of the same pixels (one file stem per composite, the same in every tree)::

    obj/{train,test}/<object>/<stem>.<ext>        X_{o,s}, object labels   (f_o)
    scene/{train,test}/<scene>/<stem>.<ext>       X_{o,s}, scene labels    (f_s)
    scene_only/{train,test}/<scene>/<stem>.<ext>  X_{empty,s}: the scene without the object
    obj_gray/{train,test}/<object>/<stem>.<ext>   X_{o,g}: the object on mid-gray (128)
    masks/<stem>.png                              binary object mask, image size (0/255)
    commonality/k<k>/{train,test}/<scene>/...      X^k: CF object in k*|scenes| scene classes
    manifest.csv, manifest.parquet, bam.json

Commonality (Sec. 3.2, NOTES row 19, not in the authors' repo): for ``k = j / |scenes|``, the CF
object (default the first object class) is pasted into every image of ``j`` scene classes: the
always-CF class (default ``bamboo_forest``) and the first ``j - 1`` of a seeded permutation of the
others; the remaining classes are scene-only. The CF paste of scene image ``(s, i)`` is drawn once
and shared by all ``k`` (stem ``cf-<scene>-<iiii>``), so the X^k models are compared on identical
inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from attrbench.atomic import write_json_atomic, write_text_atomic
from attrbench.bam.sources import ClassFiles, open_object_rgba
from attrbench.errors import AttrbenchError
from attrbench.provenance import provenance

LABELLINGS: tuple[str, ...] = ("obj", "scene", "scene_only", "obj_gray")
GRAY = 128


@dataclass(frozen=True)
class BamBuildConfig:
    """What to build. Defaults follow the paper where our MiniPlaces material allows.

    Attributes:
        objects: object classes (default: all in the source, sorted).
        scenes: scene classes (default: all in the source, sorted).
        per_pair: images per (object, scene) pair (paper 1000; limited by the scene images per
            class, 300 in ``miniplaces-scenes.tar``).
        val_fraction: fraction of the indices held out (paper 0.1); at least one.
        image_size: output side S in pixels; scenes are resized (shorter side) and centre-cropped
            to S x S, never enlarged.
        seed: seeds the file permutations and every size/position draw.
        commonality: also build the X^k sets.
        cf_object: the common-feature object class of X^k (default: the first object class).
        cf_scene: the always-CF scene class (default ``bamboo_forest`` if present, else the first).
        image_format: ``"jpg"`` (as the authors) or ``"png"`` (lossless).
        jpeg_quality: JPEG quality.
    """

    objects: tuple[str, ...] | None = None
    scenes: tuple[str, ...] | None = None
    per_pair: int = 100
    val_fraction: float = 0.1
    image_size: int = 128
    seed: int = 0
    commonality: bool = True
    cf_object: str | None = None
    cf_scene: str | None = None
    image_format: str = "jpg"
    jpeg_quality: int = 95

    def validate(self) -> None:
        """Raise :class:`AttrbenchError` for impossible settings."""
        if self.per_pair < 2:
            raise AttrbenchError(f"per_pair must be >= 2 (train and val), got {self.per_pair}.")
        if not 0 < self.val_fraction < 1:
            raise AttrbenchError(f"val_fraction must be in (0, 1), got {self.val_fraction}.")
        if self.image_size < 8:
            raise AttrbenchError(f"image_size must be >= 8 pixels, got {self.image_size}.")
        if self.image_format not in ("jpg", "png"):
            raise AttrbenchError(f"image_format must be 'jpg' or 'png', got {self.image_format!r}.")

    @property
    def n_val(self) -> int:
        """Validation indices per pair: the last ``max(1, round(per_pair * val_fraction))``."""
        return min(self.per_pair - 1, max(1, round(self.per_pair * self.val_fraction)))


@dataclass(frozen=True)
class Paste:
    """One object paste: pixel box ``[top, bottom) x [left, right)`` in the output image."""

    top: int
    left: int
    bottom: int
    right: int


def draw_paste(crop_size: tuple[int, int], side: int, gen: torch.Generator) -> Paste:
    """Draw the pasted size and position of a crop ``(width, height)`` in an S x S scene.

    The larger side becomes ``randint(int(S/sqrt 3), int(S/sqrt 2))`` (inclusive), the other keeps
    the aspect (>= 1 px); the corner is uniform over the positions fully inside (Sec. 3.1).
    """
    w, h = crop_size
    lo, hi = int(side / math.sqrt(3)), int(side / math.sqrt(2))
    big = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    if h >= w:
        new_h, new_w = big, max(1, round(w * big / h))
    else:
        new_w, new_h = big, max(1, round(h * big / w))
    top = int(torch.randint(0, side - new_h + 1, (1,), generator=gen))
    left = int(torch.randint(0, side - new_w + 1, (1,), generator=gen))
    return Paste(top, left, top + new_h, left + new_w)


def prepare_scene(image: Image.Image, side: int, name: str) -> np.ndarray:
    """Scene as (S, S, 3) uint8: shorter side resized to S (never enlarged), centre crop.

    Raises:
        AttrbenchError: the scene is smaller than S (the object could not be scaled relative to
            it without enlarging the scene).
    """
    image = image.convert("RGB")
    w, h = image.size
    if min(w, h) < side:
        raise AttrbenchError(
            f"Scene {name} is {w}x{h}, smaller than the output size {side}x{side} that the pasted "
            f"objects are scaled to; use an image size <= {min(w, h)}."
        )
    if (w, h) != (side, side):
        scale = side / min(w, h)
        image = image.resize((max(side, round(w * scale)), max(side, round(h * scale))),
                             Image.Resampling.BILINEAR)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    return np.asarray(image, dtype=np.uint8)


def composite(scene: np.ndarray, crop: Image.Image, paste: Paste) -> tuple[np.ndarray, np.ndarray,
                                                                            np.ndarray]:
    """Paste an RGBA crop into ``scene`` (S, S, 3) uint8 at ``paste``.

    The crop is resized in premultiplied RGBA (PIL mode ``RGBa``) and composited as
    ``C' + (1 - a') * scene``; the mask is ``a' >= 0.5`` (or ``a' > 0`` if that is empty).

    Returns:
        ``(with_object, object_on_gray, mask)``: (S, S, 3) uint8 twice and (S, S) bool.
    """
    size = (paste.right - paste.left, paste.bottom - paste.top)
    small = np.asarray(crop.convert("RGBa").resize(size, Image.Resampling.BILINEAR), np.float64)
    color, alpha = small[..., :3], small[..., 3:] / 255.0
    box = (slice(paste.top, paste.bottom), slice(paste.left, paste.right))
    out, gray = scene.astype(np.float64), np.full_like(scene, GRAY, dtype=np.float64)
    out[box] = color + (1.0 - alpha) * out[box]
    gray[box] = color + (1.0 - alpha) * gray[box]
    mask = np.zeros(scene.shape[:2], dtype=bool)
    region = alpha[..., 0] >= 0.5
    mask[box] = region if region.any() else alpha[..., 0] > 0
    def to_uint8(a: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return to_uint8(out), to_uint8(gray), mask


class _Writer:
    def __init__(self, out: Path, cfg: BamBuildConfig) -> None:
        self.out, self.cfg = out, cfg

    def image(self, rel: str, pixels: np.ndarray) -> None:
        path = self.out / f"{rel}.{self.cfg.image_format}"
        path.parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = ({"quality": self.cfg.jpeg_quality}
                                   if self.cfg.image_format == "jpg" else {"optimize": True})
        Image.fromarray(pixels).save(path, **options)

    def mask(self, stem: str, mask: np.ndarray) -> str:
        rel = f"masks/{stem}.png"
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(path, optimize=True)
        return rel


def crop_indices(n_crops: int, per_pair: int, n_val: int) -> list[int]:
    """Which crop (index into a class's permuted crop list) goes to each pair index ``i``.

    Pair indices ``< per_pair - n_val`` form the training split, the rest the held-out split. The
    class's crops are first split into disjoint pools, so that no crop is pasted into both
    splits (a crop seen in training would make the held-out composites partly known): with at
    least ``per_pair`` crops, index ``i`` takes crop ``i`` (the authors' rule); with fewer, the
    held-out pool gets ``round(n_crops * n_val / per_pair)`` crops (at least 1, leaving at least 1
    for training), the training pool the rest, and each split cycles through its own pool.

    Args:
        n_crops: crops of the class (>= 2).
        per_pair: images per (object, scene) pair.
        n_val: held-out indices per pair (``BamBuildConfig.n_val``).

    Returns:
        ``per_pair`` crop indices.

    Raises:
        AttrbenchError: fewer than 2 crops (one crop cannot serve both splits).
    """
    if n_crops < 2:
        raise AttrbenchError(f"An object class needs at least 2 crops (one for training, one "
                             f"held out), got {n_crops}; add crops or drop the class.")
    first_val = per_pair - n_val
    n_test = min(n_val, n_crops - 1, max(1, round(n_crops * n_val / per_pair)))
    n_train = min(first_val, n_crops - n_test)
    return ([i % n_train for i in range(first_val)]
            + [n_train + (i % n_test) for i in range(n_val)])


def _permutation(n: int, gen: torch.Generator) -> list[int]:
    return torch.randperm(n, generator=gen).tolist()


def build_bam(objects: str | Path | ClassFiles, scenes: str | Path | ClassFiles,
              out: str | Path, cfg: BamBuildConfig = BamBuildConfig()) -> pd.DataFrame:
    """Build the BAM trees, masks and manifest under ``out`` (see the module docstring).

    Args:
        objects: folder or tar of RGBA object crops ``<class>/<file>.png``.
        scenes: folder or tar of scene images ``<class>/<file>.jpg``.
        out: output folder; must not exist or be empty.
        cfg: what to build.

    Returns:
        The manifest (one row per composite image; see :mod:`attrbench.bam.manifest`).

    Raises:
        AttrbenchError: bad sources (no alpha, small scenes, unknown classes, too few scenes), a
            non-empty output folder, or bad settings.
    """
    cfg.validate()
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise AttrbenchError(f"Output folder {out} is not empty; choose a new folder.")
    obj_src = objects if isinstance(objects, ClassFiles) else ClassFiles(objects, "object")
    scn_src = scenes if isinstance(scenes, ClassFiles) else ClassFiles(scenes, "scene")
    obj_classes = obj_src.select(cfg.objects)
    scn_classes = scn_src.select(cfg.scenes)
    cf_object = obj_src.select([cfg.cf_object])[0] if cfg.cf_object else obj_classes[0]
    if cfg.cf_scene is not None and cfg.cf_scene not in scn_classes:
        raise AttrbenchError(f"cf_scene {cfg.cf_scene!r} is not one of the scene classes "
                             f"{scn_classes}; pick one of them.")
    cf_scene = cfg.cf_scene or ("bamboo_forest" if "bamboo_forest" in scn_classes
                                else scn_classes[0])
    for s in scn_classes:
        if len(scn_src.files[s]) < cfg.per_pair:
            have = len(scn_src.files[s])
            raise AttrbenchError(f"Scene class {s!r} has {have} images, fewer than "
                                 f"per_pair = {cfg.per_pair}; lower per_pair.")
    gen = torch.Generator().manual_seed(cfg.seed)
    obj_files = {o: [obj_src.files[o][j] for j in _permutation(len(obj_src.files[o]), gen)]
                 for o in sorted(set(obj_classes) | {cf_object})}
    scn_files = {s: [scn_src.files[s][j] for j in _permutation(len(scn_src.files[s]), gen)]
                 [:cfg.per_pair] for s in scn_classes}
    others = [s for s in scn_classes if s != cf_scene]
    cf_order = [cf_scene] + [others[j] for j in _permutation(len(others), gen)]
    writer = _Writer(out, cfg)
    side, first_val = cfg.image_size, cfg.per_pair - cfg.n_val
    crops: dict[str, Image.Image] = {}
    rows: list[dict[str, Any]] = []
    crop_index = {o: crop_indices(len(files), cfg.per_pair, cfg.n_val)
                  for o, files in obj_files.items()}

    def crop_of(o: str, i: int) -> tuple[str, Image.Image]:
        name = obj_files[o][crop_index[o][i]]
        if name not in crops:
            crops[name] = open_object_rgba(obj_src, name)
        return name, crops[name]

    for s in scn_classes:
        for i in range(cfg.per_pair):
            scene = prepare_scene(scn_src.open(scn_files[s][i]), side, scn_files[s][i])
            split = "test" if i >= first_val else "train"
            base = {"split": split, "scene": s, "index": i, "scene_file": scn_files[s][i]}
            for o in obj_classes:
                name, crop = crop_of(o, i)
                paste = draw_paste(crop.size, side, gen)
                pixels, gray, mask = composite(scene, crop, paste)
                stem = f"{o}-{s}-{i:04d}"
                for labelling, label, img in (("obj", o, pixels), ("scene", s, pixels),
                                              ("scene_only", s, scene), ("obj_gray", o, gray)):
                    writer.image(f"{labelling}/{split}/{label}/{stem}", img)
                rows.append({"set": "bam", "stem": stem, **base, "object": o, "object_file": name,
                             "has_object": True, **asdict(paste), "mask": writer.mask(stem, mask)})
            if cfg.commonality:
                name, crop = crop_of(cf_object, i)
                paste = draw_paste(crop.size, side, gen)
                pixels, _, mask = composite(scene, crop, paste)
                stem = f"cf-{s}-{i:04d}"
                mask_rel = writer.mask(stem, mask)
                for j in range(1, len(scn_classes) + 1):
                    k_name = commonality_name(j, len(scn_classes))
                    has_cf = s in cf_order[:j]
                    writer.image(f"commonality/{k_name}/{split}/{s}/{stem}",
                                 pixels if has_cf else scene)
                    cf_cols = ({"object": cf_object, "object_file": name, "has_object": True,
                                **asdict(paste), "mask": mask_rel} if has_cf else
                               {"object": "", "object_file": "", "has_object": False, "top": -1,
                                "left": -1, "bottom": -1, "right": -1, "mask": ""})
                    rows.append({"set": k_name, "stem": stem, **base, **cf_cols})
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_text_atomic(out / "manifest.csv", manifest.to_csv(index=False))
    manifest.to_parquet(out / "manifest.parquet", index=False)
    info = {"format": "attrbench-bam/1", "objects": obj_classes, "scenes": scn_classes,
            "cf_object": cf_object, "cf_scene": cf_scene, "cf_order": cf_order,
            "commonality_sets": ([commonality_name(j, len(scn_classes))
                                  for j in range(1, len(scn_classes) + 1)]
                                 if cfg.commonality else []),
            "labellings": list(LABELLINGS), "image_size": side, "config": asdict(cfg),
            "sources": {"objects": str(obj_src.path), "scenes": str(scn_src.path)},
            "provenance": provenance(asdict(cfg), cfg.seed)}
    write_json_atomic(out / "bam.json", info)
    return manifest


def commonality_name(j: int, n_scenes: int) -> str:
    """Folder name of X^k with ``k = j / n_scenes``, e.g. ``k0.3`` (two decimals if needed)."""
    k = j / n_scenes
    return f"k{k:.1f}" if abs(round(k, 1) - k) < 1e-9 else f"k{k:.2f}"


MANIFEST_COLUMNS: tuple[str, ...] = (
    "set", "stem", "split", "scene", "index", "scene_file", "object", "object_file", "has_object",
    "top", "left", "bottom", "right", "mask",
)
