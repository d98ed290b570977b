"""``attrbench explain``: attribution maps for a checkpoint and a slice of a dataset.

Writes into ``--out``: ``maps.npz`` (images, raw attributions (B,C,H,W), post-processed maps
(B,H,W), targets, labels, predictions, dataset positions and ids), ``grid.png`` (each image above
its signed map in a diverging colormap clipped at the 99th percentile of |map|, as Fig. 5 of the FPA
paper) and ``explain.json`` (resolved method parameters and provenance).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from attrbench.atomic import write_bytes_atomic, write_json_atomic
from attrbench.cli.app import app
from attrbench.cli.options import (check_out_folder, check_positive, method_names, option,
                                   parse_method_params)
from attrbench.errors import AttrbenchError
from attrbench.provenance import provenance

if TYPE_CHECKING:  # torch, numpy and the methods load only when the command runs (fast --help)
    import numpy as np

_GRID_COLUMNS = 8
_HELP_METHOD = (
    "A method (integrated_gradients), a variant (smoothgrad|input_sum) or an alias (SG'_sum)."
)


def parse_indices(text: str) -> list[int]:
    """``"0:8"`` -> 0..7, ``"0:100:10"`` -> every 10th, ``"3,5,9"`` -> those positions.

    Raises:
        AttrbenchError: malformed text, a negative index, or an empty selection.
    """
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if ":" in part:
                fields = [int(f) if f.strip() else None for f in part.split(":")]
                if len(fields) > 3 or fields[1] is None:
                    raise ValueError
                start, stop = fields[0] or 0, fields[1]
                step = fields[2] if len(fields) == 3 and fields[2] is not None else 1
                if step < 1:
                    raise ValueError
                out.extend(range(start, stop, step))
            else:
                out.append(int(part))
    except ValueError:
        raise AttrbenchError(
            f"Bad --indices {text!r}; use START:STOP[:STEP] or a list like 0,3,7."
        ) from None
    if not out or min(out) < 0:
        what = "no" if not out else "negative"
        raise AttrbenchError(f"--indices {text!r} selects {what} positions; use e.g. 0:8.")
    return out


def render_grid(images: np.ndarray, maps: np.ndarray, titles: list[str], heading: str) -> bytes:
    """PNG bytes: each image above its map, in blocks of up to 8 images per row, drawn with
    :func:`attrbench.reporting.map_grid.map_grid` (the map a signed panel clipped at +-P99(|map|)).

    Args:
        images: (B, C, H, W) pixels in [0, 1].
        maps: (B, H, W) scores.
        titles: one per image.
        heading: figure title.
    """
    import numpy as np

    from attrbench.reporting.format import figure_png
    from attrbench.reporting.map_grid import Panel, map_grid

    n = len(images)
    cols = min(n, _GRID_COLUMNS)
    cells: list[list[Panel | None]] = []
    for start in range(0, n, cols):
        block = range(start, min(start + cols, n))
        clips = [float(np.percentile(np.abs(maps[i]), 99)) or 1e-12 for i in block]
        pad: list[Panel | None] = [None] * (cols - len(block))
        cells.append([Panel(images[i], "image", title=titles[i]) for i in block] + pad)
        cells.append([Panel(np.clip(maps[i], -c, c), "signed", vmax=c)
                      for i, c in zip(block, clips)] + pad)
    return figure_png(map_grid(cells, title=heading, cell_inches=1.6, missing=""))


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    write_bytes_atomic(path, buf.getvalue())


@app.command("explain")
def explain(
    checkpoint: Annotated[Path, option("checkpoint", "Checkpoint stem or its .safetensors/.json.")],
    dataset: Annotated[str, option("dataset")],
    out: Annotated[Path, option("out", "Folder for maps.npz, grid.png and explain.json.")],
    method: Annotated[str, option("method", _HELP_METHOD)] = "integrated_gradients",
    split: Annotated[str, option("split")] = "test",
    data_root: Annotated[Optional[str], option("data_root")] = None,
    indices: Annotated[str, option("indices")] = "0:8",
    method_param: Annotated[Optional[list[str]], option(
        "method_param", "Method parameter PARAM=VALUE or METHOD.PARAM=VALUE (repeatable), e.g. "
                        "steps=50.")] = None,
    target: Annotated[str, option("target")] = "predicted",
    max_batch: Annotated[int, option("max_batch", min=1)] = 128,
    seed: Annotated[Optional[int], option(
        "seed", "Seed of a stochastic method's draws (SmoothGrad, VarGrad, random; no effect on "
                "the others); as --method-param seed=S \\[default: the method's, 0].")] = None,
    image_size: Annotated[Optional[int], option(
        "image_size", "Resize (then centre-crop) folder images to this side, e.g. the "
                      "checkpoint's training size.")] = None,
    device: Annotated[str, option("device")] = "auto",
) -> None:
    """Explain images of a dataset with one method; save maps (.npz), a PNG grid and provenance."""
    import numpy as np
    import torch

    from attrbench.data import denormalize, get_dataset_spec, load_dataset
    from attrbench.explanation import explain as explain_images
    from attrbench.explanation import variant_for
    from attrbench.models import load_checkpoint
    from attrbench.models.checkpoint import check_checkpoint_input
    from attrbench.runtime import resolve_device

    check_out_folder(out)
    check_positive(image_size, "--image-size")
    if target not in ("predicted", "label"):
        raise AttrbenchError(f"--target must be 'predicted' or 'label', got {target!r}.")
    variant_for(method)  # an unknown name fails before the checkpoint and data load
    (name,) = method_names(method)
    by_method = parse_method_params(method_param, [name])
    params = by_method.pop(name, {})
    if seed is not None:  # a deterministic method draws nothing: the seed has no effect there
        from attrbench.methods import get_method_spec

        if get_method_spec(name).stochastic:
            params.setdefault("seed", seed)
    if by_method:
        raise AttrbenchError(f"--method-param {', '.join(sorted(by_method))}.* does not fit "
                             f"--method {method!r} (method {name}); write {name}.PARAM=VALUE "
                             "or PARAM=VALUE.")
    dev = resolve_device(device)
    positions = parse_indices(indices)
    model, meta = load_checkpoint(checkpoint, dev)
    spec = get_dataset_spec(dataset, root=data_root, split=split, image_size=image_size)
    check_checkpoint_input(meta, spec.image_shape, f"Checkpoint {checkpoint}")
    norm = meta.get("normalization")
    normalization: Any = "paper"
    if isinstance(norm, dict):  # the checkpoint records how its training data was normalised
        normalization = (tuple(norm["mean"]), tuple(norm["std"]))
    data = load_dataset(dataset, split, root=data_root, indices=positions,
                        normalization=normalization, image_size=image_size)
    if data.spec.num_classes != meta.get("num_classes", data.spec.num_classes):
        raise AttrbenchError(
            f"Checkpoint has {meta['num_classes']} classes but dataset {data.spec.name!r} has "
            f"{data.spec.num_classes}; pick the dataset the model was trained on."
        )
    x = torch.stack([data[i][0] for i in range(len(data))]).to(dev)
    labels = torch.as_tensor([int(data[i][1]) for i in range(len(data))], device=dev)
    result = explain_images(model, x, method, labels=labels, target=target, max_batch=max_batch,
                            **params)
    variant, raw, maps = result.variant, result.attributions, result.maps
    targets, predictions = result.targets, result.predictions

    out.mkdir(parents=True, exist_ok=True)
    arrays = {
        "images": x.cpu().numpy(), "attributions": raw.cpu().numpy(), "maps": maps.cpu().numpy(),
        "targets": targets.cpu().numpy(), "labels": labels.cpu().numpy(),
        "predictions": predictions.cpu().numpy(), "positions": np.asarray(positions),
        "ids": np.asarray(data.ids), "variant": np.asarray(variant.name),
    }
    _save_npz(out / "maps.npz", arrays)
    classes = data.spec.classes
    titles = [
        f"#{int(i)} {classes[t]}" + ("" if p == t else f" (pred {classes[p]})")
        for i, t, p in zip(data.ids, labels.tolist(), predictions.tolist())
    ]
    heading = f"{result.title}: red = evidence, blue = counter-evidence; clipped at P99 of |map|"
    pixels = denormalize(x.cpu(), data.spec).numpy()
    write_bytes_atomic(out / "grid.png", render_grid(pixels, arrays["maps"], titles, heading))
    config = {
        "checkpoint": str(checkpoint), "dataset": data.spec.name, "split": split,
        "indices": indices, "target": target, **result.config,
        "max_batch": max_batch, "device": str(dev),
    }
    seed = int(result.config.get("seed", 0))
    write_json_atomic(out / "explain.json", provenance(config, seed))
    typer.echo(f"Wrote maps.npz, grid.png and explain.json for {len(x)} images to {out}.")
