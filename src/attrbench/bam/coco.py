"""Object crops from COCO instance annotations: the BAM authors' recipe (NOTES §2.1).

For every image that contains a class, the **largest-area** annotation of that class is taken,
the image is cut to the annotation's box and saved as an RGBA PNG whose alpha is the instance
mask, as ``<out>/<class>/<image id>.png``; the first ``per_class`` images (by image id) are kept.
Departure, on purpose: the authors multiplied by the mask and then made every pure-black pixel
transparent (losing genuinely black object pixels); here alpha is the mask itself.

Masks come from the annotation's polygons (filled with PIL) or from uncompressed RLE (crowd
annotations in the instances JSON); compressed RLE strings are refused with a message, since
decoding them needs pycocotools. The result is a folder that :func:`attrbench.bam.build_bam`
reads as its object source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from attrbench.errors import AttrbenchError, unknown_name_error


def annotation_mask(ann: dict[str, Any], height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of one COCO annotation (polygons or uncompressed RLE).

    Raises:
        AttrbenchError: compressed RLE or an unknown segmentation format.
    """
    seg = ann.get("segmentation")
    if isinstance(seg, list):
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for poly in seg:
            if len(poly) >= 6:
                draw.polygon([(float(x), float(y)) for x, y in zip(poly[::2], poly[1::2])],
                             fill=1, outline=1)
        return np.asarray(canvas, dtype=bool)
    if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        h, w = seg.get("size", [height, width])
        runs = np.asarray(seg["counts"], dtype=np.int64)
        values = np.arange(len(runs)) % 2  # runs alternate 0, 1, 0, ... starting with zeros
        flat = np.repeat(values.astype(bool), runs)
        if flat.size != h * w:
            raise AttrbenchError(f"RLE of annotation {ann.get('id')} covers {flat.size} pixels, "
                                 f"not {h}x{w}; the annotation file is corrupt.")
        return flat.reshape(w, h).T  # COCO RLE is column-major
    raise AttrbenchError(f"Annotation {ann.get('id')} has compressed RLE or an unknown "
                         "segmentation; install pycocotools and convert it to polygons first.")


def extract_coco_crops(instances_json: str | Path, images_dir: str | Path, out: str | Path,
                       classes: Sequence[str], per_class: int = 1000) -> dict[str, int]:
    """Write RGBA crops ``<out>/<class>/<image id>.png`` from COCO instance annotations.

    Args:
        instances_json: e.g. ``annotations/instances_train2017.json``.
        images_dir: folder of the images (``train2017``).
        out: output folder (class folders are created).
        classes: COCO category names (BAM: backpack, bird, dog, elephant, kite, pizza,
            stop sign, toilet, truck, zebra); spaces become underscores in folder names.
        per_class: images per class (paper 1000).

    Returns:
        ``{class folder: crops written}``.

    Raises:
        AttrbenchError: unknown class names or missing images.
    """
    data = json.loads(Path(instances_json).read_text())
    by_name = {c["name"]: c["id"] for c in data["categories"]}
    for name in classes:
        if name not in by_name:
            raise unknown_name_error("COCO category", name, by_name)
    images = {im["id"]: im for im in data["images"]}
    largest: dict[tuple[int, int], dict[str, Any]] = {}
    for ann in data["annotations"]:
        key = (ann["category_id"], ann["image_id"])
        if key not in largest or ann["area"] > largest[key]["area"]:
            largest[key] = ann
    counts: dict[str, int] = {}
    for name in classes:
        folder = Path(out) / name.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        chosen = sorted(i for c, i in largest if c == by_name[name])[:per_class]
        for image_id in chosen:
            info, ann = images[image_id], largest[(by_name[name], image_id)]
            path = Path(images_dir) / info["file_name"]
            if not path.is_file():
                raise AttrbenchError(f"COCO image {path} is missing; give the folder that holds "
                                     f"{info['file_name']}.")
            rgb = np.asarray(Image.open(path).convert("RGB"))
            mask = annotation_mask(ann, *rgb.shape[:2])
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            if rows.size == 0:
                continue
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            alpha = mask[box].astype(np.uint8) * 255
            crop = np.dstack([rgb[box] * (alpha[..., None] > 0), alpha])
            Image.fromarray(crop.astype(np.uint8), "RGBA").save(folder / f"{image_id:012d}.png")
        counts[folder.name] = len(list(folder.glob("*.png")))
    return counts
