"""Image files on disk: ImageFolder trees (``root/<class>/<image>``), Food-101, CIFAR-10 JPEGs.

Images are decoded lazily, one per ``__getitem__``, so trees like ImageNet or Food-101 are never
held in memory. File discovery uses torchvision's ``make_dataset`` and ``IMG_EXTENSIONS``; the
class order is alphabetical (torchvision's convention) unless the caller fixes it (the CIFAR-10
JPEG tree uses the official order airplane..truck, so labels match models trained on
``cifar-10-batches-py``).

Optional ``image_size``: ``s`` resizes the shorter side to ``s`` and centre-crops ``s x s``;
``(r, c)`` resizes to ``r`` and crops ``c`` (ImageNet evaluation: ``(256, 224)``). Without it every
image must have the same size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from attrbench.data.base import ImageDataset
from attrbench.data.spec import DatasetSpec, Normalization, normalize_uint8, resolve_normalization
from attrbench.errors import AttrbenchError

ImageSize = int | tuple[int, int] | None
_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "F"})
_SIZE_SAMPLE = 32  # image headers read up front to catch mixed sizes before a long run starts


def class_folders(directory: Path) -> list[str]:
    """Sorted names of the sub-folders of ``directory`` (hidden ones skipped)."""
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_class_folders(
    directory: Path, classes: Sequence[str] | None = None,
) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """List the images of an ImageFolder tree ``directory/<class>/<image>``.

    Args:
        directory: the tree's root.
        classes: class names in label order; default the sorted folder names. When given, the folder
            names must be exactly these.

    Returns:
        ``(files, labels, classes)``: paths sorted by class then file name, int64 ``(N,)`` labels.

    Raises:
        AttrbenchError: no class folders, folders that differ from ``classes``, or an empty class.
    """
    found = class_folders(directory)
    if not found:
        raise AttrbenchError(
            f"{directory} has no class sub-folders; an ImageFolder tree is root/<class>/<image>."
        )
    if classes is None:
        classes = found
    elif set(found) != set(classes):
        missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
        raise AttrbenchError(
            f"Class folders of {directory} do not match the expected classes (missing {missing}, "
            f"unexpected {extra}); fix the tree or load it as a generic imagefolder."
        )
    class_to_idx = {c: i for i, c in enumerate(classes)}
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset  # slow: import on use

    samples = make_dataset(
        str(directory), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True
    )
    labels = np.fromiter((lb for _, lb in samples), dtype=np.int64, count=len(samples))
    empty = [c for c, n in zip(classes, np.bincount(labels, minlength=len(classes))) if n == 0]
    if empty:
        shown = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        raise AttrbenchError(
            f"Class folder(s) {shown} in {directory} contain no images "
            f"({', '.join(IMG_EXTENSIONS)}); add images or remove the folder."
        )
    return [path for path, _ in samples], labels, tuple(classes)


def food101_files(root: Path, split: str) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Files of the official Food-101 layout: ``images/<class>/<id>.jpg`` + ``meta/<split>.txt``.

    Args:
        root: the ``food-101`` folder.
        split: ``"train"`` or ``"test"`` (a ``meta/<split>.txt`` must exist).

    Returns:
        ``(files, labels, classes)`` in the order of the split list; classes from
        ``meta/classes.txt`` when present, else the sorted image folders.
    """
    listing = root / "meta" / f"{split}.txt"
    if not listing.is_file():
        have = sorted(p.stem for p in (root / "meta").glob("*.txt") if p.stem in ("train", "test"))
        raise AttrbenchError(f"Food-101 folder {root} has no split {split!r}; use one of {have}.")
    classes_txt = root / "meta" / "classes.txt"
    classes = (tuple(ln.strip() for ln in classes_txt.read_text().splitlines() if ln.strip())
               if classes_txt.is_file() else tuple(class_folders(root / "images")))
    class_to_idx = {c: i for i, c in enumerate(classes)}
    entries = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
    if not entries:
        raise AttrbenchError(
            f"{listing} lists no images; restore the official Food-101 meta files."
        )
    try:
        labels = np.array([class_to_idx[e.split("/", 1)[0]] for e in entries], dtype=np.int64)
    except KeyError as exc:
        raise AttrbenchError(
            f"{listing} names class {exc.args[0]!r}, which is not in {classes_txt}."
        ) from None
    return [str(root / "images" / f"{e}.jpg") for e in entries], labels, classes


def _crop_sizes(image_size: ImageSize) -> tuple[int, int] | None:
    if image_size is None:
        return None
    resize, crop = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if resize <= 0 or crop <= 0 or crop > resize:
        raise AttrbenchError(
            f"image_size must be positive with crop <= resize, got {image_size!r}."
        )
    return int(resize), int(crop)


def _header(path: str) -> tuple[tuple[int, int], str]:
    """``((width, height), mode)`` from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except (UnidentifiedImageError, OSError) as exc:
        raise AttrbenchError(
            f"Cannot read image {path} ({exc}); delete or replace the file."
        ) from None


class ImageFolderDataset(ImageDataset):
    """Lazily decoded images from a list of files.

    Args:
        spec: dataset description; ``spec.image_shape`` is the output ``(C, H, W)``.
        split: split name.
        files: image paths, one per sample.
        labels: int64 ``(N,)``.
        ids: int64 ``(N,)`` image ids (position in the full, sorted split).
        sizes: ``(resize, crop)`` or ``None`` to require every image to have ``spec``'s size.

    Attributes:
        files: the image paths, aligned with ``labels`` and ``ids``.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        split: str,
        files: Sequence[str],
        labels: torch.Tensor,
        ids: torch.Tensor,
        sizes: tuple[int, int] | None,
    ) -> None:
        super().__init__(spec, split, labels, ids)
        self.files = list(files)
        self._sizes = sizes
        self._mode = "L" if spec.in_channels == 1 else "RGB"

    def subset(self, positions: np.ndarray | None) -> ImageFolderDataset:
        """A new dataset with the samples at ``positions`` (int ``(M,)``), keeping their ids."""
        if positions is None:
            return self
        pos = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        return ImageFolderDataset(self.spec, self.split, [self.files[i] for i in positions],
                                  self.labels[pos], self.ids[pos], self._sizes)

    def load_uint8(self, index: int) -> torch.Tensor:
        """Decode image ``index`` to uint8 ``(C, H, W)``, resized and cropped if configured."""
        path = self.files[index]
        try:
            with Image.open(path) as im:
                pixels = torch.from_numpy(np.asarray(im.convert(self._mode)).copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise AttrbenchError(
                f"Cannot decode image {path} ({exc}); delete or replace the file."
            ) from None
        chw = pixels.unsqueeze(0) if pixels.dim() == 2 else pixels.permute(2, 0, 1)
        if self._sizes is not None:
            resize, crop = self._sizes
            from torchvision.transforms.v2 import functional as TF

            chw = TF.center_crop(TF.resize(chw, [resize], antialias=True), [crop, crop])
        elif tuple(chw.shape[1:]) != self.spec.image_shape[1:]:
            h, w = self.spec.image_shape[1:]
            raise AttrbenchError(
                f"Image {path} is {chw.shape[2]}x{chw.shape[1]} but the dataset's images are "
                f"{w}x{h}; "
                "pass image_size (--image-size) to resize and centre-crop them."
            )
        return chw

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Image ``index`` as float32 ``(C, H, W)`` normalised, and its label."""
        chw = self.load_uint8(index)
        image = normalize_uint8(chw.permute(1, 2, 0).unsqueeze(0), self.spec)[0]
        return image, int(self.labels[index])


def build_file_dataset(
    name: str,
    split: str,
    files: list[str],
    labels: np.ndarray,
    classes: tuple[str, ...],
    *,
    source: str,
    description: str,
    normalization: Normalization = "paper",
    image_size: ImageSize = None,
) -> ImageFolderDataset:
    """Make an :class:`ImageFolderDataset`, reading a few headers to fix the image shape.

    The channel count comes from the first image (grayscale modes give 1 channel, everything else is
    converted to RGB). Without ``image_size``, up to 32 headers spread over the split are compared,
    so a tree of mixed sizes fails now rather than mid-run.

    Raises:
        AttrbenchError: no files, unreadable first image, mixed image sizes without ``image_size``.
    """
    if not files:
        raise AttrbenchError(f"No images found for {name!r} split {split!r} in {source}.")
    sizes = _crop_sizes(image_size)
    (width, height), mode = _header(files[0])
    channels = 1 if mode in _GRAY_MODES else 3
    if sizes is None:
        sample = np.linspace(0, len(files) - 1, num=min(_SIZE_SAMPLE, len(files))).astype(int)
        for i in np.unique(sample):
            other = _header(files[i])[0]
            if other != (width, height):
                raise AttrbenchError(
                    f"Images in {source} have mixed sizes ({files[0]} is {width}x{height}, "
                    f"{files[i]} is {other[0]}x{other[1]}); pass image_size (--image-size) to "
                    "resize and centre-crop them."
                )
        shape = (channels, height, width)
    else:
        shape = (channels, sizes[1], sizes[1])
    mean, std = resolve_normalization(normalization, channels)
    spec = DatasetSpec(name=name, classes=classes, image_shape=shape, mean=mean, std=std,
                       description=description, source=source)
    ids = torch.arange(len(files), dtype=torch.int64)
    return ImageFolderDataset(spec, split, files, torch.from_numpy(labels), ids, sizes)
