"""Recreate the shipped models ``cifar_resnet20.{none,fpa,rectangle}`` (package data).

Exactly what was run to make them (2-core CPU, bf16 autocast; about 35-45 min per model):

    python scripts/train_pretrained.py train      # the three `attrbench train` runs (resumable)
    python scripts/train_pretrained.py export     # accuracies + copy into the package

``train`` extracts ``../shared/data/cifar10/cifar10-jpeg.tar`` into ``runs/data`` and runs, for AUG in
none, fpa (preset cifar), rectangle:

    attrbench train --out runs/pretrained/AUG --dataset cifar10-jpeg --data-root runs/data \
        --model cifar_resnet20 --recipe cifar-resnet20 --augment AUG [--augment-preset cifar] \
        --amp --seed 0

(``--parallel`` starts them side by side with ``OMP_NUM_THREADS=1`` each.) ``export`` measures the
accuracy of each final model on the 1,000 embedded test images, on the 1,017 lossless test images of
``cifar10-lossless.npz`` and on the 10,000 JPEG test images, writes them into the sidecar with the
command line and the git revision, and copies ``model.safetensors`` + sidecar to
``src/attrbench/models/weights/cifar_resnet20.AUG.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "cifar10"
RUNS = ROOT / "runs" / "pretrained"
DATA = ROOT / "runs" / "data"
WEIGHTS = ROOT / "src" / "attrbench" / "models" / "weights"
AUGMENTATIONS = ("none", "fpa", "rectangle")


def command(aug: str) -> list[str]:
    """The `attrbench train` command line of one shipped model."""
    cmd = ["attrbench", "train", "--out", f"runs/pretrained/{aug}", "--dataset", "cifar10-jpeg",
           "--data-root", "runs/data", "--model", "cifar_resnet20", "--recipe", "cifar-resnet20",
           "--augment", aug]
    if aug == "fpa":
        cmd += ["--augment-preset", "cifar"]
    return cmd + ["--amp", "--seed", "0"]


def extract() -> None:
    if (DATA / "cifar10-jpeg" / "train").is_dir():
        return
    DATA.mkdir(parents=True, exist_ok=True)
    with tarfile.open(SHARED / "cifar10-jpeg.tar") as tar:
        tar.extractall(DATA, filter="data")


def train(parallel: bool) -> None:
    extract()
    bin_dir = Path(sys.executable).parent
    procs = []
    for aug in AUGMENTATIONS:
        cmd = command(aug)
        cmd[0] = str(bin_dir / "attrbench")
        env = {**os.environ, "OMP_NUM_THREADS": "1"} if parallel else None
        RUNS.mkdir(parents=True, exist_ok=True)
        log = open(RUNS / f"{aug}.log", "a")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        if parallel:
            procs.append(proc)
        elif proc.wait() != 0:
            raise SystemExit(f"{' '.join(cmd)} failed; see {RUNS / (aug + '.log')}")
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("a training run failed; see runs/pretrained/*.log")


def _lossless_test():
    import numpy as np
    import torch
    from torch.utils.data import TensorDataset

    with np.load(SHARED / "cifar10-lossless.npz") as npz:
        x = torch.from_numpy(npz["test_x"]).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
        y = torch.from_numpy(npz["test_y"])
    return TensorDataset(x, y)


def export(only: tuple[str, ...] = AUGMENTATIONS) -> None:
    from attrbench.data import load_dataset
    from attrbench.models import load_checkpoint
    from attrbench.provenance import git_revision
    from attrbench.training.loop import evaluate_accuracy

    embedded = load_dataset("cifar10-mini", "test")
    jpeg = load_dataset("cifar10-jpeg", "test", root=DATA)
    lossless = _lossless_test()
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for aug in only:
        run = RUNS / aug
        model, meta = load_checkpoint(run / "model")
        history = json.loads((run / "history.json").read_text())
        accuracy = {
            "embedded_test_1000": evaluate_accuracy(model, embedded),
            "lossless_test_1017": evaluate_accuracy(model, lossless),
            "jpeg_test_10000": evaluate_accuracy(model, jpeg),
        }
        meta["shipped"] = {
            "name": f"cifar_resnet20.{aug}", "command": " ".join(command(aug)),
            "recreate": "python scripts/train_pretrained.py train && "
                        "python scripts/train_pretrained.py export",
            "accuracy": accuracy, "epochs": len(history),
            "train_seconds": round(sum(h["seconds"] for h in history)),
            "export_git_revision": git_revision(),
            "run": json.loads((run / "run.json").read_text()),
        }
        shutil.copyfile(run / "model.safetensors", WEIGHTS / f"cifar_resnet20.{aug}.safetensors")
        (WEIGHTS / f"cifar_resnet20.{aug}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(aug, {k: round(100 * v, 2) for k, v in accuracy.items()},
              f"{meta['shipped']['train_seconds']} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("train", "export"))
    parser.add_argument("--parallel", action="store_true")
    parser.add_argument("--only", nargs="+", choices=AUGMENTATIONS, default=list(AUGMENTATIONS),
                        help="export only these models")
    args = parser.parse_args()
    train(args.parallel) if args.step == "train" else export(tuple(args.only))
