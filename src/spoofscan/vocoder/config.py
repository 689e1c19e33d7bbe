"""A vocoder's architecture and its mel front end: :class:`VocoderConfig`, stored in every vocoder
checkpoint card (torch-free, so that corpus settings can be checked without torch)."""

from __future__ import annotations

from dataclasses import dataclass

from ..audio import SAMPLE_RATE
from ..config import Config
from ..errors import SpoofscanError, choice_error
from ..frontend.config import FeatureConfig

ARCHS = ("istft", "upsample")
LOG_FLOOR = 1e-5  # power floor of the vocoder's log-mel


@dataclass(frozen=True)
class VocoderConfig(Config):
    """A vocoder's architecture and its mel front end (stored in the checkpoint card).

    arch : ``istft`` (Vocos-like) or ``upsample`` (HiFi-GAN-like)
    sample_rate : Hz
    n_mels, n_fft, hop_length : the log-mel input (Hann window of ``n_fft``); the istft head
        uses the same ``n_fft`` and ``hop_length``
    channels : backbone width (istft) or the first stage's channels, halved per stage (upsample)
    blocks : ConvNeXt blocks (istft)
    upsample_rates : per-stage upsampling factors (upsample); their product must be ``hop_length``
    kernels, dilations : the residual blocks of each upsampling stage (upsample)
    """

    arch: str = "istft"
    sample_rate: int = SAMPLE_RATE
    n_mels: int = 80
    n_fft: int = 640
    hop_length: int = 160
    channels: int = 128
    blocks: int = 4
    upsample_rates: tuple = (8, 8, 4)
    kernels: tuple = (3, 7)
    dilations: tuple = (1, 3)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """The three lists of whole numbers as tuples of ints (a card stores them as JSON lists)."""
        return {k: tuple(int(v) for v in d[k]) if k in ("upsample_rates", "kernels", "dilations") else d[k]
                for k in d}

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise choice_error("vocoder architecture", self.arch, ARCHS)
        for name in ("upsample_rates", "kernels", "dilations"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise SpoofscanError(f"vocoder {name} must be a tuple of whole numbers, got {value!r} "
                                     "(VocoderConfig.from_dict takes lists)")
        if self.arch == "upsample":
            product = 1
            for r in self.upsample_rates:
                product *= r
            if product != self.hop_length:
                raise SpoofscanError(f"upsample_rates {self.upsample_rates} multiply to {product}, "
                                     f"not hop_length {self.hop_length}")
            if self.channels >> len(self.upsample_rates) < 1:
                raise SpoofscanError(f"channels {self.channels} cannot be halved {len(self.upsample_rates)} times")
        self.features()  # validates the mel settings

    def features(self) -> FeatureConfig:
        """The log-mel settings of the vocoder's input."""
        return FeatureConfig(sample_rate=self.sample_rate, n_fft=self.n_fft, win_length=self.n_fft,
                             hop_length=self.hop_length, n_mels=self.n_mels, fmin=0.0, fmax=self.sample_rate / 2,
                             log_floor=LOG_FLOOR, normalize="none")
