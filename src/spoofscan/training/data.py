"""Training data: records to fixed-length waveform crops, with a resumable, shardable sampler.

Randomness is derived from ``(seed, epoch, index)`` only, never from worker state, so an
epoch yields the same crops (and the same augmentation) whatever the number of DataLoader
workers or processes, and a resumed run sees exactly the data an uninterrupted one would.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from ..audio import SAMPLE_RATE, load_audio
from ..augment import AugmentConfig, Augmenter
from ..datasets import Record
from ..frontend.config import FeatureConfig
from ..frontend.windows import repeat_pad
from ..labels import BONAFIDE, LABEL_INDEX, SPOOF
from ..seeding import AUGMENT_SALT, SAMPLER_SALT, item_rng

PARTIAL_MIN_SHARE = 0.1  # a crop of a partly fake clip is fake when fake passages cover this share of it


class CropDataset(torch.utils.data.Dataset):
    """Indexed by ``(epoch, i)``; returns ``(wave, target)``.

    wave : float32 tensor (window_samples,) at 16 kHz: a random crop of clip ``i`` (seeded by
        seed, epoch, i); clips shorter than one window are repeat-padded. When ``augment`` has
        waveform effects on, the crop then goes through :class:`spoofscan.augment.Augmenter`
        with the Generator :func:`spoofscan.seeding.item_rng` of (seed, epoch, i,
        ``AUGMENT_SALT``) (in the DataLoader worker).
    target : float32 scalar, 1.0 for bona fide, 0.0 for spoof (:data:`LABEL_INDEX`); for a partly
        fake clip (a record with ``segments``), what the crop holds (:func:`crop_label`).
    """

    def __init__(self, records: Sequence[Record], features: FeatureConfig, *, seed: int = 0,
                 augment: AugmentConfig | None = None):
        self.records = list(records)
        self.window = features.window_samples
        self.seed = seed
        self.augmenter = None
        if augment is not None and augment.waveform_active:
            self.augmenter = Augmenter(augment).prepare()  # rooms and codec delays made here, before workers fork

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        rec = self.records[i]
        x = load_audio(rec.path)
        offset = 0
        if len(x) > self.window:
            offset = int(item_rng(self.seed, epoch, i).integers(0, len(x) - self.window + 1))
            x = x[offset:offset + self.window]
        else:
            x = repeat_pad(x, self.window)
        if self.augmenter is not None:
            x = self.augmenter(x, item_rng(self.seed, epoch, i, AUGMENT_SALT))
        label = crop_label(rec, offset / SAMPLE_RATE, self.window / SAMPLE_RATE)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.tensor(float(LABEL_INDEX[label]))


def crop_label(record: Record, start: float, seconds: float) -> str:
    """The label of a crop of ``seconds`` from ``start`` (seconds): the record's, except for a partly
    fake clip, where a crop is ``spoof`` when its fake passages cover at least
    :data:`PARTIAL_MIN_SHARE` of it and ``bonafide`` otherwise (it is real speech)."""
    if not record.segments:
        return record.label
    covered = sum(max(0.0, min(b, start + seconds) - max(a, start)) for a, b in record.segments)
    return SPOOF if covered >= PARTIAL_MIN_SHARE * seconds else BONAFIDE


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, index)`` keys for one epoch of one process.

    ``balanced=False``: a permutation of all items. ``balanced=True``: the same number of
    draws, with replacement, each class drawn equally often in expectation. The order is a
    function of ``(seed, epoch)``; with several processes each takes every ``world``-th key
    of the common order (padded to a multiple of ``world``). ``skip`` drops the first keys of
    this process's share, to resume inside an epoch.
    """

    def __init__(self, labels: Sequence[str], *, seed: int, balanced: bool = False, rank: int = 0, world: int = 1):
        self.labels = np.asarray([lab == BONAFIDE for lab in labels])
        self.seed, self.balanced, self.rank, self.world = seed, balanced, rank, world
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def order(self) -> np.ndarray:
        """The indices this process visits this epoch, (len(self),) int64."""
        n = len(self.labels)
        rng = item_rng(self.seed, self.epoch, SAMPLER_SALT)
        if self.balanced:
            n_bona = max(int(self.labels.sum()), 1)
            n_spoof = max(n - int(self.labels.sum()), 1)
            p = np.where(self.labels, 0.5 / n_bona, 0.5 / n_spoof)
            idx = rng.choice(n, size=n, replace=True, p=p / p.sum())
        else:
            idx = rng.permutation(n)
        total = -(-n // self.world) * self.world
        idx = np.concatenate([idx, idx[: total - n]])
        return idx[self.rank::self.world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in self.order()[self.skip:]:
            yield self.epoch, int(i)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.world) - self.skip
