"""What a corpus depends on: :class:`CorpusConfig`, the ``--size`` presets (:data:`SIZES`), config files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from ..config import Config, load_config
from ..devices import CUDA_DEVICES, parse_device
from ..errors import SpoofscanError, choice_error
from .generators import CommandGenerator, default_generators
from .sources import SOURCES

RECIPE_VERSION = 3  # bump when processing changes: every pair is then rebuilt (3: the spoofscan.augment chain)


@dataclass(frozen=True)
class SizePreset:
    """Defaults a ``--size`` stands for; every field can be overridden in :class:`CorpusConfig`."""

    sources: tuple
    max_real: Optional[int]  # real clips kept (None: all); as many fake clips are made
    max_speakers: Optional[int]  # speakers kept (None: all)
    train_generators: tuple
    eval_generators: tuple
    vocoder: str = "small"  # the neural vocoders' architecture and budget (:data:`.vocoders.VOCODER_BUDGETS`)


SIZES = {
    "tiny": SizePreset(("asterisk",), 40, None, ("espeak-ng/m3", "world/dio", "lpc/o16"),
                       ("espeak-ng/f4", "world/harvest", "lpc/o10")),
    "small": SizePreset(("tuxpaint", "ktuberling", "asterisk"), 1600, None, default_generators("train"),
                        default_generators("eval")),
    "full": SizePreset(("tuxpaint", "ktuberling", "asterisk"), None, None, default_generators("train"),
                       default_generators("eval"), vocoder="full"),
}


@dataclass(frozen=True)
class CorpusConfig(Config):
    """Everything a corpus depends on (stored in ``corpus.json``).

    out : the corpus folder
    size : ``tiny`` (a few dozen clips from the Asterisk prompts, two engines: for CI),
        ``small`` (a few thousand clips) or ``full`` (everything)
    sources : package sources (``tuxpaint``, ``ktuberling``, ``asterisk``); None: the size's;
        ``()`` for none (then give ``real_dirs``)
    real_dirs : folders of real recordings; a file's speaker is its first sub-folder below
        the folder (or the folder's name); a ``.txt`` beside a file is its transcript
    real_language : language code of the ``real_dirs`` recordings (``""``: unknown, so only
        copy-synthesis fakes are made from them)
    max_real, max_speakers : caps (None: the size's); the clips kept are spread evenly over
        speakers
    train_generators, eval_generators : generator names (see
        :func:`spoofscan.generators.builtin_generators` and ``commands``); train/dev fakes
        come from the first, eval fakes only from the second; None: the size's
    commands : user engines, :class:`~spoofscan.generators.CommandGenerator` or dicts with
        ``name``, ``command``, optional ``needs``, ``languages`` and ``split`` (``train`` or
        ``eval``: which list it joins, default ``train``)
    eval_fraction : share of each source's real clips whose speakers go to eval
    dev_fraction : share of the remaining real clips that go to dev
    narrowband_share : share of pairs band-limited through 8 kHz
    codec_share : share of pairs passed through a lossy codec (Vorbis, Opus or MP3 at a random
        quality), both clips alike: most real sources are already lossy-coded, the engines'
        output never is, and a detector must not learn "codec artefacts = real"
    level_dbfs : range of the random RMS level, dBFS
    noise_snr_db : range of the SNR of the added noise floor, dB below the clip's RMS
    edge_pad_seconds : range of the silence put before and after the trimmed speech
    duration_jitter : TTS clips are made this factor range of the real clip's duration
    vocoder_size : architecture and training budget of the neural vocoders (``small`` or
        ``full``; None: the size's), see :data:`spoofscan.corpus.vocoder_jobs.VOCODER_BUDGETS`
    vocoder_steps : override the budget's training steps (None: the budget's)
    vocoder_clips : override how many train-split real clips are held back to train them
    vocoder_device : ``cpu`` (default: bit-for-bit reproducible), ``cuda`` or ``auto``
    seed : every random choice derives from it (and the clip), so builds are reproducible
    heldout_families : families (the part of a generator name before ``/``, e.g. ``world``) to
        leave out of training: for each, ``manifest-heldout-FAMILY.csv`` is written beside
        ``manifest.csv`` (see :func:`heldout_rows`); no audio is made for it
    jobs : worker processes (0: one per CPU); does not change the result
    cache_dir : where packages are downloaded and unpacked (``""``: ``$SPOOFSCAN_CACHE`` or
        ``~/.cache/spoofscan``)
    progress : show progress bars
    """

    out: str = "data/spoofscan-corpus"
    size: str = "small"
    sources: Optional[tuple] = None
    real_dirs: tuple = ()
    real_language: str = ""
    max_real: Optional[int] = None
    max_speakers: Optional[int] = None
    train_generators: Optional[tuple] = None
    eval_generators: Optional[tuple] = None
    commands: tuple = ()
    eval_fraction: float = 0.2
    dev_fraction: float = 0.15
    narrowband_share: float = 0.3
    codec_share: float = 0.5
    level_dbfs: tuple = (-32.0, -18.0)
    noise_snr_db: tuple = (35.0, 55.0)
    edge_pad_seconds: tuple = (0.1, 0.4)
    duration_jitter: tuple = (0.9, 1.1)
    vocoder_size: Optional[str] = None
    vocoder_steps: Optional[int] = None
    vocoder_clips: Optional[int] = None
    vocoder_device: str = "cpu"
    seed: int = 0
    heldout_families: tuple = ()
    jobs: int = 0
    cache_dir: str = ""
    progress: bool = True

    def __post_init__(self):
        if self.size not in SIZES:
            raise choice_error("corpus size", self.size, SIZES)
        preset = SIZES[self.size]
        fill = {"sources": preset.sources, "max_real": preset.max_real, "max_speakers": preset.max_speakers,
                "train_generators": preset.train_generators, "eval_generators": preset.eval_generators,
                "vocoder_size": preset.vocoder}
        for name, default in fill.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        for name in ("sources", "real_dirs", "train_generators", "eval_generators", "heldout_families"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple([value] if isinstance(value, str) else value))
        object.__setattr__(self, "real_dirs", tuple(str(d) for d in self.real_dirs))
        for name in ("level_dbfs", "noise_snr_db", "edge_pad_seconds", "duration_jitter"):
            lo, hi = (float(v) for v in getattr(self, name))
            if lo > hi:
                raise SpoofscanError(f"{name} must be a (low, high) range, got ({lo}, {hi})")
            object.__setattr__(self, name, (lo, hi))
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise choice_error("real-speech source", unknown[0], SOURCES)
        commands, train, evals = [], list(self.train_generators), list(self.eval_generators)
        for c in self.commands:
            if isinstance(c, dict):
                c = dict(c)
                role = c.pop("split", "train")
                if role not in ("train", "eval"):
                    raise choice_error(f"split of command generator {c.get('name')!r}", role, ("train", "eval"))
                c = CommandGenerator(**{**c, "languages": tuple(c.get("languages") or ())})
                (train if role == "train" else evals).append(c.name)
            commands.append(c)
        object.__setattr__(self, "commands", tuple(commands))
        object.__setattr__(self, "train_generators", tuple(dict.fromkeys(train)))
        object.__setattr__(self, "eval_generators", tuple(dict.fromkeys(evals)))
        both = set(self.train_generators) & set(self.eval_generators)
        if both:
            raise SpoofscanError(f"generator(s) {', '.join(sorted(both))} are in both train_generators and "
                                 "eval_generators: eval must hold only configurations unseen in training")
        for share in ("eval_fraction", "dev_fraction", "narrowband_share", "codec_share"):
            if not 0 <= getattr(self, share) < 1:
                raise SpoofscanError(f"{share} must be in [0, 1), got {getattr(self, share)}")
        from .vocoder_jobs import VOCODER_BUDGETS

        if self.vocoder_size not in VOCODER_BUDGETS:
            raise choice_error("vocoder size", self.vocoder_size, VOCODER_BUDGETS)
        parse_device(self.vocoder_device, CUDA_DEVICES, "vocoder device")
        if not self.sources and not self.real_dirs:
            raise SpoofscanError("no real speech: give package sources (tuxpaint, ktuberling, asterisk) "
                                 "and/or --real-dir DIR")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["commands"] = [{"name": c.name, "command": c.command, "needs": c.needs, "languages": list(c.languages)}
                         for c in self.commands]
        return d


def load_corpus_config(path: str | Path | None = None, **overrides) -> CorpusConfig:
    """A CorpusConfig from a YAML, TOML or JSON file, with keyword overrides (``None`` values ignored)."""
    return load_config(CorpusConfig, path, **overrides)
