"""Remove-and-retrain benchmarks: ROAR / KAR (Hooker et al. 2019) and IteROAR (Palacio et al.).

- :mod:`~attrbench.roar.removal`: ranking units, thresholds, fills.
- :func:`run_roar` / :class:`RoarConfig`: ROAR and KAR (accuracy vs fraction removed).
- :func:`run_iteroar` / :class:`IteRoarConfig`: the iterative loop, masks and overlap metrics.
- :func:`mask_leakage_test`: can a classifier learn the labels from the masks alone?
"""

from attrbench.roar.benchmark import RoarConfig, run_roar, summarize
from attrbench.roar.config import RetrainConfig
from attrbench.roar.removal import FILLS, UNITS, channel_means, fill_removed, removal_masks
from attrbench.roar.tensor_data import TensorImageDataset, train_on_tensors

__all__ = [
    "FILLS",
    "UNITS",
    "RetrainConfig",
    "RoarConfig",
    "TensorImageDataset",
    "channel_means",
    "fill_removed",
    "removal_masks",
    "run_roar",
    "summarize",
    "train_on_tensors",
]
