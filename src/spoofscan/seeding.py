"""Where every random number comes from: seeds derived from stable keys, never from the clock.

Two kinds of key, both giving the same numbers on every machine, run and process count:

- :func:`stable_seed` hashes any strings and numbers (a clip's key, a condition's name) into a
  63-bit seed: the corpus builder, the robustness report and the vocoder jobs draw from it;
- :func:`item_rng` is numpy's ``default_rng`` over a list of whole numbers, (seed, epoch, item)
  in training, with a salt per stream so that two streams with the same keys stay apart.

A resumed run, a rebuild and a second process therefore draw exactly what the first did.
"""

from __future__ import annotations

import hashlib

import numpy as np

# Salts that keep random streams with the same (seed, epoch, item) keys apart
AUGMENT_SALT = 40_503  # the waveform augmentation of a training crop (the crop itself has none)
SAMPLER_SALT = 7_919  # the order of an epoch
SPECAUGMENT_SALT = 77_003  # SpecAugment's masks of a training step


def stable_seed(*parts) -> int:
    """A 63-bit seed from any strings/ints (same inputs, same seed, on every machine and run)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def item_rng(*keys: int) -> np.random.Generator:
    """numpy's Generator seeded by a sequence of whole numbers (``default_rng([k1, k2, ...])``)."""
    return np.random.default_rng(list(keys))
