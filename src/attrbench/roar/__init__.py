"""Remove-and-retrain benchmarks: ROAR / KAR (Hooker et al. 2019) and IteROAR (Palacio et al.).

- :mod:`~attrbench.roar.removal`: ranking units, thresholds, fills.
- :func:`run_roar` / :class:`RoarConfig`: ROAR and KAR (accuracy vs fraction removed).
- :func:`run_iteroar` / :class:`IteRoarConfig`: the iterative loop, masks and overlap metrics
  (the maths is in :mod:`attrbench.metrics.functional.overlap`).
- :func:`mask_leakage_test`: can a classifier learn the labels from the masks alone?
- :func:`train_on_tensors`: the training loop on in-memory datasets.
- ``attrbench.roar.report.write_roar_report``: figures and HTML (imports matplotlib, so not here).
"""

from attrbench.roar.benchmark import RoarConfig, run_roar
from attrbench.roar.config import RetrainConfig
from attrbench.roar.iterative import IteRoarConfig, chain_masks, run_iteroar
from attrbench.roar.leakage import (
    LeakageResult,
    chain_leakage,
    mask_leakage_test,
    postprocess_masks,
)
from attrbench.roar.removal import FILLS, UNITS, channel_means, fill_removed, removal_masks
from attrbench.roar.tensor_data import TensorImageDataset, train_on_tensors

__all__ = [
    "FILLS",
    "UNITS",
    "IteRoarConfig",
    "LeakageResult",
    "RetrainConfig",
    "RoarConfig",
    "TensorImageDataset",
    "chain_leakage",
    "chain_masks",
    "channel_means",
    "fill_removed",
    "mask_leakage_test",
    "postprocess_masks",
    "removal_masks",
    "run_iteroar",
    "run_roar",
    "train_on_tensors",
]
