"""The augmentation chain of training: :class:`AugmentConfig` (what, how often, how much) and
:class:`Augmenter` (applies it to one waveform with a given numpy Generator).

Waveform effects run in this fixed order, each with its own probability, the way a voice
reaches a recording: room (``reverb``), background (``noise``), device and channel
(``rawboost``, ``eq``, ``gain``, ``clip``), transmission (``narrowband``, ``codec``).
``specaugment`` acts on the features in the training step, not here.

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
from . import channel, codecs, noise, rawboost, reverb
from .base import AudioFolder
from .rawboost import RawBoostParams

DEFAULT_CODEC_CHOICES = ("mp3:16", "mp3:32", "mp3:64", "mp3:128", "aac:16", "aac:32", "aac:64", "opus:8", "opus:12",
                         "opus:24", "vorbis:0.2", "vorbis:0.6", "g722", "mulaw", "alaw", "gsm", "amr_nb:4.75",
                         "amr_nb:7.4", "amr_nb:12.2")
EFFECT_ORDER = ("reverb", "noise", "rawboost", "eq", "gain", "clip", "narrowband", "codec")


def _probability(owner: str, p) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise SpoofscanError(f"augment {owner}.p must be a probability in [0, 1], got {p}")
    return p


def _range(owner: str, name: str, value, low: float = -np.inf, high: float = np.inf) -> tuple:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SpoofscanError(f"augment {owner}.{name} must be a (low, high) pair, got {value!r}") from None
    if not low <= lo <= hi <= high:
        raise SpoofscanError(f"augment {owner}.{name} must be a range low <= high within [{low:g}, {high:g}], "
                             f"got ({lo:g}, {hi:g})")
    return lo, hi


def _names(value) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)


class _Effect(Config):
    """Shared checks of the per-effect settings: ``p`` is a probability, ranges are (low, high)."""

    _ranges: dict = {}  # field -> (lowest, highest) allowed

    def __post_init__(self):
        object.__setattr__(self, "p", _probability(self._key, self.p))
        for name, (low, high) in self._ranges.items():
            object.__setattr__(self, name, _range(self._key, name, getattr(self, name), low, high))


@dataclass(frozen=True)
class ReverbAugment(_Effect):
    """Reverberation: a simulated room of a kind drawn from ``rooms`` (``small``, ``medium``,
    ``large``; :data:`spoofscan.augment.reverb.ROOMS`), or, for the kind ``folder``, a file of
    ``folder`` (the user's measured RIRs)."""

    _key = "reverb"
    p: float = 0.0
    rooms: tuple = ("small", "medium", "large")
    folder: str = ""

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "rooms", _names(self.rooms))
        for room in self.rooms:
            if room not in (*reverb.ROOMS, "folder"):
                raise choice_error("augment reverb room", room, (*reverb.ROOMS, "folder"))
        if not self.rooms:
            raise SpoofscanError("augment reverb.rooms is empty")
        _check_folder("reverb", "rooms", self.rooms, self.folder)


@dataclass(frozen=True)
class NoiseAugment(_Effect):
    """Additive noise of a kind drawn from ``kinds`` at an SNR drawn uniformly in ``snr_db`` (dB).

    ``folder``: the user's noise files (MUSAN ``noise/``...), used for the kind ``folder``;
    ``speech_folder``: speech recordings that babble is made of (else generated talkers).
    """

    _key = "noise"
    _ranges = {"snr_db": (-20.0, 100.0)}
    p: float = 0.0
    snr_db: tuple = (5.0, 30.0)
    kinds: tuple = ("white", "pink", "brown", "babble")
    folder: str = ""
    speech_folder: str = ""

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "kinds", _names(self.kinds))
        for kind in self.kinds:
            if kind not in noise.NOISE_KINDS:
                raise choice_error("augment noise kind", kind, noise.NOISE_KINDS)
        if not self.kinds:
            raise SpoofscanError("augment noise.kinds is empty")
        _check_folder("noise", "kinds", self.kinds, self.folder)


@dataclass(frozen=True)
class RawBoostAugment(_Effect):
    """RawBoost algorithm ``algo`` (1-8, :data:`spoofscan.augment.rawboost.RAWBOOST_ALGOS`; 5 =
    LnL then ISD, the authors' ASVspoof 2021 LA choice; 3 = SSI, their DF choice) with
    ``params`` (the reference code's defaults)."""

    _key = "rawboost"
    p: float = 0.0
    algo: int = 5
    params: RawBoostParams = field(default_factory=RawBoostParams)

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.params, dict):
            object.__setattr__(self, "params", RawBoostParams.from_dict(self.params))
        if self.algo not in rawboost.RAWBOOST_ALGOS:
            raise choice_error("augment rawboost.algo", self.algo, rawboost.RAWBOOST_ALGOS)


@dataclass(frozen=True)
class EqAugment(_Effect):
    """Random equaliser: ``bands`` (low, high) peak or shelf filters, centre frequency log-uniform
    in ``freq_hz``, gain uniform in ``gain_db``, q log-uniform in ``q`` (pedalboard biquads)."""

    _key = "eq"
    _ranges = {"bands": (0, 16), "freq_hz": (1.0, 7999.0), "gain_db": (-40.0, 40.0), "q": (0.05, 50.0)}
    p: float = 0.0
    bands: tuple = (1, 3)
    freq_hz: tuple = (100.0, 7000.0)
    gain_db: tuple = (-9.0, 9.0)
    q: tuple = (0.5, 4.0)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "bands", tuple(int(b) for b in self.bands))


@dataclass(frozen=True)
class GainAugment(_Effect):
    """A gain drawn uniformly in ``db`` (dB); samples pushed past full scale are clipped."""

    _key = "gain"
    _ranges = {"db": (-60.0, 40.0)}
    p: float = 0.0
    db: tuple = (-20.0, 0.0)


@dataclass(frozen=True)
class ClipAugment(_Effect):
    """Hard clipping of the loudest ``percent`` % of the samples, drawn uniformly in the range."""

    _key = "clip"
    _ranges = {"percent": (0.0, 100.0)}
    p: float = 0.0
    percent: tuple = (0.1, 5.0)


@dataclass(frozen=True)
class NarrowbandAugment(_Effect):
    """Band-limiting through ``rate`` Hz (soxr down and up; 8000: telephone band, 4 kHz wide)."""

    _key = "narrowband"
    p: float = 0.0
    rate: int = channel.NARROWBAND_RATE

    def __post_init__(self):
        super().__post_init__()
        if not 0 < int(self.rate) < channel.SAMPLE_RATE:
            raise SpoofscanError(f"augment narrowband.rate must be in (0, {channel.SAMPLE_RATE}) Hz, got {self.rate}")


@dataclass(frozen=True)
class CodecAugment(_Effect):
    """A codec round trip drawn uniformly from ``choices``: ``NAME[:SETTING]`` strings (kbit/s, or
    quality for vorbis), see :func:`spoofscan.augment.codecs.parse_codec`. List a condition twice
    to draw it twice as often."""

    _key = "codec"
    p: float = 0.0
    choices: tuple = DEFAULT_CODEC_CHOICES

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "choices", _names(self.choices))
        if not self.choices:
            raise SpoofscanError("augment codec.choices is empty")
        for choice in self.choices:
            codecs.parse_codec(choice)


@dataclass(frozen=True)
class SpecAugmentConfig(_Effect):
    """SpecAugment on the features in the training step: ``freq_masks`` and ``time_masks`` masks
    per example, widths drawn in ``freq_width`` / ``time_width`` (fractions of the axis), each
    example masked with probability ``p``."""

    _key = "specaugment"
    _ranges = {"freq_width": (0.0, 1.0), "time_width": (0.0, 1.0)}
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
        """:func:`spoofscan.augment.specaugment.spec_augment` with these settings (see there)."""
        from .specaugment import spec_augment

        return spec_augment(feats, generator, freq_masks=int(self.freq_masks), freq_width=self.freq_width,
                            time_masks=int(self.time_masks), time_width=self.time_width, p=self.p)


def _check_folder(owner: str, listing: str, names: tuple, folder: str) -> None:
    if "folder" in names and not folder:
        raise SpoofscanError(f"augment {owner}.{listing} lists 'folder' but {owner}.folder is not set")
    if folder and "folder" not in names:
        raise SpoofscanError(f"augment {owner}.folder is set but 'folder' is not among {owner}.{listing} "
                             f"({', '.join(names)}): add it to use the files")


EFFECTS = {"reverb": ReverbAugment, "noise": NoiseAugment, "rawboost": RawBoostAugment, "eq": EqAugment,
           "gain": GainAugment, "clip": ClipAugment, "narrowband": NarrowbandAugment, "codec": CodecAugment,
           "specaugment": SpecAugmentConfig}


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

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                object.__setattr__(self, f.name, EFFECTS[f.name].from_dict(value))
            elif not isinstance(value, EFFECTS[f.name]):
                raise SpoofscanError(f"augment {f.name} must be a mapping of its settings, got {value!r}")

    @property
    def waveform_active(self) -> bool:
        """Whether any waveform effect can fire (some p > 0)."""
        return any(getattr(self, name).p > 0 for name in EFFECT_ORDER)

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
    :meth:`prepare` simulates the rooms' impulse responses; call it once before DataLoader
    workers start (the training data set does), so they do not each simulate them again.
    """

    def __init__(self, config: AugmentConfig):
        self.config = config = augment_config(config)
        self.codecs = [codecs.parse_codec(c) for c in config.codec.choices] if config.codec.p > 0 else []
        for name in dict.fromkeys(name for name, _ in self.codecs):
            codecs.require_codec(name)
        if config.eq.p > 0:
            _require("pedalboard", "the eq effect")
        self.rooms = [r for r in config.reverb.rooms if r != "folder"] if config.reverb.p > 0 else []
        if self.rooms:
            _require("pyroomacoustics", "simulated rooms (reverb)")
        if config.reverb.p > 0 or config.rawboost.p > 0:
            _require("scipy", "reverb and rawboost")
        self.rirs = AudioFolder(config.reverb.folder, "RIR") if config.reverb.p > 0 and config.reverb.folder else None
        on = config.noise.p > 0
        self.noise_files = AudioFolder(config.noise.folder, "noise") if on and config.noise.folder else None
        self.speech = AudioFolder(config.noise.speech_folder, "babble speech") \
            if on and config.noise.speech_folder else None
        self._bank: dict = {}
        self._delays: dict = {}

    def prepare(self) -> "Augmenter":
        """Simulate every room impulse response and measure every codec delay the config can use
        (a few seconds at most; what this process has already made is reused)."""
        if self.rooms:
            self._bank = reverb.rir_bank(self.rooms)
        if self.codecs:
            self._delays = codecs.codec_delays(self.codecs)
        return self

    def __setstate__(self, state):  # a worker started by "spawn": bring the RIRs and delays along
        self.__dict__.update(state)
        reverb.restore_rir_bank(self._bank)
        codecs.restore_codec_delays(self._delays)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The chain applied to ``wave`` (samples,), randomness from ``rng`` only; same length and dtype."""
        for name in EFFECT_ORDER:
            p = getattr(self.config, name).p
            if p > 0 and rng.random() < p:
                wave = self.apply(name, wave, rng)
        return wave

    def apply(self, name: str, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One effect of the chain (``name`` in :data:`EFFECT_ORDER`), its settings drawn from ``rng``."""
        cfg = self.config
        if name == "reverb":
            room = cfg.reverb.rooms[int(rng.integers(len(cfg.reverb.rooms)))]
            return reverb.reverberate(wave, room, rng, self.rirs)
        if name == "noise":
            kind = cfg.noise.kinds[int(rng.integers(len(cfg.noise.kinds)))]
            folder = self.noise_files if kind == "folder" else self.speech
            return noise.add_noise(wave, rng.uniform(*cfg.noise.snr_db), kind, rng, folder)
        if name == "rawboost":
            return rawboost.apply_rawboost(wave, cfg.rawboost.algo, rng, cfg.rawboost.params)
        if name == "eq":
            e = cfg.eq
            return channel.equalize(wave, channel.random_eq_bands(rng, e.bands, e.freq_hz, e.gain_db, e.q))
        if name == "gain":
            return channel.gain(wave, rng.uniform(*cfg.gain.db))
        if name == "clip":
            return channel.clip(wave, rng.uniform(*cfg.clip.percent))
        if name == "narrowband":
            return channel.band_limit(wave, cfg.narrowband.rate)
        if name == "codec":
            if not self.codecs:
                self.codecs = [codecs.parse_codec(c) for c in cfg.codec.choices]
            codec, setting = self.codecs[int(rng.integers(len(self.codecs)))]
            return codecs.codec_roundtrip(wave, codec, setting)
        raise choice_error("augment effect", name, EFFECT_ORDER)


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise SpoofscanError(f"{what} needs {module!r}, which is not installed: pip install 'spoofscan[augment]'")
