"""Raw material for the BAM dataset: object crops with alpha and scene images (BAM Sec. 3.1).

Objects are RGBA crops (alpha 0 outside the object) stored as ``<class>/<file>.png``; scenes are
RGB images stored as ``<class>/<file>.jpg``. Each side may be a plain folder of class folders or an
uncompressed tar archive read in place with :mod:`tarfile` (no extraction), as shipped in
``shared/data/miniplaces`` (``objects/<class>/...`` inside ``miniplaces-objects.tar``,
``scenes/<class>/...`` inside ``miniplaces-scenes.tar``). One leading folder shared by all members
of a tar is skipped. Scenes may also be given in MiniPlaces' own layout
(``images/train/<letter>/<scene>[/<sub>]/<file>.jpg``; ``desert/sand`` becomes ``desert_sand``).

Users with the original recipe's inputs (COCO instance masks) first cut RGBA crops from them (the
authors multiply the image by the largest instance mask and crop to its box, NOTES §2.1) and pass
the crop folder here.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from attrbench.errors import AttrbenchError, unknown_name_error

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class ClassFiles:
    """Images grouped by class from a folder or tar archive, read lazily by name.

    Args:
        path: a folder ``<class>/<image>`` or a ``.tar`` holding the same layout (optionally below
            one top folder).
        what: ``"object"`` or ``"scene"`` (for messages).

    Attributes:
        files: ``{class: [name, ...]}`` with names sorted; a name is what :meth:`read` takes.
    """

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = Path(path).expanduser()
        self.what = what
        self._tar: tarfile.TarFile | None = None
        if not self.path.exists():
            raise AttrbenchError(f"{what.capitalize()} source {self.path} does not exist; give a "
                                 "folder of class folders or a .tar of one.")
        if self.path.is_dir():
            # MiniPlaces' own layout: images/train/<letter>/<scene>[/<sub>]/<file>.jpg
            train = self.path / "images" / "train"
            base = train if train.is_dir() else self.path
            names = [p.relative_to(self.path).as_posix() for p in base.rglob("*")
                     if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES]
            prefix = "" if base == self.path else "images/train/"
        else:
            try:
                self._tar = tarfile.open(self.path, mode="r:")  # uncompressed: random access
            except tarfile.TarError:
                raise AttrbenchError(f"{self.path} is not an uncompressed tar archive; extract it "
                                     "and pass the folder instead.") from None
            self._members = {m.name: m for m in self._tar.getmembers() if m.isfile()}
            names = [n for n in self._members if n.lower().endswith(_IMAGE_SUFFIXES)]
            tops = {n.split("/", 1)[0] for n in names}
            nested = len(tops) == 1 and all(n.count("/") == 2 for n in names)
            prefix = f"{tops.pop()}/" if nested else ""
        files: dict[str, list[str]] = {}
        for name in names:
            parts = name[len(prefix):].split("/")
            if len(parts) == 2:
                files.setdefault(parts[0], []).append(name)
            elif len(parts) >= 3 and len(parts[0]) == 1:  # MiniPlaces letter folders
                files.setdefault("_".join(parts[1:-1]), []).append(name)
        if not files:
            raise AttrbenchError(f"No {what} images found in {self.path}; the layout must be "
                                 "<class>/<image> (PNG/JPEG).")
        self._prefix = prefix
        self.files = {c: sorted(v) for c, v in sorted(files.items())}

    @property
    def classes(self) -> list[str]:
        """Sorted class names."""
        return list(self.files)

    def select(self, classes: Sequence[str] | None) -> list[str]:
        """Check a requested class list against the source; default all classes (sorted).

        Raises:
            AttrbenchError: a requested class is not a folder of the source, or duplicates.
        """
        if classes is None:
            return self.classes
        chosen = list(classes)
        if len(set(chosen)) != len(chosen) or not chosen:
            raise AttrbenchError(f"{self.what.capitalize()} classes {chosen} must be a non-empty "
                                 "list without repeats.")
        for c in chosen:
            if c not in self.files:
                raise unknown_name_error(f"{self.what} class", c, self.files)
        return chosen

    def read_bytes(self, name: str) -> bytes:
        """The raw file bytes of image ``name``."""
        if self._tar is None:
            return (self.path / name).read_bytes()
        handle = self._tar.extractfile(self._members[name])
        assert handle is not None  # members are regular files
        return handle.read()

    def open(self, name: str) -> Image.Image:
        """Decode image ``name`` (fully loaded)."""
        try:
            image = Image.open(io.BytesIO(self.read_bytes(name)))
            image.load()
        except (UnidentifiedImageError, OSError) as exc:
            raise AttrbenchError(f"Cannot decode {self.what} image {name} in {self.path} ({exc}); "
                                 "remove or replace the file.") from None
        return image

    def close(self) -> None:
        """Close the tar archive, if any."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def open_object_rgba(source: ClassFiles, name: str) -> Image.Image:
    """An object crop as RGBA; crops without an alpha channel are refused.

    Raises:
        AttrbenchError: the crop has no alpha (the object's shape would be unknown) or no opaque
            pixel.
    """
    image = source.open(name)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in ("RGBA", "LA", "PA"):
        raise AttrbenchError(
            f"Object crop {name} in {source.path} has no alpha channel (mode {image.mode}); save "
            "crops as RGBA PNG with alpha 0 outside the object."
        )
    image = image.convert("RGBA")
    if image.getchannel("A").getbbox() is None:
        raise AttrbenchError(f"Object crop {name} in {source.path} is fully transparent; "
                             "remove it.")
    return image
