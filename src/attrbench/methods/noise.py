"""Seeded noise that depends only on (seed, image, sample index), never on the batch.

Stochastic methods (SmoothGrad and friends, the random control) draw their noise through
:class:`ImageNoise`. Each image gets its own 63-bit seed, a hash of the method's ``seed`` and the
image's bytes, and each sample ``s`` of that image is drawn from a ``torch.Generator`` re-seeded
with a hash of (image seed, s). Consequences, all tested:

* the same seed gives the same maps (determinism);
* an image's map does not depend on which other images share its batch, on the batch size, or on how
  the engine chunks images x samples, so a batch result equals the per-image results and an
  interrupted run resumes bit-for-bit;
* two different images get independent noise.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

_MASK63 = (1 << 63) - 1


def _hash_to_seed(*parts: bytes) -> int:
    digest = hashlib.blake2b(b"".join(parts), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK63


def image_seeds(x: torch.Tensor, seed: int) -> list[int]:
    """One seed per image of ``x`` (B, C, H, W): hash of ``seed`` and the image's float32 bytes."""
    head = int(seed).to_bytes(16, "little", signed=True)
    flat = x.detach().to(device="cpu", dtype=torch.float32).contiguous()
    shape = repr(tuple(x.shape[1:])).encode()
    return [_hash_to_seed(head, shape, flat[i].numpy().tobytes()) for i in range(flat.shape[0])]


class ImageNoise:
    """Per-image, per-sample standard normal / uniform draws for a batch of images.

    Args:
        x: images (B, C, H, W); noise has their dtype, device and per-image shape.
        seed: the method's ``seed`` parameter.
    """

    def __init__(self, x: torch.Tensor, seed: int) -> None:
        self._seeds = image_seeds(x, seed)
        self._shape = tuple(x.shape[1:])
        self._dtype = x.dtype
        self._device = x.device
        self._gen = torch.Generator(device=x.device)

    def _reseed(self, image: int, sample: int) -> torch.Generator:
        key = self._seeds[image].to_bytes(8, "little") + sample.to_bytes(8, "little")
        self._gen.manual_seed(_hash_to_seed(key))
        return self._gen

    def _draw(self, fn: Any, shape: tuple[int, ...], image: int, sample: int) -> torch.Tensor:
        gen = self._reseed(image, sample)
        return fn(shape, generator=gen, dtype=self._dtype, device=self._device)

    def normal(self, image: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """Standard normal noise for each (image, sample) pair.

        Args:
            image: (k,) int64 image indices into the batch.
            sample: (k,) int64 sample indices (pairs may repeat; repeated pairs get equal noise).

        Returns:
            (k, C, H, W) noise.
        """
        pairs = torch.stack([image, sample], dim=1).cpu()
        unique, inverse = torch.unique(pairs, dim=0, return_inverse=True)
        pairs_list = unique.tolist()
        draws = torch.stack([self._draw(torch.randn, self._shape, b, s) for b, s in pairs_list])
        return draws[inverse.to(self._device)]

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        """U[0, 1) draws of ``shape`` per image (sample index 0): returns (B, *shape)."""
        return torch.stack([self._draw(torch.rand, shape, b, 0) for b in range(len(self._seeds))])
