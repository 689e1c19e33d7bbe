"""The effects of the augmentation chain, one class each: its settings and how it applies itself.

A waveform effect is a frozen config (:class:`Effect`: a probability ``p`` and its ranges, the
fields of ``augment:`` in a training config and of the checkpoint card) that is also callable:
``effect(wave, rng)`` draws its settings from ``rng`` (:meth:`Effect.draw`) and applies the plain
function of :mod:`.reverb`, :mod:`.noise`, :mod:`.rawboost`, :mod:`.channel` or :mod:`.codecs`
with them (:meth:`Effect.apply`). Defining a subclass registers it in :data:`EFFECTS` under its
``key`` (as lhotse's ``AudioTransform`` subclasses register themselves), in the order of this
file, which is the order of the chain: room (``reverb``), background (``noise``), device and
channel (``rawboost``, ``eq``, ``gain``, ``clip``), transmission (``narrowband``, ``codec``).

The training chain (:class:`spoofscan.augment.Augmenter`) fires each effect with its
probability; the robustness report's conditions are effects whose config leaves nothing to draw
(one codec, one noise kind at one SNR, one room kind), applied with :meth:`Effect.fixed_settings`.
:class:`spoofscan.augment.specaugment.SpecAugmentConfig` (feature masks in the training step)
shares the settings' checks (:class:`Settings`).

What a file or a caller writes (numbers, lists, one name for a list of names, a mapping of
RawBoost parameters) becomes field values in ``field_values`` (``from_dict``); the constructor
only checks.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..config import Config
from ..errors import SpoofscanError, choice_error
from . import channel, codecs, noise, rawboost, reverb
from .base import AudioFolder
from .rawboost import RawBoostParams

DEFAULT_CODEC_CHOICES = ("mp3:16", "mp3:32", "mp3:64", "mp3:128", "aac:16", "aac:32", "aac:64", "opus:8", "opus:12",
                         "opus:24", "vorbis:0.2", "vorbis:0.6", "g722", "mulaw", "alaw", "gsm", "amr_nb:4.75",
                         "amr_nb:7.4", "amr_nb:12.2")
EFFECTS: dict = {}  # key -> Effect subclass, in the order of the chain (filled as the classes below are defined)


class Settings(Config):
    """Shared conversions and checks of an effect's settings: ``p`` is a probability, the fields
    of ``ranges`` are ``(low, high)`` pairs within limits, those of ``names`` non-empty tuples of names."""

    key: ClassVar[str] = ""  # the effect's name in AugmentConfig and in messages
    ranges: ClassVar[dict] = {}  # field -> (lowest, highest) allowed
    names: ClassVar[tuple] = ()  # fields that list names (a single string is a list of one)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        d = dict(d)
        if "p" in d:
            d["p"] = _float(cls.key, "p", d["p"])
        for name in cls.ranges:
            if name in d:
                d[name] = _pair(cls.key, name, d[name])
        for name in cls.names:
            if name in d and isinstance(d[name], str):
                d[name] = (d[name],)
        return d

    def __post_init__(self):
        if not _is_number(self.p) or not 0.0 <= self.p <= 1.0:
            raise SpoofscanError(f"augment {self.key}.p must be a probability in [0, 1], got {self.p!r}")
        for name, (low, high) in self.ranges.items():
            value = getattr(self, name)
            if not (isinstance(value, tuple) and len(value) == 2 and all(map(_is_number, value))):
                raise SpoofscanError(f"augment {self.key}.{name} must be a (low, high) tuple of numbers, got "
                                     f"{value!r} ({type(self).__name__}.from_dict converts lists)")
            lo, hi = value
            if not low <= lo <= hi <= high:
                raise SpoofscanError(f"augment {self.key}.{name} must be a range low <= high within "
                                     f"[{low:g}, {high:g}], got ({lo:g}, {hi:g})")
        for name in self.names:
            value = getattr(self, name)
            if not isinstance(value, tuple):
                raise SpoofscanError(f"augment {self.key}.{name} must be a tuple of names, got {value!r} "
                                     f"({type(self).__name__}.from_dict converts lists)")
            if not value:
                raise SpoofscanError(f"augment {self.key}.{name} is empty")


class Effect(Settings):
    """A waveform effect: its settings (``p`` and ranges) and ``effect(wave, rng)``.

    ``wave`` is float (samples,) at 16 kHz in [-1, 1]; the output has its length and dtype and
    stays within [-1, 1]. ``rng`` (a numpy Generator) is the only randomness: :meth:`draw`
    takes the settings from it, then :meth:`apply` may draw more (noise samples, which RIR).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "key" in cls.__dict__:
            EFFECTS[cls.key] = cls

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The effect on ``wave`` with settings drawn from ``rng``; same length and dtype."""
        return self.apply(wave, rng, *self.draw(rng))

    def draw(self, rng: np.random.Generator) -> tuple:
        """The settings of one application, drawn from ``rng`` (what :meth:`apply` takes after ``rng``)."""
        return ()

    def apply(self, wave: np.ndarray, rng: np.random.Generator, *settings) -> np.ndarray:
        """The effect on ``wave`` with the given settings; ``rng`` for what the function itself draws."""
        raise NotImplementedError

    def fixed_settings(self) -> tuple:
        """The settings :meth:`draw` gives when the config leaves nothing to draw (one choice, no range),
        drawing nothing; SpoofscanError when it has choices."""
        raise SpoofscanError(f"augment {self.key} has no fixed settings")

    def check(self) -> None:
        """Raise SpoofscanError naming what this effect needs and is missing here (codecs, packages, folders)."""

    def prepare(self) -> dict:
        """Do now the set-up this effect would do on first use (simulate rooms, measure codec delays);
        returns it for :meth:`restore` in another process."""
        return {}

    @staticmethod
    def restore(setup: dict) -> None:
        """Take the set-up :meth:`prepare` made in another process."""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _float(owner: str, name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SpoofscanError(f"augment {owner}.{name} must be a number, got {value!r}") from None


def _pair(owner: str, name: str, value) -> tuple:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SpoofscanError(f"augment {owner}.{name} must be a (low, high) pair, got {value!r}") from None
    return lo, hi


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise SpoofscanError(f"{what} needs {module!r}, which is not installed: pip install 'spoofscan[augment]'")


def _check_folder(owner: str, listing: str, names: tuple, folder: str) -> None:
    if "folder" in names and not folder:
        raise SpoofscanError(f"augment {owner}.{listing} lists 'folder' but {owner}.folder is not set")
    if folder and "folder" not in names:
        raise SpoofscanError(f"augment {owner}.folder is set but 'folder' is not among {owner}.{listing} "
                             f"({', '.join(names)}): add it to use the files")


def _pick(rng: np.random.Generator, choices: tuple):
    return choices[int(rng.integers(len(choices)))]


@dataclass(frozen=True)
class ReverbAugment(Effect):
    """Reverberation: a simulated room of a kind drawn from ``rooms`` (``small``, ``medium``,
    ``large``; :data:`spoofscan.augment.reverb.ROOMS`), or, for the kind ``folder``, a file of
    ``folder`` (the user's measured RIRs)."""

    key = "reverb"
    names = ("rooms",)
    p: float = 0.0
    rooms: tuple = ("small", "medium", "large")
    folder: str = ""

    def __post_init__(self):
        super().__post_init__()
        for room in self.rooms:
            if room not in (*reverb.ROOMS, "folder"):
                raise choice_error("augment reverb room", room, (*reverb.ROOMS, "folder"))
        _check_folder("reverb", "rooms", self.rooms, self.folder)

    @property
    def simulated_rooms(self) -> list:
        return [room for room in self.rooms if room != "folder"]

    @functools.cached_property
    def rirs(self) -> AudioFolder | None:
        """The files of ``folder`` (listed once, kept with the effect), or None."""
        return AudioFolder(self.folder, "RIR") if self.folder else None

    def check(self) -> None:
        if self.simulated_rooms:
            _require("pyroomacoustics", "simulated rooms (reverb)")
        _require("scipy", "reverb")
        _ = self.rirs  # listed now: a missing or empty folder is an error here, not in a DataLoader worker

    def prepare(self) -> dict:
        return reverb.rir_bank(self.simulated_rooms)

    restore = staticmethod(reverb.restore_rir_bank)

    def draw(self, rng):
        return (_pick(rng, self.rooms),)

    def apply(self, wave, rng, room):
        return reverb.reverberate(wave, room, rng, self.rirs)

    def fixed_settings(self) -> tuple:
        return self.rooms if len(self.rooms) == 1 else super().fixed_settings()


@dataclass(frozen=True)
class NoiseAugment(Effect):
    """Additive noise of a kind drawn from ``kinds`` at an SNR drawn uniformly in ``snr_db`` (dB).

    ``folder``: the user's noise files (MUSAN ``noise/``...), used for the kind ``folder``;
    ``speech_folder``: speech recordings that babble is made of (else generated talkers).
    """

    key = "noise"
    ranges = {"snr_db": (-20.0, 100.0)}
    names = ("kinds",)
    p: float = 0.0
    snr_db: tuple = (5.0, 30.0)
    kinds: tuple = ("white", "pink", "brown", "babble")
    folder: str = ""
    speech_folder: str = ""

    def __post_init__(self):
        super().__post_init__()
        for kind in self.kinds:
            if kind not in noise.NOISE_KINDS:
                raise choice_error("augment noise kind", kind, noise.NOISE_KINDS)
        _check_folder("noise", "kinds", self.kinds, self.folder)

    @functools.cached_property
    def noise_files(self) -> AudioFolder | None:
        """The files of ``folder`` (listed once, kept with the effect), or None."""
        return AudioFolder(self.folder, "noise") if self.folder else None

    @functools.cached_property
    def speech(self) -> AudioFolder | None:
        """The files of ``speech_folder`` (listed once, kept with the effect), or None."""
        return AudioFolder(self.speech_folder, "babble speech") if self.speech_folder else None

    def check(self) -> None:
        _ = self.noise_files, self.speech  # listed now: a missing or empty folder is an error here

    def draw(self, rng):
        kind = _pick(rng, self.kinds)
        return kind, rng.uniform(*self.snr_db)

    def apply(self, wave, rng, kind, snr_db):
        return noise.add_noise(wave, snr_db, kind, rng, self.noise_files if kind == "folder" else self.speech)

    def fixed_settings(self) -> tuple:
        (lo, hi), kinds = self.snr_db, self.kinds
        return (kinds[0], lo) if len(kinds) == 1 and lo == hi else super().fixed_settings()


@dataclass(frozen=True)
class RawBoostAugment(Effect):
    """RawBoost algorithm ``algo`` (1-8, :data:`spoofscan.augment.rawboost.RAWBOOST_ALGOS`; 5 =
    LnL then ISD, the authors' ASVspoof 2021 LA choice; 3 = SSI, their DF choice) with
    ``params`` (the reference code's defaults)."""

    key = "rawboost"
    p: float = 0.0
    algo: int = 5
    params: RawBoostParams = field(default_factory=RawBoostParams)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        d = super().field_values(d)
        if isinstance(d.get("params"), dict):
            d["params"] = RawBoostParams.from_dict(d["params"])
        return d

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.params, RawBoostParams):
            raise SpoofscanError(f"augment rawboost.params must be RawBoostParams, got {self.params!r} "
                                 f"(RawBoostAugment.from_dict converts a mapping)")
        if self.algo not in rawboost.RAWBOOST_ALGOS:
            raise choice_error("augment rawboost.algo", self.algo, rawboost.RAWBOOST_ALGOS)

    def check(self) -> None:
        _require("scipy", "rawboost")

    def apply(self, wave, rng):
        return rawboost.apply_rawboost(wave, self.algo, rng, self.params)


@dataclass(frozen=True)
class EqAugment(Effect):
    """Random equaliser: ``bands`` (low, high) peak or shelf filters, centre frequency log-uniform
    in ``freq_hz``, gain uniform in ``gain_db``, q log-uniform in ``q`` (pedalboard biquads)."""

    key = "eq"
    ranges = {"bands": (0, 16), "freq_hz": (1.0, 7999.0), "gain_db": (-40.0, 40.0), "q": (0.05, 50.0)}
    p: float = 0.0
    bands: tuple = (1, 3)
    freq_hz: tuple = (100.0, 7000.0)
    gain_db: tuple = (-9.0, 9.0)
    q: tuple = (0.5, 4.0)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        d = super().field_values(d)
        if "bands" in d:
            d["bands"] = tuple(int(b) for b in d["bands"])
        return d

    def check(self) -> None:
        _require("pedalboard", "the eq effect")

    def draw(self, rng):
        return (channel.random_eq_bands(rng, self.bands, self.freq_hz, self.gain_db, self.q),)

    def apply(self, wave, rng, bands):
        return channel.equalize(wave, bands)


class _UniformEffect(Effect):
    """An effect with one setting, drawn uniformly in the (low, high) range of the field ``drawn``
    and passed to ``function(wave, setting)``."""

    drawn: ClassVar[str] = ""
    function: ClassVar = None

    def draw(self, rng):
        return (rng.uniform(*getattr(self, self.drawn)),)

    def apply(self, wave, rng, setting):
        return self.function(wave, setting)


@dataclass(frozen=True)
class GainAugment(_UniformEffect):
    """A gain drawn uniformly in ``db`` (dB); samples pushed past full scale are clipped."""

    key = "gain"
    ranges = {"db": (-60.0, 40.0)}
    drawn = "db"
    function = staticmethod(channel.gain)
    p: float = 0.0
    db: tuple = (-20.0, 0.0)


@dataclass(frozen=True)
class ClipAugment(_UniformEffect):
    """Hard clipping of the loudest ``percent`` % of the samples, drawn uniformly in the range."""

    key = "clip"
    ranges = {"percent": (0.0, 100.0)}
    drawn = "percent"
    function = staticmethod(channel.clip)
    p: float = 0.0
    percent: tuple = (0.1, 5.0)


@dataclass(frozen=True)
class NarrowbandAugment(Effect):
    """Band-limiting through ``rate`` Hz (soxr down and up; 8000: telephone band, 4 kHz wide)."""

    key = "narrowband"
    p: float = 0.0
    rate: int = channel.NARROWBAND_RATE

    def __post_init__(self):
        super().__post_init__()
        if not 0 < int(self.rate) < channel.SAMPLE_RATE:
            raise SpoofscanError(f"augment narrowband.rate must be in (0, {channel.SAMPLE_RATE}) Hz, got {self.rate}")

    def apply(self, wave, rng):
        return channel.band_limit(wave, self.rate)


@dataclass(frozen=True)
class CodecAugment(Effect):
    """A codec round trip drawn uniformly from ``choices``: ``NAME[:SETTING]`` strings (kbit/s, or
    quality for vorbis), see :func:`spoofscan.augment.codecs.parse_codec`. List a condition twice
    to draw it twice as often."""

    key = "codec"
    names = ("choices",)
    p: float = 0.0
    choices: tuple = DEFAULT_CODEC_CHOICES

    def __post_init__(self):
        super().__post_init__()
        for choice in self.choices:
            codecs.parse_codec(choice)

    @functools.cached_property
    def parsed(self) -> tuple:
        """``choices`` as ``(codec, setting)`` pairs (:func:`spoofscan.augment.codecs.parse_codec`)."""
        return tuple(codecs.parse_codec(c) for c in self.choices)

    def check(self) -> None:
        for name in dict.fromkeys(name for name, _ in self.parsed):
            codecs.require_codec(name)

    def prepare(self) -> dict:
        return codecs.codec_delays(self.parsed)

    restore = staticmethod(codecs.restore_codec_delays)

    def draw(self, rng):
        return _pick(rng, self.parsed)

    def apply(self, wave, rng, codec, setting):
        return codecs.codec_roundtrip(wave, codec, setting)

    def fixed_settings(self) -> tuple:
        return self.parsed[0] if len(self.parsed) == 1 else super().fixed_settings()


EFFECT_ORDER = tuple(EFFECTS)


def prepare_effects(effects) -> dict:
    """Do now the set-up of ``effects`` (:meth:`Effect.prepare`), once, before worker processes
    start (forked workers inherit it); returns ``{key: set-up}`` for :func:`restore_effects`."""
    setup: dict = {}
    for effect in effects:
        made = effect.prepare()
        if made:
            setup.setdefault(effect.key, {}).update(made)
    return setup


def restore_effects(setup: dict) -> None:
    """Take the set-up :func:`prepare_effects` made in another process (a worker started by "spawn")."""
    for key, made in setup.items():
        EFFECTS[key].restore(made)
