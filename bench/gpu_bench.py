"""One GPU benchmark (issue 14 item 5): the curve engine, Quantus, IG vs Captum, FPA's share of a
training step, and a timed slice of the FPA paper's CIFAR-10 experiment extrapolated to Table D.2.

Sections (each timed with ``torch.cuda.synchronize`` around it, minimum over ``--repeats``):

1. ``curves``: MIF + LIF curves (21 points) of x*grad maps on ``--images`` test images vs the
   forward floor, the same number of plain forward passes at the best batch size (goal <= 1.2x).
2. ``quantus`` (``--quantus-python PY``, a throwaway venv with Quantus 0.6): ``PixelFlipping`` on
   the same model, maps and the first ``--quantus-images`` images, on the same device (goal: >= 10x
   slower than ours per forward image; it runs its closest schedule, see
   ``bench/perturbation.py``).
3. ``ig``: integrated gradients, m = 200, right Riemann sum, ours vs Captum 0.9
   ``IntegratedGradients`` (same baseline 0, same internal batch), with their max difference.
4. ``fpa_share``: FPA augmentation (cifar preset) of one batch vs one SGD step (forward, backward,
   update) on the same batch: the share of a training step FPA costs.
5. ``slice``: one epoch of ``attrbench.training.train`` (recipe ``paper-cifar``) per augmentation
   (none, fpa, rectangle) on ``--train-images`` images, and the ``fpa-table`` variants on
   ``--eval-images`` test images of the ``none`` model; extrapolated linearly to Table D.2:
   3 models x 40 epochs x 50,000 images and 3 models x 10 variants x 10,000 images.

The images are the embedded ``cifar10-mini`` ones, repeated to the requested counts (speed does
not depend on the pixel values). The default sizes are the GPU ones; ``--tiny`` shrinks everything
(and uses ``small_cnn``) so that the CPU fallback of ``bench/gpu.sh`` finishes in seconds: those
numbers only show that the script runs, not GPU speed. One JSON goes to ``--out``; the ratios are
printed.

Usage:
    bench/gpu.sh [--quantus-python /tmp/quantus-venv/bin/python]
    .venv/bin/python bench/gpu_bench.py --device cuda --amp
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perturbation as pb  # noqa: E402  (bench/perturbation.py: shared helpers)

from attrbench.atomic import write_json_atomic  # noqa: E402
from attrbench.augment import create_augmentation  # noqa: E402
from attrbench.data import load_dataset  # noqa: E402
from attrbench.data.base import ArrayImageDataset  # noqa: E402
from attrbench.fpa import evaluate  # noqa: E402
from attrbench.methods import create_method  # noqa: E402
from attrbench.metrics.functional import perturbation_curves, step_schedule  # noqa: E402
from attrbench.models import create_model  # noqa: E402
from attrbench.provenance import library_versions  # noqa: E402
from attrbench.runtime import make_generator, resolve_device  # noqa: E402
from attrbench.training import TrainConfig, train  # noqa: E402
from attrbench.variants import resolve_variants  # noqa: E402

TABLE_D2 = {"models": 3, "epochs": 40, "train_images": 50_000, "variants": 10,
            "test_images": 10_000}


def best_of(fn, device: torch.device, repeats: int) -> float:
    """Minimum wall-clock seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    return min(pb.timed(fn, device)["wall"] for _ in range(repeats))


def images_of(split: str, n: int, device: torch.device | None = None) -> torch.Tensor:
    """``n`` normalised cifar10-mini images ``(n, 3, 32, 32)``, repeated as needed."""
    ds = load_dataset("cifar10-mini", split, limit=min(n, 1000))
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    x = x.repeat((n + len(x) - 1) // len(x), 1, 1, 1)[:n].contiguous()
    return x if device is None else x.to(device)


def repeated_split(split: str, n: int) -> ArrayImageDataset:
    """The cifar10-mini ``split`` repeated to ``n`` images, as a dataset ``train`` accepts."""
    base = load_dataset("cifar10-mini", split)
    reps = (n + len(base) - 1) // len(base)
    pixels = base.images_uint8.repeat(reps, *([1] * (base.images_uint8.dim() - 1)))[:n]
    labels = torch.as_tensor(base.labels).repeat(reps)[:n]
    return ArrayImageDataset(base.spec, split, pixels, labels, torch.arange(n))


def section_curves(model, x, device, repeats, batch_sizes) -> dict:
    maps, targets = pb.gradient_maps(model, x)
    counts = step_schedule(x.shape[-2] * x.shape[-1])
    n_forward = x.shape[0] * (1 + 2 * (counts.numel() - 1))
    floor_in = x.repeat(n_forward // x.shape[0] + 1, 1, 1, 1)[:n_forward].contiguous()
    sweep = {bs: best_of(lambda bs=bs: pb.forward_all(model, floor_in, bs), device, 1)
             for bs in batch_sizes}
    best = min(sweep, key=sweep.__getitem__)
    floor = best_of(lambda: pb.forward_all(model, floor_in, best), device, repeats)
    engine = best_of(lambda: perturbation_curves(
        model, x, maps, targets=targets, max_batch=best,
        generator=make_generator(0, device)), device, repeats)
    return {"images": x.shape[0], "forward_images": n_forward, "best_batch": best,
            "floor_s": floor, "engine_s": engine, "engine_over_floor": engine / floor,
            "goal": "<= 1.2", "maps": maps, "targets": targets}


def section_quantus(python: str, model, x, maps, targets, device, batch, floor) -> dict:
    child = pb.QUANTUS_CHILD.replace('device="cpu"', 'device=cfg["device"]').replace(
        "model.eval()", 'model.to(cfg["device"]).eval()')
    assert 'cfg["device"]' in child, "bench/perturbation.py's Quantus child changed"
    with tempfile.TemporaryDirectory() as tmp:
        blob, script = Path(tmp) / "inputs.safetensors", Path(tmp) / "quantus_child.py"
        from safetensors.torch import save_file

        tensors = {f"model.{k}": v.detach().cpu().contiguous()
                   for k, v in model.state_dict().items()}
        tensors.update(images=x.cpu().contiguous(), maps=maps.cpu().contiguous(),
                       targets=targets.cpu().contiguous())
        save_file(tensors, str(blob))
        script.write_text(child)
        cfg = {"threads": torch.get_num_threads(), "batch_size": batch, "device": str(device),
               "features_in_step": pb.quantus_step(x.shape[1:], 20)}
        out = pb.quantus_round(python, blob, script, cfg)
    if "error" in out:
        return out
    per_image_ours = floor["engine_s"] / floor["forward_images"]
    per_image_q = out["wall"] / out["forward_images"]
    return {**out, "quantus_over_engine_per_forward_image": per_image_q / per_image_ours,
            "goal": ">= 10"}


def section_ig(model, x, device, repeats, batch) -> dict:
    from captum.attr import IntegratedGradients

    with torch.no_grad():
        targets = model(x).argmax(1)
    ours = create_method("integrated_gradients", model, max_batch=batch, steps=200)
    captum = IntegratedGradients(model)

    def run_captum() -> torch.Tensor:
        return captum.attribute(x, baselines=0.0, target=targets, n_steps=200,
                                method="riemann_right", internal_batch_size=batch)

    t_ours = best_of(lambda: ours(x, targets), device, repeats)
    t_captum = best_of(run_captum, device, repeats)
    diff = float((ours(x, targets) - run_captum()).abs().max())
    return {"images": x.shape[0], "steps": 200, "ours_s": t_ours, "captum_s": t_captum,
            "captum_over_ours": t_captum / t_ours, "max_abs_difference": diff}


def section_fpa_share(model_name, device, batch, repeats, amp) -> dict:
    model = create_model(model_name, num_classes=10).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = images_of("train", batch, device), torch.arange(batch, device=device) % 10
    fpa = create_augmentation("fpa", preset="cifar")
    gen = make_generator(0, device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t_step = best_of(step, device, repeats)
    t_fpa = best_of(lambda: fpa(x, gen), device, repeats)
    return {"batch": batch, "step_s": t_step, "fpa_s": t_fpa,
            "fpa_share_of_step": t_fpa / (t_step + t_fpa)}


def section_slice(model_name, device, train_images, eval_images, amp, out_dir: Path) -> dict:
    train_set, test_set = repeated_split("train", train_images), repeated_split("test", 100)
    epochs = {}
    trained = None
    for aug in ("none", "fpa", "rectangle"):
        cfg = TrainConfig.from_recipe(
            "paper-cifar", dataset=f"bench-{train_images}", model=model_name, epochs=1,
            augment=aug, augment_preset="cifar" if aug == "fpa" else None, seed=0,
            device=str(device), amp=amp)
        result = train(cfg, out_dir / aug, progress=False, datasets=(train_set, test_set))
        epochs[aug] = result.history[0]["seconds"]
        trained = result.model if aug == "none" else trained
    assert trained is not None
    data = repeated_split("test", eval_images)
    n_variants = len(resolve_variants(["fpa-table"]))
    pb.sync(device)
    t0 = time.perf_counter()
    evaluate(trained, data, ("fpa-table",), device=device, max_batch=256, chunk_size=eval_images)
    pb.sync(device)
    t_eval = time.perf_counter() - t0
    d2 = TABLE_D2
    train_total = (sum(epochs.values()) / 3 * d2["models"] * d2["epochs"]
                   * d2["train_images"] / train_images)
    eval_total = t_eval / eval_images * d2["test_images"] * d2["models"]
    return {"train_images": train_images, "epoch_s": epochs, "eval_images": eval_images,
            "variants": n_variants, "eval_s": t_eval, "table_d2": d2,
            "extrapolated_train_s": train_total, "extrapolated_eval_s": eval_total,
            "extrapolated_total_min": (train_total + eval_total) / 60,
            "moonshot": "whole Table D.2 in <= 10 min on one H100"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tiny", action="store_true", help="CPU fallback sizes (seconds)")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast in the training parts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quantus-python", default=None)
    parser.add_argument("--quantus-images", type=int, default=100,
                        help="images for Quantus (slow); compared per forward image")
    parser.add_argument("--out", default="bench/out/gpu.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    tiny = args.tiny
    model_name = "small_cnn" if tiny else "cifar_resnet18"
    sizes = dict(curves=8 if tiny else 1000, ig=2 if tiny else 64, fpa_batch=32 if tiny else 128,
                 train=128 if tiny else 50_000, eval=2 if tiny else 1000,
                 batches=(32, 64) if tiny else (256, 512, 1024, 2048))
    repeats = 1 if tiny else args.repeats
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    started = time.perf_counter()
    result: dict[str, object] = {"device": str(device), "tiny": tiny, "model": model_name,
                                 "amp": args.amp}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)

    model = create_model(model_name, num_classes=10).to(device).eval()
    x = images_of("test", sizes["curves"], device)
    curves = section_curves(model, x, device, repeats, sizes["batches"])
    maps, targets = curves.pop("maps"), curves.pop("targets")
    result["curves"] = curves
    if args.quantus_python:
        nq = min(args.quantus_images, x.shape[0])
        result["quantus"] = section_quantus(args.quantus_python, model, x[:nq], maps[:nq],
                                            targets[:nq], device, curves["best_batch"], curves)
    else:
        result["quantus"] = {"skipped": "pass --quantus-python (a venv with quantus 0.6)"}
    result["ig"] = section_ig(model, x[:sizes["ig"]], device, repeats, curves["best_batch"])
    result["fpa_share"] = section_fpa_share(model_name, device, sizes["fpa_batch"], repeats,
                                            args.amp)
    with tempfile.TemporaryDirectory() as tmp:
        result["slice"] = section_slice(model_name, device, sizes["train"], sizes["eval"],
                                        args.amp, Path(tmp))
    result["seconds"] = time.perf_counter() - started
    result["machine"] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                         "python": sys.version.split()[0]}
    result["versions"] = library_versions()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, result)
    q = result["quantus"]
    print(json.dumps({
        "device": result["device"], "tiny": tiny,
        "curves engine/floor (goal <= 1.2)": round(curves["engine_over_floor"], 3),
        "quantus/ours per forward image (goal >= 10)": (
            round(q["quantus_over_engine_per_forward_image"], 1)
            if isinstance(q, dict) and "quantus_over_engine_per_forward_image" in q else q),
        "IG m=200 captum/ours": round(result["ig"]["captum_over_ours"], 2),
        "FPA share of a training step": round(result["fpa_share"]["fpa_share_of_step"], 3),
        "Table D.2 extrapolated (min)": round(result["slice"]["extrapolated_total_min"], 1),
        "bench seconds": round(result["seconds"], 1), "json": str(out)}, indent=2))


if __name__ == "__main__":
    main()
