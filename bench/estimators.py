"""Speed and memory of Integrated Gradients (FPA App. B, m = 200), as ratios to a floor and a peer.

Configurations, each measured in a fresh subprocess (so peak RSS is its own):

* ``baseline``: import torch, build ``cifar_resnet18``, load the images; nothing else (RSS floor).
* ``floor``: B x m plain forward + input-gradient backward passes of the model in batches of
  ``--max-batch`` on a fixed input batch (parameters frozen): the least work any IG can do.
* ``ours``: ``create_method("integrated_gradients", steps=m, max_batch=...)``.
* ``captum``: Captum ``IntegratedGradients(...).attribute(n_steps=m, method="riemann_right",
  internal_batch_size=512)``, the peer (its default, without internal_batch_size, runs out of
  memory).
* ``gl``: Gauss-Legendre IG with fewer points, compared with the m = 200 map by relative L2.

Usage (slow on a CPU; a few minutes with --images 8)::

    OMP_NUM_THREADS=1 python bench/estimators.py --images 8 --threads 1

Writes ``bench/out/estimators.json`` (numbers + ratios + provenance) and prints it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

OUT = Path(__file__).resolve().parent / "out"


def _images(n: int) -> tuple[torch.Tensor, str]:
    """The first ``n`` cifar10-mini test images (or seeded random ones if the set is missing)."""
    try:
        from attrbench.data import load_dataset

        data = load_dataset("cifar10-mini", "test", limit=n)
        return torch.stack([data[i][0] for i in range(n)]), "cifar10-mini test[:n]"
    except Exception as exc:  # noqa: BLE001  (a bench falls back rather than fails)
        gen = torch.Generator().manual_seed(0)
        images = torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1
        return images, f"random (cifar10-mini unavailable: {exc})"


def _model() -> torch.nn.Module:
    """``cifar_resnet18`` with seeded random weights *and* random BatchNorm statistics and affines.

    A freshly initialised ReLU ResNet has zero biases and BN running stats (0, 1), so it is
    positively homogeneous (f(a x) = a f(x)): its gradient is constant along the IG path and every
    quadrature agrees trivially. Random BN statistics break that, like training does; timing is
    unaffected.
    """
    from attrbench.models import create_model

    torch.manual_seed(0)
    model = create_model("cifar_resnet18", 10, 3).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
    return model


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration in this process and return its measurements."""
    torch.set_num_threads(args.threads)
    model = _model()
    x, source = _images(args.images)
    with torch.no_grad():
        target = model(x).argmax(1)
    result: dict[str, Any] = {"config": args.config, "images_source": source}
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    if args.config == "floor":
        for p in model.parameters():
            p.requires_grad_(False)
        batch = x.repeat((args.max_batch + len(x) - 1) // len(x), 1, 1, 1)[: args.max_batch]
        tb = target.repeat((args.max_batch + len(x) - 1) // len(x))[: args.max_batch]
        total = len(x) * args.steps
        done = 0
        while done < total:
            k = min(args.max_batch, total - done)
            inp = batch[:k].clone().requires_grad_(True)
            out = model(inp).gather(1, tb[:k, None]).sum()
            torch.autograd.grad(out, inp)
            done += k
        result["passes"] = total
    elif args.config == "ours":
        from attrbench.methods import create_method

        ig = create_method(
            "integrated_gradients", model, steps=args.steps, max_batch=args.max_batch
        )
        e = ig(x, target)
        torch.save(e, Path(args.tmp) / "ours.pt")
    elif args.config == "captum":
        from captum.attr import IntegratedGradients

        e = IntegratedGradients(model).attribute(
            x, target=target, n_steps=args.steps, method="riemann_right",
            internal_batch_size=args.captum_batch,
        )
        torch.save(e.detach(), Path(args.tmp) / "captum.pt")
    elif args.config == "gl":
        from attrbench.methods import create_method

        timings = {}
        extra = [args.steps] if args.gl_reference else []
        for m in [*args.gl_points, *extra]:
            t0 = time.perf_counter()
            gl = create_method(
                "integrated_gradients", model, steps=m, quadrature="gauss_legendre",
                max_batch=args.max_batch,
            )
            e = gl(x, target)
            timings[m] = time.perf_counter() - t0
            torch.save(e, Path(args.tmp) / f"gl{m}.pt")
        result["gl_seconds"] = timings
    elif args.config != "baseline":
        raise SystemExit(f"unknown config {args.config}")
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = _cpu_seconds() - cpu_start
    result["peak_rss_mib"] = _peak_rss_mib()
    return result


def _run_child(config: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    cmd = [
        sys.executable, __file__, "--child", config, "--images", str(args.images),
        "--steps", str(args.steps), "--max-batch", str(args.max_batch),
        "--captum-batch", str(args.captum_batch), "--threads", str(args.threads),
        "--gl-points", ",".join(map(str, args.gl_points)), "--tmp", tmp,
        *(["--gl-reference"] if args.gl_reference else []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"config": config, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--max-batch", type=int, default=128)
    parser.add_argument("--captum-batch", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--gl-points", type=lambda s: [int(v) for v in s.split(",")], default=[10, 20, 40]
    )
    parser.add_argument("--configs", default="baseline,floor,ours,captum,gl")
    parser.add_argument(
        "--gl-reference", action="store_true",
        help="also compute Gauss-Legendre with --steps points as the most accurate reference",
    )
    parser.add_argument("--out", type=Path, default=OUT / "estimators.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.config = args.child
        print(json.dumps(child(args)))
        return

    from attrbench.atomic import write_json_atomic
    from attrbench.provenance import library_versions

    with tempfile.TemporaryDirectory() as tmp:
        runs = {c: _run_child(c, args, tmp) for c in args.configs.split(",")}
        print(json.dumps(runs, indent=1), file=sys.stderr)
        maps = {p.stem: torch.load(p, weights_only=True) for p in Path(tmp).glob("*.pt")}
    settings = {k: v for k, v in vars(args).items() if k not in ("child", "tmp", "out")}
    summary: dict[str, Any] = {"settings": settings, "runs": runs}
    ratios: dict[str, Any] = {}
    rss = {c: r.get("peak_rss_mib") for c, r in runs.items()}
    # CPU seconds are the primary measure on a shared machine (wall time includes other jobs).
    for key in ("seconds", "cpu_seconds"):
        t = {c: r.get(key) for c, r in runs.items()}
        if t.get("ours") and t.get("floor"):
            ratios[f"ours_over_floor_{key}"] = t["ours"] / t["floor"]
        if t.get("ours") and t.get("captum"):
            ratios[f"captum_over_ours_{key}"] = t["captum"] / t["ours"]
    if rss.get("ours") and rss.get("baseline"):
        ratios["ours_extra_rss_mib"] = rss["ours"] - rss["baseline"]
    if rss.get("captum") and rss.get("baseline"):
        ratios["captum_extra_rss_mib"] = rss["captum"] - rss["baseline"]
    if "ours" in maps and "captum" in maps:
        ratios["ours_vs_captum_rel_l2"] = _rel_l2(maps["ours"], maps["captum"].float())
    if "ours" in maps:
        ref = maps.get(f"gl{args.steps}")
        gls = {m: maps[f"gl{m}"] for m in args.gl_points if f"gl{m}" in maps}
        ratios["gl_vs_riemann200_rel_l2"] = {m: _rel_l2(e, maps["ours"]) for m, e in gls.items()}
        if ref is not None:
            ratios["riemann200_vs_gl200_rel_l2"] = _rel_l2(maps["ours"], ref)
            ratios["gl_vs_gl200_rel_l2"] = {m: _rel_l2(e, ref) for m, e in gls.items()}
    summary["ratios"] = ratios
    summary["versions"] = library_versions()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, summary)
    print(json.dumps(summary["ratios"], indent=1))


if __name__ == "__main__":
    main()
