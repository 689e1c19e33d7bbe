"""What a corpus depends on: :class:`CorpusConfig`, the ``--size`` presets (:data:`SIZES`), config files.

Build a config with :meth:`CorpusConfig.from_dict` (or :func:`load_corpus_config` for a file):
it fills what the size stands for (sources, caps, generator lists, vocoder size) where a value
is missing or None, and turns what a file or a caller writes (lists, a single string, command
generators as mappings) into field values. The constructor takes field values only and checks
them; it fills nothing, so it needs the size-dependent fields given in full.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from ..config import Config, load_config
from ..devices import CUDA_DEVICES, parse_device
from ..errors import SpoofscanError, choice_error
from ..vocoder.recipes import VOCODER_RECIPES
from .generators import ROLES, CommandGenerator, builtin_generators, default_generators
from .sources import SOURCES

RECIPE_VERSION = 4  # bump when processing changes: every pair is then rebuilt (4: texts borrowed for TTS)
DEFAULT_SIZE = "small"
TUPLE_FIELDS = ("sources", "real_dirs", "train_generators", "eval_generators", "heldout_families", "heldout_sources",
                "heldout_kinds")
RANGE_FIELDS = ("level_dbfs", "noise_snr_db", "edge_pad_seconds", "duration_jitter")  # (low, high) pairs
SHARE_FIELDS = ("eval_fraction", "dev_fraction", "narrowband_share", "codec_share", "tts_share",
                "spliced_share")  # in [0, 1)
KINDS = ("tts", "copy")  # text-to-speech (text in) and copy-synthesis (a real clip in): a generator's ``needs``
SIZE_FIELDS = ("sources", "train_generators", "eval_generators", "vocoder_recipe", "engine_weights")  # the size's
# The engines that re-synthesise through the published HiFi-GAN V1 cost 0.6-0.9 CPU s per second of audio (the
# others 0.01-0.35): the small corpus draws them a quarter as often, so that the quickstart keeps its time
LIGHT_WEIGHTS = (("hifigan-v1", 0.25), ("tts-hifigan", 0.25))


@dataclass(frozen=True)
class SizePreset:
    """Defaults a ``--size`` stands for; every field can be overridden in :class:`CorpusConfig`."""

    sources: tuple
    max_real: Optional[int]  # real clips kept (None: all); as many fake clips are made
    max_speakers: Optional[int]  # speakers kept (None: all)
    train_generators: tuple
    eval_generators: tuple
    vocoder: str = "draft"  # how the neural vocoders are made (:data:`spoofscan.vocoder.VOCODER_RECIPES`)
    engine_weights: tuple = ()  # (engine, weight) pairs: how often an engine is drawn among its kind (default 1)

    def defaults(self) -> dict:
        """The :class:`CorpusConfig` field values this size stands for."""
        return {"sources": self.sources, "max_real": self.max_real, "max_speakers": self.max_speakers,
                "train_generators": self.train_generators, "eval_generators": self.eval_generators,
                "vocoder_recipe": self.vocoder, "engine_weights": self.engine_weights}


SIZES = {
    "tiny": SizePreset(("asterisk",), 40, None, ("espeak-ng/m3", "world/dio", "lpc/o16"),
                       ("espeak-ng/f4", "world/harvest", "lpc/o10")),
    "small": SizePreset(tuple(SOURCES), 1600, None, default_generators("train"), default_generators("eval"),
                        engine_weights=LIGHT_WEIGHTS),
    "full": SizePreset(tuple(SOURCES), None, None, default_generators("train"), default_generators("eval"),
                       vocoder="quality"),
}


@dataclass(frozen=True)
class CorpusConfig(Config):
    """Everything a corpus depends on (stored in ``corpus.json``).

    Build it with :meth:`from_dict`, which fills the size's values (see the module docstring);
    the constructor needs ``sources``, ``train_generators``, ``eval_generators`` and
    ``vocoder_recipe`` given, and ``max_real``/``max_speakers`` None there mean no cap.

    out : the corpus folder
    size : ``tiny`` (a few dozen clips from the Asterisk prompts, two engines: for CI),
        ``small`` (a few thousand clips) or ``full`` (everything)
    sources : package sources (:data:`spoofscan.corpus.sources.SOURCES`); None: the size's;
        ``()`` for none (then give ``real_dirs``)
    real_dirs : folders of real recordings; a file's speaker is its first sub-folder below
        the folder (or the folder's name); a ``.txt`` beside a file is its transcript
    real_language : language code of the ``real_dirs`` recordings (``""``: unknown, so only
        copy-synthesis fakes are made from them)
    max_real, max_speakers : caps (None: the size's); the clips kept are spread evenly over the
        sources, and within a source over its speakers
    train_generators, eval_generators : generator names (see
        :func:`spoofscan.corpus.generators.builtin_generators` and ``commands``); train/dev fakes
        come from the first, eval fakes only from the second; None: the size's
    commands : user engines, :class:`~spoofscan.corpus.generators.CommandGenerator` or (in
        :meth:`from_dict`) mappings with ``name``, ``command``, optional ``needs``, ``languages``
        and ``split`` (``train`` or ``eval``: which list it joins, default ``train``)
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
    engine_weights : (engine, weight) pairs (a mapping in :meth:`from_dict`): an engine is drawn
        among the engines of its kind that can fake a clip with probability proportional to its
        weight (1 for an engine not named); None: the size's (``{}``: every engine alike); a name
        that is no engine's (built-in, or ``command`` for the ``commands``) is refused
    tts_share : probability that a pair's fake is text-to-speech when one of the pair's engines can
        say it (the rest: copy-synthesis of the real clip)
    spliced_share : per split, this share of the copy-synthesis pairs (rounded) becomes partly fake
        clips: a speaker's real utterances with one or two replaced by their fakes, as far as each
        speaker has 3 or more such pairs (:mod:`spoofscan.corpus.splice`)
    borrow_texts : a real clip without a transcript may get a text-to-speech fake that says the
        transcript of another clip of its language and split (recorded in the manifest's detail
        keys), so that clips of sources without transcripts get text-to-speech fakes too
    vocoder_recipe : architectures and training budget of the neural vocoders (``draft`` or
        ``quality``; None: the size's), see :data:`spoofscan.vocoder.VOCODER_RECIPES`
    vocoder_steps : override the budget's training steps (None: the budget's)
    vocoder_clips : override how many train-split real clips are held back to train them
    vocoder_device : ``cpu`` (default: bit-for-bit reproducible), ``cuda`` or ``auto``
    seed : every random choice derives from it (and the clip), so builds are reproducible
    heldout_families : families (the part of a generator name before ``/``, e.g. ``world``) to
        leave out of training: for each, ``manifest-heldout-FAMILY.csv`` is written beside
        ``manifest.csv`` (see :func:`spoofscan.corpus.manifest.heldout_rows`); no audio is made for it
    heldout_sources : real-speech sources to leave out of training: for each, ``manifest-heldout-SOURCE.csv``
        puts every clip of the source in eval and none in train or dev; with ``heldout_families``
        also ``manifest-heldout-SOURCE+FAMILY.csv`` for each pair (both left out together)
    heldout_kinds : kinds of fake (``tts``, ``copy``) to leave out of training, one manifest each
    jobs : worker processes (0: one per CPU); does not change the result
    cache_dir : where packages are downloaded and unpacked (``""``: ``$SPOOFSCAN_CACHE`` or
        ``~/.cache/spoofscan``)
    progress : show progress bars
    """

    out: str = "data/spoofscan-corpus"
    size: str = DEFAULT_SIZE
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
    engine_weights: Optional[tuple] = None
    tts_share: float = 0.7
    spliced_share: float = 0.1
    borrow_texts: bool = True
    vocoder_recipe: Optional[str] = None
    vocoder_steps: Optional[int] = None
    vocoder_clips: Optional[int] = None
    vocoder_device: str = "cpu"
    seed: int = 0
    heldout_families: tuple = ()
    heldout_sources: tuple = ()
    heldout_kinds: tuple = ()
    jobs: int = 0
    cache_dir: str = ""
    progress: bool = True

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """The size's values where ``d`` has none; a string where a tuple belongs becomes a 1-tuple,
        folders become strings, ranges floats; command mappings become :class:`CommandGenerator`
        and join the generator list their ``split`` names."""
        d = dict(d)
        size = d.get("size", DEFAULT_SIZE)
        if size not in SIZES:
            raise choice_error("corpus size", size, SIZES)
        for name, default in SIZES[size].defaults().items():
            if d.get(name) is None:
                d[name] = default
        for name in TUPLE_FIELDS:
            if name in d:
                d[name] = (d[name],) if isinstance(d[name], str) else tuple(d[name])
        if isinstance(d.get("engine_weights"), dict):
            d["engine_weights"] = tuple((str(k), float(v)) for k, v in sorted(d["engine_weights"].items()))
        if "real_dirs" in d:
            d["real_dirs"] = tuple(str(folder) for folder in d["real_dirs"])
        for name in RANGE_FIELDS:
            if name in d:
                d[name] = _floats(d[name])
        return {**d, **_command_values(d.get("commands", ()), d["train_generators"], d["eval_generators"])}

    def __post_init__(self):
        if self.size not in SIZES:
            raise choice_error("corpus size", self.size, SIZES)
        self._check_types()
        for name in RANGE_FIELDS:
            lo, hi = getattr(self, name)
            if lo > hi:
                raise SpoofscanError(f"{name} must be a (low, high) range, got ({lo}, {hi})")
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise choice_error("real-speech source", unknown[0], SOURCES)
        both = set(self.train_generators) & set(self.eval_generators)
        if both:
            raise SpoofscanError(f"generator(s) {', '.join(sorted(both))} are in both train_generators and "
                                 "eval_generators: eval must hold only configurations unseen in training")
        for share in SHARE_FIELDS:
            if not 0 <= getattr(self, share) < 1:
                raise SpoofscanError(f"{share} must be in [0, 1), got {getattr(self, share)}")
        if self.vocoder_recipe not in VOCODER_RECIPES:
            raise choice_error("vocoder recipe", self.vocoder_recipe, VOCODER_RECIPES)
        parse_device(self.vocoder_device, CUDA_DEVICES, "vocoder device")
        if not self.sources and not self.real_dirs:
            raise SpoofscanError(f"no real speech: give package sources ({', '.join(SOURCES)}) and/or --real-dir DIR")
        engines = sorted({g.engine for g in builtin_generators().values()} | {c.engine for c in self.commands})
        for engine, weight in self.engine_weights:
            if engine not in engines:  # a misspelt engine would otherwise be drawn as often as the others
                raise choice_error("engine in engine_weights", engine, engines)
            if not weight > 0:
                raise SpoofscanError(f"engine_weights: the weight of {engine} must be positive, got {weight}")
        for kind in self.heldout_kinds:
            if kind not in KINDS:
                raise choice_error("kind of fake to hold out", kind, KINDS)

    def _check_types(self) -> None:
        """Raise when a field holds a loose value that :meth:`from_dict` would have turned into a field value."""
        missing = [name for name in SIZE_FIELDS if getattr(self, name) is None]
        if missing:
            raise SpoofscanError(f"CorpusConfig: {', '.join(missing)} not given; give them, or use "
                                 "CorpusConfig.from_dict, which takes the size's")
        loose = [name for name in (*TUPLE_FIELDS, "commands") if not isinstance(getattr(self, name), tuple)]
        loose += [name for name in RANGE_FIELDS if not _is_range(getattr(self, name))]
        if loose or not all(isinstance(folder, str) for folder in self.real_dirs):
            raise SpoofscanError(f"CorpusConfig: {', '.join(loose) or 'real_dirs'} must be tuples (of strings for "
                                 "real_dirs, of two floats for ranges); use CorpusConfig.from_dict for lists, strings "
                                 "and paths")
        for c in self.commands:
            if not isinstance(c, CommandGenerator):
                raise SpoofscanError(f"CorpusConfig: commands must be CommandGenerators, got {type(c).__name__}; "
                                     "use CorpusConfig.from_dict for mappings")
        doubled = [n for role in (self.train_generators, self.eval_generators) for n in set(role) if role.count(n) > 1]
        if doubled:
            raise SpoofscanError(f"CorpusConfig: generator(s) {', '.join(sorted(doubled))} listed twice in one role")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["commands"] = [{"name": c.name, "command": c.command, "needs": c.needs, "languages": list(c.languages)}
                         for c in self.commands]
        d["engine_weights"] = dict(self.engine_weights)
        return d


def _is_range(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value)


def _floats(value):
    """``value`` as a (low, high) tuple of floats; ``value`` itself when it is no pair of numbers (the
    constructor then names the field)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        return value
    return lo, hi


def _command_values(commands, train: tuple, evals: tuple) -> dict:
    """``commands`` as CommandGenerators, and the generator lists with each mapping's name added to the
    list its ``split`` names (``train`` by default); the lists keep each name once, in order."""
    made, roles = [], {"train": list(train), "eval": list(evals)}
    for c in commands:
        if isinstance(c, dict):
            c = dict(c)
            role = c.pop("split", "train")
            if role not in ROLES:
                raise choice_error(f"split of command generator {c.get('name')!r}", role, ROLES)
            c = CommandGenerator.from_dict(c)
            roles[role].append(c.name)
        made.append(c)
    return {"commands": tuple(made), "train_generators": tuple(dict.fromkeys(roles["train"])),
            "eval_generators": tuple(dict.fromkeys(roles["eval"]))}


def load_corpus_config(path: str | Path | None = None, **overrides) -> CorpusConfig:
    """A CorpusConfig from a YAML, TOML or JSON file, with keyword overrides (``None`` values ignored)."""
    return load_config(CorpusConfig, path, **overrides)
