"""BAM dataset builder: layout, pixels, determinism, commonality sets, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.bam.build import BamBuildConfig, build_bam, crop_indices, draw_paste
from attrbench.bam.manifest import BamFolder, bam_mini_path, read_mask
from attrbench.errors import AttrbenchError

from .conftest import make_sources, make_tar

CFG = BamBuildConfig(per_pair=3, image_size=32, image_format="png", cf_scene="forest")


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def built(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bam") / "out"
    build_bam(*sources, out, CFG)
    return out


def test_layout_and_labellings(built: Path) -> None:
    folder = BamFolder(built)
    m = folder.manifest
    bam = m[m["set"] == "bam"]
    assert len(bam) == 2 * 3 * 3 and (bam["split"] == "test").sum() == 6  # last index held out
    for labelling, classes in (("obj", ["ball", "cup"]), ("scene", ["coast", "field", "forest"]),
                               ("scene_only", ["coast", "field", "forest"]),
                               ("obj_gray", ["ball", "cup"])):
        train, test = folder.dataset(labelling, "train"), folder.dataset(labelling, "test")
        assert list(train.spec.classes) == classes and len(train) == 12 and len(test) == 6
    row = bam.iloc[0]
    stem, split = row["stem"], row["split"]
    with_obj = _png(built / "obj" / split / row["object"] / f"{stem}.png")
    assert np.array_equal(with_obj, _png(built / "scene" / split / row["scene"] / f"{stem}.png"))
    scene = _png(built / "scene_only" / split / row["scene"] / f"{stem}.png")
    gray = _png(built / "obj_gray" / split / row["object"] / f"{stem}.png")
    mask = read_mask(built / row["mask"], (32, 32))
    box = np.zeros_like(mask)
    box[row["top"]:row["bottom"], row["left"]:row["right"]] = True
    assert mask.any() and not (mask & ~box).any()
    assert np.array_equal(with_obj[~box], scene[~box])  # only the box changes
    inner = mask.copy()  # pixels whose resized alpha is 1: the object alone
    for shift in ((0, 1), (0, -1), (1, 0), (-1, 0), (0, 2), (0, -2), (2, 0), (-2, 0)):
        inner &= np.roll(mask, shift, axis=(0, 1))
    assert inner.any() and (gray[~box] == 128).all()
    assert np.array_equal(gray[inner], with_obj[inner])
    big = max(row["bottom"] - row["top"], row["right"] - row["left"])
    assert int(32 / math.sqrt(3)) <= big <= int(32 / math.sqrt(2))




def test_masks_align_with_datasets(built: Path) -> None:
    folder = BamFolder(built)
    test = folder.dataset("scene", "test")
    masks = folder.masks_for(test.files)
    assert masks.shape == (6, 32, 32) and masks.flatten(1).any(1).all()
    x_obj, _ = test[0]
    x_scene, _ = folder.dataset("scene_only", "test")[0]
    changed = (x_obj != x_scene).any(0)
    assert changed[masks[0]].float().mean() > 0.9  # the mask covers the pasted pixels


def test_commonality_sets(built: Path) -> None:
    folder = BamFolder(built)
    assert folder.commonality_sets == ["k0.33", "k0.67", "k1.0"]
    m = folder.manifest
    for j, name in enumerate(folder.commonality_sets, start=1):
        rows = m[m["set"] == name]
        assert len(rows) == 3 * 3
        with_cf = sorted(rows[rows["has_object"]]["scene"].unique())
        assert len(with_cf) == j and "forest" in with_cf  # the always-CF class
        assert len(folder.dataset(name, "train")) == 6
    cf = m[(m["set"] == folder.commonality_sets[-1])]
    assert (cf["object"] == "ball").all()
    assert len(folder.masks_for(folder.dataset(folder.commonality_sets[-1], "test").files)) == 3


def test_deterministic_and_tar_equals_folder(sources: tuple[Path, Path], built: Path,
                                             tmp_path: Path) -> None:
    objects = make_tar(sources[0], tmp_path / "objects.tar")
    scenes = make_tar(sources[1], tmp_path / "scenes.tar")
    again = build_bam(objects, scenes, tmp_path / "again", CFG)
    first = BamFolder(built).manifest
    cols = ["stem", "split", "top", "left", "bottom", "right"]
    assert again[cols].reset_index(drop=True).equals(first[cols].reset_index(drop=True))
    for rel in ("obj/train/ball/ball-coast-0000.png", "masks/cf-field-0001.png"):
        assert (built / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes()
    other = build_bam(*sources, tmp_path / "seed1", BamBuildConfig(**{**CFG.__dict__, "seed": 1}))
    assert not other[cols].equals(again[cols])


def test_paste_sizes_cover_the_range() -> None:
    gen = torch.Generator().manual_seed(0)
    sizes = {max(p.bottom - p.top, p.right - p.left)
             for p in (draw_paste((30, 10), 128, gen) for _ in range(400))}
    assert sizes == set(range(int(128 / math.sqrt(3)), int(128 / math.sqrt(2)) + 1))


def test_bad_inputs(tmp_path: Path, sources: tuple[Path, Path]) -> None:
    no_alpha = make_sources(tmp_path / "rgb", crop_mode="RGB")
    with pytest.raises(AttrbenchError, match="has no alpha channel"):
        build_bam(*no_alpha, tmp_path / "o1", CFG)
    small = make_sources(tmp_path / "small", scene_side=16)
    with pytest.raises(AttrbenchError, match="smaller than the output size 32x32"):
        build_bam(*small, tmp_path / "o2", CFG)
    with pytest.raises(AttrbenchError, match="Unknown object class 'dog'"):
        build_bam(*sources, tmp_path / "o3",
                  BamBuildConfig(**{**CFG.__dict__, "objects": ("ball", "dog")}))
    with pytest.raises(AttrbenchError, match="cf_scene 'desert' is not one of"):
        build_bam(*sources, tmp_path / "o4",
                  BamBuildConfig(**{**CFG.__dict__, "cf_scene": "desert"}))
    with pytest.raises(AttrbenchError, match="fewer than per_pair = 9"):
        build_bam(*sources, tmp_path / "o5", BamBuildConfig(**{**CFG.__dict__, "per_pair": 9}))
    (tmp_path / "o6").mkdir()
    (tmp_path / "o6" / "x").write_text("")
    with pytest.raises(AttrbenchError, match="not empty"):
        build_bam(*sources, tmp_path / "o6", CFG)
    with pytest.raises(AttrbenchError, match="not a BAM folder"):
        BamFolder(tmp_path)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(AttrbenchError, match="masks must have the image size"):
        read_mask(tmp_path / "m.png", (32, 32))


def test_shipped_mini_set_loads() -> None:
    folder = BamFolder(bam_mini_path())
    assert folder.info["objects"] == ["bed", "chair", "painting", "sofa", "table"]
    for labelling in ("obj", "scene", "scene_only", "obj_gray"):
        assert len(folder.dataset(labelling, "train")) == 75
        assert len(folder.dataset(labelling, "test")) == 25
    test = folder.dataset("scene", "test")
    assert test.spec.image_shape == (3, 64, 64)
    assert folder.masks_for(test.files).flatten(1).any(1).all()
    assert folder.commonality_sets == ["k0.2", "k0.4", "k0.6", "k0.8", "k1.0"]
    total = sum(p.stat().st_size for p in bam_mini_path().rglob("*") if p.is_file())
    assert total < 1.5e6


def test_public_names_resolve() -> None:
    import attrbench.bam as bam

    for name in bam.__all__:
        assert getattr(bam, name) is not None
    with pytest.raises(AttributeError):
        bam.nope  # noqa: B018


def test_miniplaces_folder_layout(tmp_path: Path) -> None:
    from attrbench.bam.sources import ClassFiles

    for rel in ("images/train/b/bamboo_forest/00000001.jpg", "images/train/d/desert/sand/0001.jpg",
                "images/train/d/desert/sand/0002.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / rel)
    scenes = ClassFiles(tmp_path, "scene")
    assert scenes.classes == ["bamboo_forest", "desert_sand"]
    assert len(scenes.files["desert_sand"]) == 2
    assert scenes.open(scenes.files["bamboo_forest"][0]).size == (8, 8)


def test_no_object_crop_in_both_splits(sources: tuple[Path, Path], tmp_path: Path) -> None:
    # 3 crops per class but 4 images per pair: today crop i % 3 puts crop 0 in train and test
    cfg = BamBuildConfig(per_pair=4, val_fraction=0.25, image_size=32, image_format="png",
                         cf_scene="forest")
    m = build_bam(*sources, tmp_path / "out", cfg)
    m = m[m["has_object"]]
    for obj, rows in m.groupby("object"):
        train = set(rows.loc[rows["split"] == "train", "object_file"])
        test = set(rows.loc[rows["split"] == "test", "object_file"])
        assert train and test and not train & test, obj
        assert len(train | test) == 3  # every crop is still used


@pytest.mark.parametrize("n_crops", [2, 3, 7, 69, 99, 100, 101, 300])
@pytest.mark.parametrize("per_pair, n_val", [(4, 1), (100, 10), (300, 30), (10, 9)])
def test_crop_indices_disjoint_pools(n_crops: int, per_pair: int, n_val: int) -> None:
    idx = crop_indices(n_crops, per_pair, n_val)
    first_val = per_pair - n_val
    train, test = set(idx[:first_val]), set(idx[first_val:])
    assert len(idx) == per_pair and not train & test
    assert train | test <= set(range(n_crops))
    # all crops are used while there are more pair indices than crops
    assert len(train | test) == min(n_crops, per_pair)
    if n_crops >= per_pair:  # enough crops: crop i for index i, as before the fix
        assert idx == list(range(per_pair))
    with pytest.raises(AttrbenchError, match="at least 2 crops"):
        crop_indices(1, per_pair, n_val)


def test_shipped_mini_set_has_no_shared_crops() -> None:
    m = BamFolder(bam_mini_path()).manifest
    m = m[m["has_object"]]
    train = set(m.loc[m["split"] == "train", "object_file"])
    assert not train & set(m.loc[m["split"] == "test", "object_file"])
