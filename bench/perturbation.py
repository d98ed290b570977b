"""Speed of the perturbation-curve engine against its floor (and Quantus 0.6 as a peer, optional).

Workload (issue 4): 64 CIFAR-10 images, ``cifar_resnet18`` (FPA authors' CIFAR model, random init:
speed does not depend on the weights), gradient maps (x * grad summed over channels, like IG_sum),
MIF + LIF curves with the authors' 21 points (step 0 unperturbed, then 20 steps of 51 pixels).

* floor: the same number of plain forward passes, ``64 * 41`` images (step 0 shared by MIF and LIF),
  on a ready-made tensor at the best batch size of a sweep (no masking, no ranking, no gathering);
* engine: :func:`attrbench.metrics.functional.perturbation_curves` with ``max_batch`` = that size;
* peer (``--quantus-python PY``): Quantus 0.6 ``PixelFlipping`` run in a separate interpreter
  ``PY`` (a throwaway venv; Quantus is never a project dependency) on the same model, images and
  maps, once with the maps (MIF) and once with the negated maps (LIF). Quantus cannot do 20 steps
  of 51 pixels on 32x32x3 (``features_in_step`` must divide H*W and it then masks C*H*W broadcast
  elements), so it runs its closest schedule, 24 steps per order with no shared step 0; its time is
  reported raw and against the floor for its own number of forward images.

The machine may be shared, so the contenders run interleaved, ``--repeats`` rounds of floor,
engine, peer, and each keeps its minimum. Both wall-clock and CPU time (``time.process_time``,
robust to other processes when ``--threads 1``) are recorded; ratios are given for both. JSON goes
to ``--out``.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python bench/perturbation.py --threads 1 \
        --quantus-python /tmp/quantus-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from attrbench.atomic import write_json_atomic
from attrbench.data import load_dataset
from attrbench.metrics.functional import perturbation_curves, step_schedule
from attrbench.models import create_model
from attrbench.provenance import library_versions

QUANTUS_CHILD = r"""
import json, sys, time
import torch, torchvision
import quantus
from safetensors.torch import load_file

data = load_file(sys.argv[1])
cfg = json.loads(sys.argv[2])
torch.set_num_threads(cfg["threads"])
model = torchvision.models.resnet18(weights=None, num_classes=10)
model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
model.maxpool = torch.nn.Identity()
model.load_state_dict({k[len("model."):]: v for k, v in data.items() if k.startswith("model.")})
model.eval()
x = data["images"].numpy()
a = data["maps"].unsqueeze(1).numpy()  # (B, 1, H, W); Quantus broadcasts it over the channels
y = data["targets"].numpy()
metric = quantus.PixelFlipping(features_in_step=cfg["features_in_step"], perturb_baseline="black",
                               normalise=False, disable_warnings=True, display_progressbar=False)
kw = dict(model=model, y_batch=y, softmax=False, device="cpu", batch_size=cfg["batch_size"],
          channel_first=True)
metric(x_batch=x[:2], a_batch=a[:2], **{**kw, "y_batch": y[:2]})  # warm-up
w0, c0 = time.perf_counter(), time.process_time()
mif = metric(x_batch=x, a_batch=a, **kw)
lif = metric(x_batch=x, a_batch=-a, **kw)
wall, cpu = time.perf_counter() - w0, time.process_time() - c0
print(json.dumps({"wall": wall, "cpu": cpu, "steps_per_order": len(mif[0]),
                  "forward_images": 2 * len(y) * len(mif[0]), "version": quantus.__version__}))
"""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> dict[str, float]:
    """Wall-clock and CPU seconds of one call."""
    sync(device)
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return {"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}


def gradient_maps(
    model: torch.nn.Module, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """x * d logit_pred / dx summed over channels, (B, H, W), and the predicted classes (B,)."""
    x = images.clone().requires_grad_(True)
    logits = model(x)
    pred = logits.argmax(1)
    logits.gather(1, pred[:, None]).sum().backward()
    model.zero_grad(set_to_none=True)
    return (x.grad * images).sum(1).detach(), pred


def forward_all(model: torch.nn.Module, inputs: torch.Tensor, batch: int) -> None:
    with torch.no_grad():
        for chunk in inputs.split(batch):
            model(chunk)


def quantus_step(shape: torch.Size, steps: int) -> int:
    """Quantus 0.6 needs ``features_in_step`` to divide H*W (its check on the (1, H, W) maps) and
    then masks C*H*W broadcast elements: take the divisor d of H*W whose step count C*H*W / d is
    closest to ``steps`` (32x32x3 and 20 steps: d = 128, 24 steps per order)."""
    c, h, w = shape
    divisors = [d for d in range(1, h * w + 1) if (h * w) % d == 0]
    return min(divisors, key=lambda d: (abs(c * h * w / d - steps), -d))


def quantus_round(python: str, blob: Path, script: Path, cfg: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"])}
    proc = subprocess.run(
        [python, str(script), str(blob), json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(rounds: list[dict[str, float]]) -> dict[str, object]:
    return {
        "wall": min(r["wall"] for r in rounds),
        "cpu": min(r["cpu"] for r in rounds),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", default="32,64,128,256")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quantus-python", default=None, help="python of a venv with quantus 0.6")
    parser.add_argument("--out", default="bench/out/perturbation.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    ds = load_dataset("cifar10-mini", "test", limit=args.images)
    images = torch.stack([ds[i][0] for i in range(len(ds))]).to(device)
    model = create_model("cifar_resnet18", num_classes=10).to(device).eval()
    maps, targets = gradient_maps(model, images)
    b, _, h, w = images.shape
    counts = step_schedule(h * w)
    n_forward = b * (1 + 2 * (counts.numel() - 1))  # step 0 shared: 64 * 41
    floor_inputs = images.repeat(n_forward // b + 1, 1, 1, 1)[:n_forward].contiguous()

    forward_all(model, floor_inputs[:128], 64)  # warm-up
    probe = floor_inputs[: min(n_forward, 256)]
    sweep = {
        bs: timed(lambda bs=bs: forward_all(model, probe, bs), device)["cpu"] / probe.shape[0]
        for bs in (int(s) for s in args.batch_sizes.split(","))
    }
    best = min(sweep, key=sweep.__getitem__)

    tmp = tempfile.TemporaryDirectory()
    blob, script = Path(tmp.name) / "inputs.safetensors", Path(tmp.name) / "quantus_child.py"
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update(
        images=images.cpu().contiguous(),
        maps=maps.cpu().contiguous(),
        targets=targets.cpu().contiguous(),
    )
    save_file(tensors, str(blob))
    script.write_text(QUANTUS_CHILD)
    qcfg = {
        "threads": args.threads,
        "batch_size": best,
        "features_in_step": quantus_step(images.shape[1:], counts.numel() - 1),
    }

    floor, engine, peer = [], [], []
    for _ in range(args.repeats):
        floor.append(timed(lambda: forward_all(model, floor_inputs, best), device))
        engine.append(
            timed(
                lambda: perturbation_curves(
                    model, images, maps, max_batch=best, generator=torch.Generator().manual_seed(0)
                ),
                device,
            )
        )
        if args.quantus_python:
            peer.append(quantus_round(args.quantus_python, blob, script, qcfg))
    tmp.cleanup()

    f, e = summarise(floor), summarise(engine)
    result: dict[str, object] = {
        "workload": {
            "images": b,
            "model": "cifar_resnet18 (random init)",
            "maps": "x*grad summed",
            "points_per_curve": counts.numel(),
            "orders": ["mif", "lif"],
            "forward_images": n_forward,
            "device": str(device),
            "threads": args.threads,
        },
        "floor_sweep_cpu_seconds_per_image": {str(k): v for k, v in sweep.items()},
        "best_batch": best,
        "floor": f,
        "engine": e,
        "engine_over_floor": {"wall": e["wall"] / f["wall"], "cpu": e["cpu"] / f["cpu"]},
        "target_ratio": 1.05,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg": os.getloadavg(),
        },
        "versions": library_versions(),
    }
    if not args.quantus_python:
        result["quantus"] = {"skipped": "pass --quantus-python (a throwaway venv with quantus 0.6)"}
    elif any("error" in r for r in peer):
        result["quantus"] = {"error": next(r["error"] for r in peer if "error" in r)}
    else:
        q = summarise([{"wall": r["wall"], "cpu": r["cpu"]} for r in peer])
        q.update({k: peer[0][k] for k in ("steps_per_order", "forward_images", "version")})
        q["features_in_step"] = qcfg["features_in_step"]
        n_q = peer[0]["forward_images"]
        q["over_floor_same_forward_count"] = {
            t: q[t] / (f[t] / n_forward * n_q) for t in ("wall", "cpu")
        }
        q["over_engine_raw"] = {t: q[t] / e[t] for t in ("wall", "cpu")}
        result["quantus"] = q
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, result)
    print(
        json.dumps({k: v for k, v in result.items() if k not in ("versions", "machine")}, indent=2)
    )


if __name__ == "__main__":
    main()
