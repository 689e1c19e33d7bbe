"""SpecAugment time and frequency masks on a batch of features (Park et al., Interspeech 2019).

Applied in the training step right after the front end, on the batch as a whole (no Python
loop over examples), with randomness only from an explicit ``torch.Generator``. The masks
are drawn on the CPU and moved to the features' device, so a seed gives the same masks on
every device. Masked cells take the example's mean feature value (0 after per-band mean
normalisation), not 0 in log units.

Time warping, the third part of the original SpecAugment, is left out (it helped least in
the paper and costs the most). :class:`SpecAugmentConfig` holds the settings (the
``specaugment`` field of :class:`spoofscan.augment.AugmentConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpoofscanError
from ..seeding import SPECAUGMENT_SALT, item_rng
from .effects import Settings


def step_generator(seed: int, epoch: int, step: int, rank: int = 0):
    """A CPU ``torch.Generator`` seeded from (seed, epoch, step, rank) only: the masks of a training
    step are the same in a resumed run, and different on each DistributedDataParallel process."""
    import torch

    key = item_rng(seed, epoch, step, rank, SPECAUGMENT_SALT).integers(2 ** 63)
    return torch.Generator().manual_seed(int(key))


def _band_masks(batch: int, size: int, count: int, width: tuple, generator):
    """(batch, size) bool: ``count`` masks per example, each of width drawn in ``width`` (fractions of size)."""
    import torch

    lo, hi = int(width[0] * size), int(width[1] * size)
    if count == 0 or hi == 0:
        return torch.zeros(batch, size, dtype=torch.bool)
    widths = torch.randint(lo, hi + 1, (batch, count), generator=generator)
    starts = (torch.rand(batch, count, generator=generator) * (size - widths + 1)).long()
    index = torch.arange(size)
    inside = (index >= starts[..., None]) & (index < (starts + widths)[..., None])  # (batch, count, size)
    return inside.any(dim=1)


def spec_augment(feats, generator, *, freq_masks: int = 2, freq_width: tuple = (0.0, 0.15),
                 time_masks: int = 2, time_width: tuple = (0.0, 0.1), p: float = 1.0):
    """Mask random bands and frames of each example of a batch.

    Parameters
    ----------
    feats : tensor (batch, bands, frames) or (batch, channels, bands, frames), any device
    generator : a CPU ``torch.Generator``, the only source of randomness
    freq_masks, time_masks : masks per example along the band and frame axes
    freq_width, time_width : (low, high) width of one mask as a fraction of the axis length
        (``(0.0, 0.15)`` of 128 bands: 0 to 19 bands)
    p : probability that an example is masked at all

    Returns
    -------
    tensor of the same shape, dtype and device (a new tensor; ``feats`` is unchanged)
    """
    import torch

    if feats.dim() not in (3, 4):
        raise SpoofscanError(f"SpecAugment expects (batch, [channels,] bands, frames) features, got shape "
                             f"{tuple(feats.shape)}")
    for name, (lo, hi) in (("freq_width", freq_width), ("time_width", time_width)):
        if not 0 <= lo <= hi <= 1:
            raise SpoofscanError(f"SpecAugment {name} must be a range within [0, 1], got ({lo}, {hi})")
    batch, bands, frames = feats.shape[0], feats.shape[-2], feats.shape[-1]
    chosen = torch.rand(batch, generator=generator) < p
    freq = _band_masks(batch, bands, freq_masks, freq_width, generator) & chosen[:, None]
    time = _band_masks(batch, frames, time_masks, time_width, generator) & chosen[:, None]
    mask = freq[:, :, None] | time[:, None, :]  # (batch, bands, frames)
    if feats.dim() == 4:
        mask = mask[:, None]
    fill = feats.mean(dim=(-2, -1), keepdim=True)
    return torch.where(mask.to(feats.device), fill, feats)


@dataclass(frozen=True)
class SpecAugmentConfig(Settings):
    """SpecAugment on the features in the training step: ``freq_masks`` and ``time_masks`` masks
    per example, widths drawn in ``freq_width`` / ``time_width`` (fractions of the axis), each
    example masked with probability ``p``."""

    key = "specaugment"
    ranges = {"freq_width": (0.0, 1.0), "time_width": (0.0, 1.0)}
    p: float = 0.0
    freq_masks: int = 2
    freq_width: tuple = (0.0, 0.15)
    time_masks: int = 2
    time_width: tuple = (0.0, 0.1)

    def __post_init__(self):
        super().__post_init__()
        for name in ("freq_masks", "time_masks"):
            if int(getattr(self, name)) < 0:
                raise SpoofscanError(f"augment specaugment.{name} must be >= 0, got {getattr(self, name)}")

    def apply(self, feats, generator):
        """:func:`spec_augment` with these settings (see there)."""
        return spec_augment(feats, generator, freq_masks=int(self.freq_masks), freq_width=self.freq_width,
                            time_masks=int(self.time_masks), time_width=self.time_width, p=self.p)
