"""How much FPA costs: its time as a fraction of one training step, and its speed-up over a literal loop.

Setting (issue 2, item 7): ``cifar_resnet18``, mini-batch 64 of 3x32x32 images, CPU, one SGD step
(momentum 0.9, weight decay 5e-4) with forward, cross-entropy and backward. FPA runs with the ``cifar``
preset and p = 1, i.e. the cost of a perturbed mini-batch (with the paper's p = 0.5 the expected cost
per step is half). Medians over repeats after warm-up. Target: FPA <= 3 % of a step.

The literal baseline is Algorithm 1 written as a per-pixel Python loop (``bench/_literal_fpa.py``), run
at the expected density p1 = p1_max / 2 against :func:`attrbench.augment.fpa_mask` at the same p1.
An extra row times FPA alone with the ``imagenet`` preset on 64 x 3 x 224 x 224 (no step is timed
there: a ResNet-50 step on this CPU would take minutes).

Run: ``python bench/fpa_overhead.py [--repeats 15] [--threads 1]``; writes
``bench/out/fpa_overhead.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from _literal_fpa import literal_fpa_mask

from attrbench.atomic import write_json_atomic
from attrbench.augment import FPA, FPAConfig, fpa_mask
from attrbench.models import create_model
from attrbench.provenance import git_revision, library_versions

OUT = Path(__file__).resolve().parent / "out" / "fpa_overhead.json"


MINIMA: dict[str, float] = {}


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2, key: str = "") -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup`` calls.

    The minimum is kept in ``MINIMA[key]`` too: on a shared, loaded machine it is the steadier figure.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    MINIMA[key] = min(times)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per measurement")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    b = args.batch

    model = create_model("cifar_resnet18", num_classes=10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(b, 3, 32, 32)
    y = torch.randint(0, 10, (b,), generator=gen)

    def train_step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    cifar = FPA(FPAConfig.preset("cifar", p=1.0))
    step_s = median_seconds(train_step, max(3, args.repeats // 2), key="step")
    fpa_s = median_seconds(lambda: cifar(x, gen), args.repeats * 4, key="fpa")

    p1 = cifar.config.p1_max / 2
    cfg = cifar.config
    fast_mask_s = median_seconds(lambda: fpa_mask(b, 32, 32, p1, cfg.p2, cfg.s_max, cfg.mode, gen),
                                 args.repeats * 4, key="fast")
    rng = random.Random(0)
    literal_s = median_seconds(lambda: literal_fpa_mask(b, 32, 32, p1, cfg.p2, cfg.s_max, cfg.mode,
                                                        rng), max(3, args.repeats // 3), warmup=1,
                               key="literal")

    imagenet = FPA(FPAConfig.preset("imagenet", p=1.0))
    x224 = torch.randn(b, 3, 224, 224)
    fpa224_s = median_seconds(lambda: imagenet(x224, gen), max(3, args.repeats // 2),
                              key="fpa_imagenet_224")

    result = {
        "setting": {"model": "cifar_resnet18", "batch": b, "image": [3, 32, 32], "device": "cpu",
                    "threads": torch.get_num_threads(), "repeats": args.repeats,
                    "fpa": "cifar preset, p = 1 (a perturbed batch)"},
        "train_step_ms": step_s * 1e3,
        "fpa_ms": fpa_s * 1e3,
        "fpa_fraction_of_step": fpa_s / step_s,
        "fpa_expected_fraction_at_p_0.5": 0.5 * fpa_s / step_s,
        "target_fraction": 0.03,
        "meets_target": fpa_s / step_s <= 0.03,
        "mask_p1": p1,
        "fast_mask_ms": fast_mask_s * 1e3,
        "literal_mask_ms": literal_s * 1e3,
        "speedup_over_literal": literal_s / fast_mask_s,
        "imagenet_preset_224_fpa_ms": fpa224_s * 1e3,
        "minima_ms": {k: v * 1e3 for k, v in MINIMA.items()},
        "fpa_fraction_of_step_from_minima": MINIMA["fpa"] / MINIMA["step"],
        "speedup_over_literal_from_minima": MINIMA["literal"] / MINIMA["fast"],
        "load_average_1_5_15min": list(os.getloadavg()),
        "git": git_revision(), "versions": library_versions(),
    }
    write_json_atomic(args.out, result)
    rows = [
        ("train step (fwd+bwd+SGD), batch 64", f"{result['train_step_ms']:.1f} ms"),
        ("FPA cifar, perturbed batch", f"{result['fpa_ms']:.2f} ms"),
        ("FPA / step (target <= 3 %)", f"{100 * result['fpa_fraction_of_step']:.2f} %"),
        ("FPA / step, expected at p = 0.5", f"{100 * result['fpa_expected_fraction_at_p_0.5']:.2f} %"),
        (f"literal loop mask, p1 = {p1:.3f}", f"{result['literal_mask_ms']:.1f} ms"),
        (f"vectorised mask, p1 = {p1:.3f}", f"{result['fast_mask_ms']:.2f} ms"),
        ("speed-up over literal loop", f"{result['speedup_over_literal']:.0f} x"),
        ("FPA / step from minima", f"{100 * result['fpa_fraction_of_step_from_minima']:.2f} %"),
        ("speed-up from minima", f"{result['speedup_over_literal_from_minima']:.0f} x"),
        ("FPA imagenet preset, 64x3x224x224", f"{result['imagenet_preset_224_fpa_ms']:.1f} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    load = os.getloadavg()[0]
    print(f"FPA overhead (CPU, {torch.get_num_threads()} thread(s), medians; load average {load:.1f})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>10}")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
