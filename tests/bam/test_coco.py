"""COCO instance annotations -> RGBA object crops (the BAM authors' recipe)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attrbench.bam.coco import annotation_mask, extract_coco_crops
from attrbench.errors import AttrbenchError


def _rle(mask: np.ndarray) -> dict:
    flat = mask.T.flatten().astype(int)  # column-major, runs start with zeros
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def test_rle_and_polygon_masks() -> None:
    mask = np.zeros((5, 4), bool)
    mask[1:4, 2] = True
    mask[4, 0] = True
    assert np.array_equal(annotation_mask({"segmentation": _rle(mask)}, 5, 4), mask)
    square = annotation_mask({"segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]]}, 5, 5)
    assert square[1:4, 1:4].all() and square.sum() == 9
    with pytest.raises(AttrbenchError, match="compressed RLE"):
        annotation_mask({"id": 7, "segmentation": {"size": [5, 4], "counts": "abc"}}, 5, 4)


def test_extract_largest_instance(tmp_path: Path) -> None:
    images = tmp_path / "train2017"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(
            images / f"{i:012d}.jpg")
    big = np.zeros((20, 30), bool)
    big[5:15, 10:25] = True
    data = {
        "categories": [{"id": 18, "name": "dog"}, {"id": 17, "name": "cat"}],
        "images": [{"id": i, "file_name": f"{i:012d}.jpg"} for i in (1, 2)],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 18, "area": 4.0,
             "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
            {"id": 2, "image_id": 1, "category_id": 18, "area": 150.0,
             "segmentation": _rle(big), "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 17, "area": 9.0,
             "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]]},
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(data))
    counts = extract_coco_crops(tmp_path / "instances.json", images, tmp_path / "out", ["dog"])
    assert counts == {"dog": 1}
    crop = Image.open(tmp_path / "out" / "dog" / "000000000001.png")
    assert crop.mode == "RGBA" and crop.size == (15, 10)  # the larger (RLE) instance's box
    assert (np.asarray(crop)[..., 3] == 255).all()
    from typer.testing import CliRunner

    import attrbench.cli.bam  # noqa: F401
    from attrbench.cli.app import app

    result = CliRunner().invoke(app, ["bam", "coco-crops", "--out", str(tmp_path / "cli"),
                                      "--instances",
                                      str(tmp_path / "instances.json"), "--images", str(images),
                                      "--class", "dog", "--class", "cat"])
    assert result.exit_code == 0 and "dog: 1, cat: 1" in result.output, result.output
    with pytest.raises(AttrbenchError, match="Unknown COCO category 'zebra'"):
        extract_coco_crops(tmp_path / "instances.json", images, tmp_path / "o2", ["zebra"])
