"""The evaluation runner: dataset -> model -> method -> post-processing -> MIF/LIF curves -> Parquet.

Streams the dataset in chunks of images; for each chunk and model it computes every raw attribution
once (variants that share a method, e.g. ``VG_abs`` and ``VG'_sum``, reuse it), reduces it with each
variant's post-processing, runs the batched perturbation engine and writes one Parquet shard
atomically. A killed run resumes by skipping the shards on disk; all randomness is seeded from the
run seed, the method and the image only (SmoothGrad / SQ-SG noise and random maps: ``(seed,
method)`` and the image's values; tie-breaks: ``(seed, variant, chunk)``), never from the model's
name or augmentation label, so the resumed table equals an uninterrupted run's and the Python API
equals the CLI whatever the labels.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from attrbench.errors import AttrbenchError
from attrbench.methods import create_method, get_method_spec
from attrbench.precomputed import PrecomputedMaps, precomputed_maps
from attrbench.metrics.functional.perturbation import perturbation_curves, step_schedule
from attrbench.metrics.functional.ranking import TIE_BREAKS
from attrbench.progress import progress_bar
from attrbench.results.identity import normalise, state_dict_sha256
from attrbench.results.keys import chunk_suffix, safe_key
from attrbench.results.schema import CURVE_SCHEMA, CURVES
from attrbench.results.shards import check_shard, in_shard
from attrbench.results.store import ImageList, ResultStore, Table
from attrbench.runtime import derive_seed, make_generator
from attrbench.variants import Variant, parse_variant, resolve_variants

TARGETS = ("predicted", "label")


@dataclass(frozen=True)
class EvalConfig:
    """How curves are computed; recorded with the results.

    Attributes:
        variants: variant or preset names (``"fpa-table"``, ``"integrated_gradients|sum"``,
            ``"IG_abs"``); one string is one name. User method objects (callables, Captum attributions,
            Quantus-style functions) are registered and stored as ``"<name>|sum"``.
        num_images: evaluate the first N images of the dataset (None = all).
        chunk_size: images per shard (the unit of resume).
        num_steps: perturbation steps after step 0, evenly spread up to every pixel masked; None =
            20 (21 points, 0 to 100 % masked, for every image size).
        mask_value: fill of masked pixels in the model's input space (0 = mid-gray for [-1, 1]).
        tie_break: ``"random"`` (seeded) or ``"reference"`` (authors' argsort, MIF = reversed LIF).
        target: ``"predicted"`` (class predicted on the clean image, the paper's choice) or ``"label"``.
        seed: root of every random draw.
        max_batch: most images (x steps / samples) per forward pass.
        method_params: per-method hyperparameter overrides, e.g. ``{"integrated_gradients":
            {"steps": 50}}``.
    """

    variants: tuple[str, ...] = ("fpa-table",)
    num_images: int | None = None
    chunk_size: int = 64
    num_steps: int | None = None
    mask_value: float = 0.0
    tie_break: str = "random"
    target: str = "predicted"
    seed: int = 0
    max_batch: int = 128
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = (self.variants,) if isinstance(self.variants, str) else tuple(self.variants)
        object.__setattr__(self, "variants", tuple(  # objects -> registered "<name>|sum"
            v if isinstance(v, str) else parse_variant(v).name for v in names))
        self.validate()

    def validate(self) -> EvalConfig:
        """Raise :class:`AttrbenchError` for values that cannot work (run on construction);
        return ``self``."""
        if self.chunk_size < 1:
            raise AttrbenchError(f"chunk_size must be >= 1, got {self.chunk_size}.")
        if self.num_images is not None and self.num_images < 1:
            raise AttrbenchError(f"num_images (--num-images) must be >= 1 when given, got "
                                 f"{self.num_images}.")
        if self.num_steps is not None and self.num_steps < 1:
            raise AttrbenchError(f"num_steps (--num-steps) must be >= 1 when given, got "
                                 f"{self.num_steps}.")
        if self.target not in TARGETS:
            raise AttrbenchError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}.")
        if self.tie_break not in TIE_BREAKS:
            raise AttrbenchError(f"tie_break (--tie-break) must be one of {', '.join(TIE_BREAKS)}, "
                                 f"got {self.tie_break!r}.")
        if not bool(torch.isfinite(torch.as_tensor(self.mask_value, dtype=torch.float64)).all()):
            raise AttrbenchError(f"mask_value (--mask-value) must be a finite number in the "
                                 f"model's input space, got {self.mask_value}.")
        if self.max_batch < 1:
            raise AttrbenchError(f"max_batch must be >= 1, got {self.max_batch}.")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["variants"] = list(self.variants)
        return out


@dataclass(frozen=True)
class ModelEntry:
    """One model to evaluate.

    Attributes:
        model: any ``nn.Module`` mapping ``(B, C, H, W)`` to logits ``(B, K)``.
        name: architecture or user label (results column ``model``).
        augmentation: how it was trained (results column ``augmentation``).
    """

    model: nn.Module
    name: str
    augmentation: str = "none"


def shard_key(entry: ModelEntry, chunk: int) -> str:
    """Key of the curve shard of ``entry`` on image chunk ``chunk``
    (``"none__cifar_resnet20__chunk00003"``)."""
    return f"{safe_key(f'{entry.augmentation}__{entry.name}')}{chunk_suffix(chunk)}"


def _dataset_ids(dataset: Dataset, n: int) -> np.ndarray:
    ids = getattr(dataset, "ids", None)
    if ids is None:
        return np.arange(n, dtype=np.int64)
    return np.asarray(ids[:n], dtype=np.int64)


def _step_scores(maps: torch.Tensor, counts: torch.Tensor, descending: bool) -> torch.Tensor:
    """Mean importance of the pixels newly masked at each step, ``(B, S+1)`` (NaN at step 0).

    Sorted values do not depend on how ties are broken, so this matches the curve's order exactly.
    """
    flat = maps.reshape(maps.shape[0], -1).to(torch.float64)
    ordered = flat.sort(dim=1, descending=descending).values
    csum = torch.nn.functional.pad(ordered.cumsum(1), (1, 0))
    idx = counts.to(ordered.device)
    sums = csum[:, idx[1:]] - csum[:, idx[:-1]]
    means = sums / (idx[1:] - idx[:-1]).to(torch.float64)
    return torch.cat([torch.full_like(means[:, :1], float("nan")), means], dim=1)


def _chunk_frame(entry: ModelEntry, variant: Variant, run: str, ids: np.ndarray, labels: torch.Tensor,
                 targets: torch.Tensor, counts: torch.Tensor, fractions: torch.Tensor,
                 mif: torch.Tensor, lif: torch.Tensor, maps: torch.Tensor) -> pd.DataFrame:
    """Tidy rows (image x order x step) of one variant on one chunk."""
    b, s1 = mif.shape
    parts = []
    for order, curves, descending in (("MIF", mif, True), ("LIF", lif, False)):
        scores = _step_scores(maps, counts, descending)
        parts.append(pd.DataFrame({
            "image_id": np.repeat(ids, s1),
            "label": np.repeat(labels.cpu().numpy(), s1),
            "target": np.repeat(targets.cpu().numpy(), s1),
            "order": order,
            "step": np.tile(np.arange(s1, dtype=np.int32), b),
            "fraction": np.tile(fractions.cpu().numpy().astype(np.float64), b),
            "logit": curves.detach().cpu().numpy().astype(np.float64).reshape(-1),
            "score": scores.cpu().numpy().reshape(-1),
        }))
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "run", run)
    frame.insert(1, "model", entry.name)
    frame.insert(2, "augmentation", entry.augmentation)
    frame.insert(3, "method", variant.method)
    frame.insert(4, "postprocess", "|".join(variant.steps))
    frame.insert(5, "variant", variant.label)
    return frame[CURVE_SCHEMA.names]


def _targets(entry: ModelEntry, cfg: EvalConfig, x: torch.Tensor,
             labels: torch.Tensor) -> torch.Tensor:
    """The tracked class per image: the prediction on the clean image, or the true label."""
    if cfg.target == "label":
        return labels.to(x.device)
    with torch.no_grad():
        return entry.model(x).argmax(1)


def _variant_maps(entry: ModelEntry, variants: Sequence[Variant], cfg: EvalConfig,
                  x: torch.Tensor, targets: torch.Tensor, maps: Sequence[PrecomputedMaps] = (),
                  lo: int = 0) -> Iterator[tuple[Variant, torch.Tensor]]:
    """Yield ``(variant, maps (B,H,W))``; each method runs once and its variants share the output.

    Precomputed ``maps`` follow, rows ``lo : lo + B`` (the dataset positions of ``x``).
    """
    raw: dict[str, torch.Tensor] = {}
    for variant in variants:
        if variant.method not in raw:
            explainer = create_method(variant.method, entry.model, max_batch=cfg.max_batch,
                                      **_method_params(cfg, variant.method, entry))
            raw[variant.method] = explainer(x, targets)
        yield variant, variant.apply(raw[variant.method], x)
    for given in maps:
        yield given.variant, given.variant.apply(given.rows(lo, lo + x.shape[0], x), x)


def _evaluate_chunk(entry: ModelEntry, variants: Sequence[Variant], cfg: EvalConfig, run: str,
                    chunk: int, x: torch.Tensor, labels: torch.Tensor, ids: np.ndarray,
                    counts: torch.Tensor | None, given: Sequence[PrecomputedMaps] = (),
                    lo: int = 0) -> pd.DataFrame:
    targets = _targets(entry, cfg, x, labels)
    frames = []
    for variant, maps in _variant_maps(entry, variants, cfg, x, targets, given, lo):
        curves = perturbation_curves(
            entry.model, x, maps, targets=targets, counts=counts, mask_value=cfg.mask_value,
            tie_break=cfg.tie_break, max_batch=cfg.max_batch,
            generator=make_generator(derive_seed(cfg.seed, "ties", variant.name, chunk), x.device))
        _check_finite_curves(entry, variant, ids, curves.mif, curves.lif)
        frames.append(_chunk_frame(entry, variant, run, ids, labels, targets, curves.counts,
                                   curves.fractions, curves.mif, curves.lif, maps))
    return pd.concat(frames, ignore_index=True)


def _method_params(cfg: EvalConfig, method: str, entry: ModelEntry) -> dict[str, Any]:
    params = dict(cfg.method_params.get(method, {}))
    if get_method_spec(method).stochastic and "seed" not in params:
        # Noise and random maps are keyed by the image (its values) inside the method, so one seed
        # per method makes results independent of how the images are chunked. Not derived from the
        # model's name or augmentation label: those are display labels (issue 11 item 12).
        params["seed"] = derive_seed(cfg.seed, "method", method)
    return params


def _check_finite_curves(entry: ModelEntry, variant: Variant, ids: np.ndarray,
                         mif: torch.Tensor, lif: torch.Tensor) -> None:
    """Refuse NaN/Inf logits (``mif``, ``lif``: ``(B, S+1)``), naming the images and steps."""
    for order, curves in (("MIF", mif), ("LIF", lif)):
        bad = ~torch.isfinite(curves)
        if bool(bad.any()):
            rows = bad.any(1).cpu().numpy()
            steps = bad.any(0).nonzero().flatten().tolist()
            where = "on the clean images (step 0)" if steps == [0] else "on masked images"
            raise AttrbenchError(
                f"Model {entry.name!r} ({entry.augmentation}) gave NaN/Inf logits {where} for "
                f"image ids {ids[rows].tolist()[:10]} at {order} steps {steps[:10]} of "
                f"{variant.label}; check the model on such inputs and --mask-value (the fill of "
                "masked pixels).")


def check_dataset(dataset: Dataset, models: Sequence[ModelEntry],
                  device: str | torch.device = "cpu") -> None:
    """Check, on the first sample, what the runner needs from a dataset and the models.

    Each model runs once where its parameters are (``device`` for a model without any) and is left
    in the train/eval mode it had.

    The dataset must yield ``(image, label)`` with ``image`` a float tensor ``(C, H, W)``
    normalised as the models expect and ``label`` an int; every model must accept a batch of one.

    Raises:
        AttrbenchError: not a pair, not a tensor, HWC or other layouts, integer pixels, or a
            model that fails on the image (e.g. images too small for the architecture).
    """
    sample = dataset[0]
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        got = f"a {len(sample)}-tuple" if isinstance(sample, (tuple, list)) else type(sample).__name__
        raise AttrbenchError(f"The dataset must yield (image, label) pairs, got {got}; wrap it, "
                             "e.g. TensorDataset(images, labels).")
    image = sample[0]
    if not isinstance(image, torch.Tensor):
        raise AttrbenchError(f"Images must be torch tensors (C, H, W), got "
                             f"{type(image).__name__}; convert them (torchvision ToTensor).")
    shape = tuple(image.shape)
    if image.dim() != 3:
        raise AttrbenchError(f"Each image must have shape (C, H, W), got {shape}.")
    if shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4):
        raise AttrbenchError(f"Images look channels-last (H, W, C) = {shape}; permute them to "
                             f"(C, H, W), e.g. x.permute(2, 0, 1).")
    if not image.is_floating_point():
        raise AttrbenchError(f"Images must be float tensors normalised as the model expects, got "
                             f"{image.dtype}; convert, e.g. (x.float() / 255 - 0.5) / 0.5.")
    for entry in models:
        param = next(entry.model.parameters(), None)
        where = param.device if param is not None else torch.device(device)
        mode = entry.model.training
        try:
            with torch.no_grad():
                out = entry.model.eval()(image[None].to(where))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise AttrbenchError(f"Model {entry.name!r} fails on one image of shape {shape} "
                                 f"({first}); give images of the size and channels it was built "
                                 "for.") from None
        finally:
            entry.model.train(mode)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AttrbenchError(f"Model {entry.name!r} must return logits (B, K); for one image "
                                 f"it returned {got}.")


def evaluation_identity(models: Sequence[ModelEntry], dataset: Dataset, cfg: EvalConfig,
                        maps: Mapping[str, Any] | None = None, *,
                        prepared: Prepared | None = None) -> tuple[dict[str, Any], ImageList]:
    """Validate a run completely and return its identity, before anything is written.

    The identity holds everything that changes a number: ``cfg`` (without ``num_images``, which the
    image list covers), the resolved variants and every method's resolved parameters, each model's
    name, augmentation and weights' SHA-256 (:func:`~attrbench.results.identity.state_dict_sha256`),
    and the dataset (name, split, image shape, normalisation, SHA-256 of the first image's
    values).

    Args:
        models: the models of the run.
        dataset: yields ``(image (C,H,W), label)``; ``ids`` / ``labels`` / ``spec`` / ``split``
            attributes are used when present.
        cfg: evaluation settings.
        maps: precomputed maps (:mod:`attrbench.precomputed`); the identity holds each
            set's SHA-256. User methods are recorded by origin (``module.qualname``): a changed
            function body under the same name is not detected.
        prepared: the :func:`prepare_run` result for these arguments, if already checked.

    Returns:
        ``(config, images)`` for :class:`~attrbench.results.ResultStore`: a JSON-ready dict and the
        ordered :class:`~attrbench.results.store.ImageList` of the images evaluated.

    Raises:
        AttrbenchError: any bad setting, variant or method parameter, no models, empty dataset.
    """
    n, variants, given = prepared or prepare_run(models, dataset, cfg, maps)
    methods = sorted({v.method for v in variants})
    entries = {}
    for entry in models:
        params = {}
        for m in methods:
            resolved = dict(create_method(m, entry.model, max_batch=cfg.max_batch,
                                          **_method_params(cfg, m, entry)).params)
            if "seed" not in cfg.method_params.get(m, {}):
                resolved.pop("seed", None)  # derived from cfg.seed, which the identity holds
            params[m] = resolved
        entries[f"{entry.augmentation}/{entry.name}"] = {
            "weights_sha256": state_dict_sha256(entry.model), "method_params": params}
    first = dataset[0][0]
    first_t = torch.as_tensor(first).detach().to("cpu", torch.float64).contiguous()
    spec = getattr(dataset, "spec", None)
    data = {
        "name": getattr(spec, "name", type(dataset).__name__),
        "split": getattr(dataset, "split", None),
        "image_shape": list(first_t.shape),
        "normalization": ({"mean": list(spec.mean), "std": list(spec.std)}
                          if spec is not None and hasattr(spec, "mean") else None),
        "first_image_sha256": hashlib.sha256(first_t.numpy().tobytes()).hexdigest(),
    }
    config = {k: v for k, v in cfg.to_dict().items() if k != "num_images"}
    config.update(variants_resolved=[f"{v.label}={v.method}|{'|'.join(v.steps)}" for v in variants],
                  models=entries, dataset=data)
    user = {m: get_method_spec(m).origin for m in methods if get_method_spec(m).user}
    if user:  # only then, so folders of built-in methods keep their identity
        config["user_methods"] = user
    if given:
        config["precomputed_maps"] = {g.variant.label: g.describe() for g in given}
    labels = getattr(dataset, "labels", None)
    images = ImageList(_dataset_ids(dataset, n),
                       None if labels is None else np.asarray(labels[:n], dtype=np.int64),
                       cfg.chunk_size)
    return normalise(config), images


def run_evaluation(models: Sequence[ModelEntry], dataset: Dataset, cfg: EvalConfig, *,
                   store: ResultStore | None = None, run: str = "run", device: str | torch.device = "cpu",
                   progress: bool = True, shard: tuple[int, int] | None = None,
                   maps: Mapping[str, Any] | None = None,
                   prepared: Prepared | None = None) -> pd.DataFrame:
    """Evaluate every model x variant on the first ``cfg.num_images`` images of ``dataset``.

    Args:
        models: the models (each moved to ``device`` for the run and put in eval mode).
        dataset: yields ``(image (C,H,W), label)``; an ``ids`` attribute gives image ids.
        cfg: evaluation settings.
        store: where shards go; with a store, existing shards are skipped (resume) and the returned
            table is read back from disk. Without one, results stay in memory.
        run: value of the ``run`` column.
        device: where models and images live.
        progress: show progress in images (a bar on a terminal, a line per chunk in a log).
        shard: ``(K, N)``: compute only the image chunks ``c`` with ``c % N == K``
            (:mod:`attrbench.results.shards`); N processes with K = 0..N-1 and the same ``store``
            together compute every chunk, each resuming on its own. None = all chunks.
        maps: precomputed maps ``{label: values}`` scored beside the variants (see
            :mod:`attrbench.precomputed`; aligned with the dataset's positions / ids).
        prepared: the :func:`prepare_run` result for these arguments, if already checked.

    Returns:
        The tidy curve table (:data:`~attrbench.results.schema.CURVE_SCHEMA` columns): with a
        store, every shard on disk (also those of other processes).

    Raises:
        AttrbenchError: empty dataset, unknown variants, no models, bad config or shard.
    """
    if shard is not None:
        check_shard(*shard)
    n, variants, given = prepared or prepare_run(models, dataset, cfg, maps, device)
    ids_all = _dataset_ids(dataset, n)
    n_chunks = math.ceil(n / cfg.chunk_size)
    for entry in models:
        entry.model.to(device).eval()
    frames: list[pd.DataFrame] = []
    curves = store.table(CURVES) if store is not None else None
    chunks = [c for c in range(n_chunks) if in_shard(c, shard)]
    size = {c: min(n, (c + 1) * cfg.chunk_size) - c * cfg.chunk_size for c in chunks}
    with progress_bar(progress, total=sum(size.values()) * len(models), description="evaluate",
                      unit="images") as advance:  # counts images x models, not chunks
        for chunk in chunks:
            todo = [m for m in models if curves is None or not curves.has(shard_key(m, chunk))]
            advance(size[chunk] * (len(models) - len(todo)))
            if not todo:
                continue
            lo, hi = chunk * cfg.chunk_size, min(n, (chunk + 1) * cfg.chunk_size)
            x, labels = next(iter(DataLoader(Subset(dataset, range(lo, hi)), batch_size=hi - lo)))
            x = x.to(device)
            _check_finite(x, ids_all[lo:hi])
            counts = None
            if cfg.num_steps is not None:
                counts = step_schedule(x.shape[-2] * x.shape[-1], num_steps=cfg.num_steps)
            for entry in todo:
                frame = _evaluate_chunk(entry, variants, cfg, run, chunk, x, labels,
                                        ids_all[lo:hi], counts, given, lo)
                if curves is not None:
                    curves.write(shard_key(entry, chunk), frame)
                else:
                    frames.append(frame)
                advance(size[chunk])
    if curves is not None:
        return curves.read()
    if not frames:  # a shard without chunks
        return CURVE_SCHEMA.empty_table().to_pandas()
    return pd.concat(frames, ignore_index=True)


#: What :func:`prepare_run` checked and resolved: ``(n images, variants, precomputed maps)``.
Prepared = tuple[int, list[Variant], list[PrecomputedMaps]]


def prepare_run(models: Sequence[ModelEntry], dataset: Dataset, cfg: EvalConfig,
                maps: Mapping[str, Any] | None, device: str | torch.device = "cpu") -> Prepared:
    """Check everything a run needs before any work: ``(n images, variants, precomputed maps)``.

    :func:`evaluation_identity` and :func:`run_evaluation` take the result as ``prepared=``, so
    a caller that needs both (``attrbench.evaluate(out=)``) checks the models and reads the given
    maps once.

    Raises:
        AttrbenchError: bad settings, no models, an empty dataset, bad variants or maps, or data
            the models cannot take (see :func:`check_dataset`).
    """
    if not models:
        raise AttrbenchError("No models to evaluate; pass at least one model.")
    n_total = len(dataset)  # type: ignore[arg-type]
    n = n_total if cfg.num_images is None else min(cfg.num_images, n_total)
    if n == 0:
        raise AttrbenchError("The dataset is empty; nothing to evaluate.")
    variants, given = _resolve(cfg, dataset, n, maps)
    check_dataset(dataset, models, device)
    return n, variants, given


def _resolve(cfg: EvalConfig, dataset: Dataset, n: int, maps: Mapping[str, Any] | None,
             ) -> tuple[list[Variant], list[PrecomputedMaps]]:
    """The variants of ``cfg`` and the checked precomputed ``maps`` of the first ``n`` images."""
    given: list[PrecomputedMaps] = []
    if maps is not None:
        shape = tuple(torch.as_tensor(dataset[0][0]).shape)
        if len(shape) != 3:
            raise AttrbenchError(f"Each image must have shape (C, H, W), got {shape}.")
        given = precomputed_maps(maps, _dataset_ids(dataset, n), shape,  # type: ignore[arg-type]
                                 len(dataset))  # type: ignore[arg-type]
    if not cfg.variants and given:
        return [], given
    variants = resolve_variants(cfg.variants)
    clash = {v.label for v in variants} & {g.variant.label for g in given}
    if clash:
        raise AttrbenchError(f"maps= labels {sorted(clash)} are also variant labels; rename them.")
    return variants, given


def missing_chunks(models: Sequence[ModelEntry], root: str | Path, num_images: int,
                   chunk_size: int) -> list[int]:
    """Image chunks of a run of ``num_images`` images with a shard missing in the results folder
    ``root`` for at least one model (e.g. chunks of other ``--shard`` processes still running);
    [] = complete."""
    curves = Table(root, CURVES)
    return [c for c in range(math.ceil(num_images / chunk_size))
            if any(not curves.has(shard_key(m, c)) for m in models)]


def _check_finite(x: torch.Tensor, ids: np.ndarray) -> None:
    bad = (~torch.isfinite(x.reshape(x.shape[0], -1))).any(1)
    if bool(bad.any()):
        raise AttrbenchError(f"Images with NaN/Inf pixels (ids {ids[bad.cpu().numpy()].tolist()[:10]}); "
                             "fix or drop them before evaluating.")


def sample_maps(entry: ModelEntry, dataset: Dataset, cfg: EvalConfig, num: int = 8,
                device: str | torch.device = "cpu") -> dict[str, Any]:
    """Maps of every variant for the first ``num`` images (for Fig. 5-style heatmaps).

    Returns:
        ``{"x": (N,C,H,W) tensor, "labels": (N,), "ids": (N,), "maps": {alias: (N,H,W)}}``.
    """
    variants = resolve_variants(cfg.variants)
    num = min(num, len(dataset))  # type: ignore[arg-type]
    x, labels = next(iter(DataLoader(Subset(dataset, range(num)), batch_size=num)))
    x = x.to(device)
    entry.model.to(device).eval()
    targets = _targets(entry, cfg, x, labels)
    maps = {variant.label: m.detach().cpu()
            for variant, m in _variant_maps(entry, variants, cfg, x, targets)}
    return {"x": x.cpu(), "labels": labels, "ids": _dataset_ids(dataset, num), "maps": maps}
