"""The provenance record: seed, config, revision, versions and the hardware that decides kernels."""

from __future__ import annotations

import json

import torch

from attrbench.provenance import hardware, provenance


def test_provenance_records_the_hardware() -> None:
    record = provenance({"lr": 0.1}, seed=3)
    assert record["seed"] == 3 and record["config"] == {"lr": 0.1}
    hw = record["hardware"]
    assert hw == hardware()
    assert hw["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert hw["torch_threads"] == torch.get_num_threads() >= 1
    assert all("bf16" in f or f.startswith("amx") for f in hw["cpu_bf16_amx"])
    assert hw["cuda_device"] is None or isinstance(hw["cuda_device"], str)
    json.dumps(record)  # written as JSON beside every run
