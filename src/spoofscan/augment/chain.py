"""The augmentation chain of training: :class:`AugmentConfig` (what, how often, how much) and
:class:`Augmenter` (applies it to one waveform with a given numpy Generator).

Waveform effects (the classes of :mod:`.effects`, one field of the config each) run in this
fixed order, each with its own probability, the way a voice reaches a recording: room
(``reverb``), background (``noise``), device and channel (``rawboost``, ``eq``, ``gain``,
``clip``), transmission (``narrowband``, ``codec``). ``specaugment`` acts on the features in
the training step, not here.

In a training config (YAML)::

    augment:
      codec: {p: 0.3, choices: [mp3:32, aac:64, opus:12, mulaw, gsm]}
      noise: {p: 0.3, snr_db: [5, 30], kinds: [white, pink, babble]}
      reverb: {p: 0.2, rooms: [small, medium, large]}
      rawboost: {p: 0.3, algo: 5}
      specaugment: {p: 0.5}

or a preset name (``augment: channel``; :data:`AUGMENT_PRESETS`). Every field left out keeps
its default; every effect is off (p = 0) by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..config import Config
from ..errors import SpoofscanError, choice_error
from .effects import (EFFECT_ORDER, EFFECTS, ClipAugment, CodecAugment, EqAugment, GainAugment, NarrowbandAugment,
                      NoiseAugment, RawBoostAugment, ReverbAugment, prepare_effects, restore_effects)
from .specaugment import SpecAugmentConfig

SETTINGS = {**EFFECTS, "specaugment": SpecAugmentConfig}  # AugmentConfig field -> its settings class


@dataclass(frozen=True)
class AugmentConfig(Config):
    """On-the-fly augmentation of training data; stored in the TrainConfig and the checkpoint card.

    One field per effect, each with a probability ``p`` (0: off, the default) and its ranges:
    ``reverb``, ``noise``, ``rawboost``, ``eq``, ``gain``, ``clip``, ``narrowband``, ``codec``
    (waveform effects, applied in that order by :class:`Augmenter` in the DataLoader workers)
    and ``specaugment`` (feature masks, applied in the training step). A field may be given as
    a mapping of its settings; unknown keys are errors.
    """

    reverb: ReverbAugment = field(default_factory=ReverbAugment)
    noise: NoiseAugment = field(default_factory=NoiseAugment)
    rawboost: RawBoostAugment = field(default_factory=RawBoostAugment)
    eq: EqAugment = field(default_factory=EqAugment)
    gain: GainAugment = field(default_factory=GainAugment)
    clip: ClipAugment = field(default_factory=ClipAugment)
    narrowband: NarrowbandAugment = field(default_factory=NarrowbandAugment)
    codec: CodecAugment = field(default_factory=CodecAugment)
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        return {name: SETTINGS[name].from_dict(value) if isinstance(value, dict) else value
                for name, value in d.items()}

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, SETTINGS[f.name]):
                raise SpoofscanError(f"augment {f.name} must be a mapping of its settings, got {value!r}")

    @property
    def effects(self) -> tuple:
        """The waveform effects' settings, in the order of the chain (:data:`EFFECT_ORDER`)."""
        return tuple(getattr(self, name) for name in EFFECT_ORDER)

    @property
    def waveform_active(self) -> bool:
        """Whether any waveform effect can fire (some p > 0)."""
        return any(effect.p > 0 for effect in self.effects)

    @property
    def active(self) -> bool:
        """Whether any augmentation is on, SpecAugment included."""
        return self.waveform_active or self.specaugment.p > 0


def _preset(**settings) -> AugmentConfig:
    return AugmentConfig.from_dict(settings)


# ``standard`` is the chain measured in docs/GENERALIZATION.md and trained by the quickstart
# (experiments/configs/small-augment.yaml); it leaves GSM, mu-law, babble and large rooms out so
# that the robustness report also measures channels never seen in training. The others are
# untuned starting points.
AUGMENT_PRESETS = {
    "off": AugmentConfig(),
    "standard": _preset(reverb={"p": 0.2, "rooms": ["small", "medium"]},
                        noise={"p": 0.3, "snr_db": [5, 30], "kinds": ["white", "pink", "brown"]},
                        rawboost={"p": 0.3, "algo": 5}, eq={"p": 0.3}, gain={"p": 0.3}, clip={"p": 0.05},
                        narrowband={"p": 0.1},
                        codec={"p": 0.4, "choices": ["mp3:16", "mp3:64", "aac:16", "aac:32", "opus:8", "opus:24",
                                                     "vorbis:0.2", "g722", "alaw", "amr_nb:7.4"]},
                        specaugment={"p": 0.5}),
    "rawboost": _preset(rawboost={"p": 1.0, "algo": 5}),  # as the RawBoost authors trained for ASVspoof LA
    "channel": _preset(reverb={"p": 0.2}, noise={"p": 0.3}, eq={"p": 0.3}, gain={"p": 0.3}, clip={"p": 0.05},
                       narrowband={"p": 0.1}, codec={"p": 0.4}, specaugment={"p": 0.5}),
    "full": _preset(reverb={"p": 0.2}, noise={"p": 0.3}, rawboost={"p": 0.3, "algo": 5}, eq={"p": 0.3},
                    gain={"p": 0.3}, clip={"p": 0.05}, narrowband={"p": 0.1}, codec={"p": 0.4},
                    specaugment={"p": 0.5}),
}


def augment_config(value) -> AugmentConfig:
    """An AugmentConfig from a config, a mapping, a preset name (:data:`AUGMENT_PRESETS`) or None (off)."""
    if value is None:
        return AugmentConfig()
    if isinstance(value, AugmentConfig):
        return value
    if isinstance(value, str):
        if value not in AUGMENT_PRESETS:
            raise choice_error("augment preset", value, AUGMENT_PRESETS)
        return AUGMENT_PRESETS[value]
    if isinstance(value, dict):
        return AugmentConfig.from_dict(value)
    raise SpoofscanError(f"augment must be a preset name ({', '.join(AUGMENT_PRESETS)}) or a mapping, got {value!r}")


class Augmenter:
    """Applies the waveform effects of an :class:`AugmentConfig` to one waveform at a time.

    ``augmenter(wave, rng)`` takes a float waveform (samples,) at 16 kHz in [-1, 1] and a
    numpy Generator, the only source of randomness (which effects fire, their settings and
    their noise), and returns a waveform of the same length and dtype within [-1, 1].

    Construction checks that what the config needs is here (codecs, pedalboard,
    pyroomacoustics, the folders) and raises SpoofscanError naming what is missing.
    :meth:`prepare` simulates the rooms' impulse responses and measures the codec delays; call
    it once before DataLoader workers start (the training data set does), so they do not each
    do it again (forked workers inherit it; spawned ones get it with the pickled augmenter).
    """

    def __init__(self, config: AugmentConfig):
        self.config = config = augment_config(config)
        self.effects = tuple(effect for effect in config.effects if effect.p > 0)
        for effect in self.effects:
            effect.check()
        self._setup: dict = {}

    def prepare(self) -> "Augmenter":
        """Simulate every room impulse response and measure every codec delay the config can use
        (a few seconds at most; what this process has already made is reused)."""
        self._setup = prepare_effects(self.effects)
        return self

    def __setstate__(self, state):  # a worker started by "spawn": bring the RIRs and delays along
        self.__dict__.update(state)
        restore_effects(self._setup)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The chain applied to ``wave`` (samples,), randomness from ``rng`` only; same length and dtype."""
        for effect in self.effects:
            if rng.random() < effect.p:
                wave = effect(wave, rng)
        return wave

    def apply(self, name: str, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One effect of the chain (``name`` in :data:`EFFECT_ORDER`), its settings drawn from ``rng``."""
        if name not in EFFECT_ORDER:
            raise choice_error("augment effect", name, EFFECT_ORDER)
        return getattr(self.config, name)(wave, rng)
