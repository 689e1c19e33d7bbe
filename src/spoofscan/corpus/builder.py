"""An offline real-vs-fake speech corpus built from openly licensed recordings and local engines.

``build_corpus(CorpusConfig(out="data/quick", size="small"))`` (CLI: ``spoofscan corpus
build``) makes a folder any spoofscan command can train on, in the style of lhotse recipes:

1. **Real speech** from Debian packages, fetched with ``apt-get download`` and unpacked with
   ``dpkg-deb -x`` into a cache (nothing is installed): Tux Paint's spoken stamp
   descriptions with their transcripts (``tuxpaint``), KTuberling's words (``ktuberling``),
   Asterisk's telephone prompts in five languages with transcripts (``asterisk``); and/or
   any folder of real recordings (``real_dirs``).
2. **Fake speech**, one clip per real clip, *content-matched*: text-to-speech engines say the
   real clip's transcript in its language, copy-synthesis (WORLD, MLSA, LPC, harmonic plus
   noise, phase vocoder, and neural vocoders trained here on held-back train clips:
   :mod:`spoofscan.corpus.vocoder_jobs`) resynthesises the clip itself
   (:mod:`spoofscan.corpus.generators`).
3. **Shortcuts neutralised alike for both classes**: decoded to 16 kHz mono; edge silence
   trimmed the same way and replaced by the same random padding; a low noise floor at a
   random SNR; a share of the pairs band-limited through 8 kHz (telephone band; pairs with a
   natively narrowband member always); a share of the pairs passed through a lossy codec
   (Vorbis, Opus, MP3: most real sources are lossy-coded already, engine output never is);
   a random level; TTS speaking rate matched to the real clip's duration.
4. **Splits**: ``eval`` speakers are held out of ``train``/``dev``, and eval fakes come only
   from generator configurations that never appear in train/dev (unseen attacks, as in
   ASVspoof eval). ``dev`` is in-domain: train speakers and generators, other clips.
5. Writes ``manifest.csv`` (``trial,path,label,split,source,speaker,language,generator,
   channel,codec``; read with the data spec ``csv:OUT/manifest.csv:train``), ``corpus.json``
   (config and counts), ``ATTRIBUTION.md`` and ``licenses/`` (each source's licence).

Reruns are idempotent: ``build_state.jsonl`` records every finished pair under a key that
hashes everything its output depends on, so a rerun redoes only what is missing or changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np
import soundfile as sf

from ..audio import SAMPLE_RATE, resample
from ..augment import add_noise, band_limit, codec_roundtrip, parse_codec, set_level
from ..config import Config, load_config
from ..devices import CUDA_DEVICES, parse_device
from ..errors import SpoofscanError, choice_error
from ..fileio import atomic_write, atomic_write_text
from ..labels import BONAFIDE, SPOOF
from ..seeding import stable_seed
from .audit import active_span
from .generators import CommandGenerator, Generator, Request, builtin_generators, default_generators
from .sources import SOURCES, RealClip, default_cache_dir, fetch_package, find_real_dir, package_version, read_real
from .vocoder_jobs import describe, is_trained, train_jobs

RECIPE_VERSION = 3  # bump when processing changes: every pair is then rebuilt (3: the spoofscan.augment chain)
MANIFEST = "manifest.csv"
STATE = "build_state.jsonl"
INFO = "corpus.json"
ATTRIBUTION = "ATTRIBUTION.md"
FAILURES = "failures.txt"
MANIFEST_COLUMNS = ("trial", "path", "label", "split", "source", "speaker", "language", "generator", "family", "channel",
                    "codec")
SPLITS = ("train", "dev", "eval")
NO_GENERATOR = "-"  # the generator column of bona fide rows (ASVspoof's convention for attacks)
HELDOUT_MANIFEST = "manifest-heldout-{family}.csv"  # the corpus with one family left out of train and dev
WIDEBAND, NARROWBAND = "wideband", "narrowband"
NO_CODEC = "none"
CODECS = {  # corpus codec -> spoofscan.augment codec settings, from best quality (compression 0) to smallest (1)
    "vorbis": ("vorbis:1.0", "vorbis:0.8", "vorbis:0.6", "vorbis:0.4", "vorbis:0.2", "vorbis:0.0"),
    "opus": ("opus:48", "opus:32", "opus:24", "opus:16", "opus:12", "opus:8"),
    "mp3": ("mp3:128", "mp3:96", "mp3:64", "mp3:48", "mp3:32", "mp3:24"),
}
CODEC_COMPRESSION = (0.2, 0.9)  # range of the compression level drawn per pair (0 best quality, 1 smallest)
PEAK_LIMIT = 0.99  # no sample above this after the level change
TRIM_MARGIN_SECONDS = 0.02  # kept on each side of the active span when trimming
MAX_REAL_SECONDS = 20.0  # longer real clips are skipped
MIN_REAL_SECONDS = 0.25
SPEED_LIMITS = (0.5, 2.0)  # TTS speaking-rate factors tried when matching durations
SPEED_TOLERANCE = 0.08  # no second synthesis when the first is within 8 % of the target length
TRAIN_GENERATORS = default_generators("train")
EVAL_GENERATORS = default_generators("eval")


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
    "small": SizePreset(("tuxpaint", "ktuberling", "asterisk"), 1600, None, TRAIN_GENERATORS, EVAL_GENERATORS),
    "full": SizePreset(("tuxpaint", "ktuberling", "asterisk"), None, None, TRAIN_GENERATORS, EVAL_GENERATORS,
                       vocoder="full"),
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


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Pair:
    """One unit of work: a real clip and the fake made from it, in one split."""

    job: str  # hash of everything the output depends on
    clip: RealClip
    split: str
    generator: str
    real_trial: str
    fake_trial: str


def _water_fill(counts: dict, total: int) -> int:
    """The largest per-speaker cap c with sum(min(n, c)) <= total (at least 1)."""
    lo, hi = 1, max(counts.values())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(n, mid) for n in counts.values()) <= total:
            lo = mid
        else:
            hi = mid - 1
    return lo


def select_clips(clips: list, cfg: CorpusConfig) -> list:
    """Keep at most ``max_speakers`` speakers and ``max_real`` clips, spread evenly over the speakers.

    Each speaker contributes min(its clips, c) clips with c as large as the budget allows
    (:func:`_water_fill`), drawn in a seeded order; the choice depends only on the seed.
    """
    by_speaker: dict = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).append(c)
    for members in by_speaker.values():
        members.sort(key=lambda c: stable_seed(cfg.seed, "pick", c.key))
    speakers = sorted(by_speaker, key=lambda s: stable_seed(cfg.seed, "speaker", s))
    if cfg.max_speakers:  # keep the speakers with the most transcripts (text-to-speech needs them)
        speakers = sorted(speakers, key=lambda s: -sum(c.text is not None for c in by_speaker[s]))[:cfg.max_speakers]
    counts = {s: len(by_speaker[s]) for s in speakers}
    cap = _water_fill(counts, cfg.max_real) if cfg.max_real else max(counts.values())
    kept = [c for s in speakers for c in by_speaker[s][:cap]]
    if cfg.max_real and len(kept) > cfg.max_real:
        kept = sorted(kept, key=lambda c: stable_seed(cfg.seed, "trim", c.key))[:cfg.max_real]
    return sorted(kept, key=lambda c: c.key)


def assign_splits(clips: list, cfg: CorpusConfig, eval_generators: Iterable[Generator] = ()) -> dict:
    """clip key -> split.

    Per source, whole speakers go to eval until ``eval_fraction`` of its clips are there
    (a source keeps at least one training speaker). Then, for each engine among
    ``eval_generators`` that could fake no eval clip (Flite speaks only English, say), the
    smallest training speaker it can fake moves to eval, if its source keeps another.
    The other clips go to dev with probability ``dev_fraction``, else to train.
    """
    split: dict = {}
    by_source: dict = {}
    for c in clips:
        by_source.setdefault(c.source, {}).setdefault(c.speaker, []).append(c)
    eval_speakers = set()
    for _source, speakers in sorted(by_source.items()):
        names = sorted(speakers, key=lambda s: stable_seed(cfg.seed, "eval-speaker", s))
        total = sum(len(v) for v in speakers.values())
        held = 0
        for name in names[:-1] if len(names) > 1 else []:  # a source always keeps a training speaker
            if held >= cfg.eval_fraction * total:
                break
            eval_speakers.add(name)
            held += len(speakers[name])
    if not eval_speakers and cfg.eval_fraction > 0:
        every = sorted({c.speaker for c in clips}, key=lambda s: stable_seed(cfg.seed, "eval-speaker", s))
        if len(every) < 2:
            raise SpoofscanError(f"the real clips have one speaker only ({every[0] if every else 'none'}): a "
                                 "speaker-disjoint eval split needs two or more (put each speaker's recordings "
                                 "in its own sub-folder of --real-dir, or add a package source)")
        eval_speakers.add(every[0])
    eval_generators = list(eval_generators)
    for engine in sorted({g.engine for g in eval_generators}):
        gens = [g for g in eval_generators if g.engine == engine]

        def can(c: RealClip) -> bool:
            return any(g.needs == "audio" or (c.text and g.supports(c.language)) for g in gens)

        if any(can(c) for c in clips if c.speaker in eval_speakers):
            continue
        movable = []
        for speakers in by_source.values():
            kept = [s for s in speakers if s not in eval_speakers]
            if len(kept) > 1:
                movable += [(len(speakers[s]), s) for s in kept if any(can(c) for c in speakers[s])]
        if movable:
            eval_speakers.add(min(movable)[1])
    for c in clips:
        if c.speaker in eval_speakers:
            split[c.key] = "eval"
        else:
            roll = stable_seed(cfg.seed, "dev", c.key) / 2.0 ** 63
            split[c.key] = "dev" if roll < cfg.dev_fraction else "train"
    return split


def available_generators(cfg: CorpusConfig, log: Callable[[str], None] = print) -> dict:
    """role (``train``/``eval``) -> list of usable Generators; warns about unavailable ones."""
    table = {**builtin_generators(), **{c.name: c for c in cfg.commands}}
    out = {}
    for role, names in (("train", cfg.train_generators), ("eval", cfg.eval_generators)):
        usable = []
        for name in names:
            if name not in table:
                raise choice_error("generator", name, sorted(table))
            g = table[name]
            if g.is_available():
                usable.append(g)
            else:
                log(f"warning: generator {name} is not available, skipped: {g.missing_hint()}")
        if not usable:
            hints = sorted({table[n].missing_hint() for n in names})
            raise SpoofscanError(f"no {role} generator can run on this machine ({'; '.join(hints) or 'none listed'})")
        out[role] = usable
    return out


def pick_generator(clip: RealClip, candidates: list, seed: int) -> Optional[Generator]:
    """A generator that can make a fake of ``clip``: an engine drawn uniformly, then one of its configurations."""
    ok = [g for g in candidates if g.needs == "audio" or (clip.text and g.supports(clip.language))]
    if not ok:
        return None
    engines = sorted({g.engine for g in ok})
    rng = np.random.default_rng(stable_seed(seed, "generator", clip.key))
    engine = engines[int(rng.integers(len(engines)))]
    configs = [g for g in ok if g.engine == engine]
    return configs[int(rng.integers(len(configs)))]


def _processing_key(cfg: CorpusConfig) -> dict:
    """The settings every clip's processing depends on (part of each pair's job key)."""
    names = ("narrowband_share", "codec_share", "level_dbfs", "noise_snr_db", "edge_pad_seconds", "duration_jitter",
             "seed")
    return {k: getattr(cfg, k) for k in names} | {"recipe": RECIPE_VERSION}


@dataclass
class Plan:
    """What a build makes: the pairs, the clips no generator could fake, the vocoders to train.

    generators : role -> usable generators, neural ones bound to their (cached) vocoder
    vocoders : family -> :class:`~spoofscan.corpus.vocoder_jobs.VocoderJob`
    held : keys of the train clips the vocoders train on (never vocoded by them)
    """

    pairs: list
    skipped: int
    generators: dict
    vocoders: dict
    held: set


def plan_pairs(clips: list, cfg: CorpusConfig, generators: dict, cache: Optional[Path] = None) -> Plan:
    """The pairs to build (in a fixed order), the clips no generator could fake, the vocoders needed.

    When a neural-vocoder generator is among ``generators``, a seeded share of the train
    split is held back to train the vocoders (:func:`spoofscan.corpus.vocoder_jobs.held_clips`);
    those clips get their fakes from the other engines.
    """
    from .vocoder_jobs import held_clips, plan_vocoders

    splits = assign_splits(clips, cfg, generators["eval"])
    families = sorted({g.trained_vocoder for role in generators.values() for g in role} - {""})
    held: set = set()
    jobs: dict = {}
    if families:
        held = held_clips(clips, splits, cfg.vocoder_size, cfg.seed, cfg.vocoder_clips)
        jobs = plan_vocoders(families, clips, splits, held, size=cfg.vocoder_size, seed=cfg.seed,
                             steps=cfg.vocoder_steps, device=cfg.vocoder_device, cache=cache or default_cache_dir())
        generators = {role: [g.bound(jobs[g.trained_vocoder].weights, jobs[g.trained_vocoder].key)
                             if g.trained_vocoder else g for g in gens]
                      for role, gens in generators.items()}
    table = {g.name: g for role in generators.values() for g in role}
    processing = json.dumps(_processing_key(cfg), sort_keys=True)
    pairs, skipped = [], 0
    for clip in clips:
        split = splits[clip.key]
        candidates = generators["eval" if split == "eval" else "train"]
        if clip.key in held:
            candidates = [g for g in candidates if not g.trained_vocoder]
        g = pick_generator(clip, candidates, cfg.seed)
        if g is None:
            skipped += 1
            continue
        spec = table[g.name].fingerprint()
        job = hashlib.sha256(json.dumps([clip.key, clip.text, clip.language, clip.speaker, split, g.name, spec,
                                         processing]).encode()).hexdigest()[:20]
        real_trial = "clip_" + hashlib.sha256(f"real|{clip.key}".encode()).hexdigest()[:12]
        fake_trial = "clip_" + hashlib.sha256(f"fake|{clip.key}|{g.name}".encode()).hexdigest()[:12]
        pairs.append(Pair(job, clip, split, g.name, real_trial, fake_trial))
    return Plan(pairs, skipped, generators, jobs, held)


# ---------------------------------------------------------------------------- neutralising


def trim(x: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence (see :func:`spoofscan.shortcuts.active_span`), keeping a 20 ms margin."""
    first, end = active_span(x)
    margin = int(TRIM_MARGIN_SECONDS * SAMPLE_RATE)
    return x[max(0, first - margin):min(len(x), end + margin)]


def lossy_roundtrip(x: np.ndarray, codec: str, compression: float) -> np.ndarray:
    """Round trip a 16 kHz waveform through ``codec`` (a :data:`CODECS` key) at ``compression`` in [0, 1]
    (0: the codec's best setting in :data:`CODECS`, 1: its smallest); same length, time-aligned."""
    ladder = CODECS[codec]
    return codec_roundtrip(x, *parse_codec(ladder[int(round(compression * (len(ladder) - 1)))]))


def neutralise(x: np.ndarray, rng: np.random.Generator, cfg: CorpusConfig, narrowband: bool,
               codec: tuple = (NO_CODEC, 0.0)) -> np.ndarray:
    """The one processing chain every clip of both classes goes through (16 kHz in, 16 kHz out).

    Remove DC, trim edge silence, pad both edges with random silence, add a white noise floor
    at a random SNR, band-limit through 8 kHz if ``narrowband``, pass through ``codec``
    (``(name, compression level)``, name ``none`` or a :data:`CODECS` key), scale to a
    random RMS level, keep peaks below :data:`PEAK_LIMIT`. The effects are
    :mod:`spoofscan.augment`'s, the ones training augmentation uses.
    """
    x = trim(x - np.mean(x))
    pads = [int(rng.uniform(*cfg.edge_pad_seconds) * SAMPLE_RATE) for _ in range(2)]
    x = np.concatenate([np.zeros(pads[0], np.float32), x, np.zeros(pads[1], np.float32)]).astype(np.float32)
    x = add_noise(x, rng.uniform(*cfg.noise_snr_db), "white", rng)
    if narrowband:
        x = band_limit(x)
    if codec[0] != NO_CODEC:
        peak = float(np.max(np.abs(x))) or 1.0
        x = lossy_roundtrip(x * np.float32(0.5 / peak), *codec)  # coded at a safe level; the level is set next
    return set_level(x, rng.uniform(*cfg.level_dbfs), PEAK_LIMIT)


def _synthesize_matched(g: Generator, clip: RealClip, real16: np.ndarray, target: float, seed: int):
    """Make the fake of ``clip``: TTS at a speaking rate that lands near ``target`` seconds of speech."""
    if g.needs == "audio":
        return g.synthesize(Request(text=clip.text, language=clip.language, audio=real16, rate=SAMPLE_RATE, seed=seed))
    request = Request(text=clip.text, language=clip.language, seed=seed)
    x, rate = g.synthesize(request)
    spoken = len(trim(resample(x, rate))) / SAMPLE_RATE
    speed = float(np.clip(spoken / max(target, 0.05), *SPEED_LIMITS))
    if abs(speed - 1.0) > SPEED_TOLERANCE:
        x, rate = g.synthesize(replace(request, speed=speed))
    return x, rate


def build_pair(pair: Pair, cfg: CorpusConfig, generator: Generator, out: Path) -> list:
    """Make and write both clips of a pair; returns their two manifest rows (with extra detail keys)."""
    rng = np.random.default_rng(stable_seed(cfg.seed, "pair", pair.clip.key))
    raw, real_rate = read_real(pair.clip)
    if raw.size == 0 or not np.isfinite(raw).all():
        raise SpoofscanError(f"{pair.clip.path}: empty or not finite")
    real16 = resample(raw, real_rate)
    spoken = len(trim(real16)) / SAMPLE_RATE
    if not MIN_REAL_SECONDS <= len(real16) / SAMPLE_RATE <= MAX_REAL_SECONDS:
        raise SpoofscanError(f"{pair.clip.path}: {len(real16) / SAMPLE_RATE:.2f} s, outside "
                             f"{MIN_REAL_SECONDS}-{MAX_REAL_SECONDS} s")
    target = spoken * rng.uniform(*cfg.duration_jitter)
    fake, fake_rate = _synthesize_matched(generator, pair.clip, real16, target, stable_seed(cfg.seed, "synth", pair.clip.key))
    narrowband = min(real_rate, fake_rate) < SAMPLE_RATE or rng.uniform() < cfg.narrowband_share
    channel = NARROWBAND if narrowband else WIDEBAND
    codec = (NO_CODEC, 0.0)
    if rng.uniform() < cfg.codec_share:
        names = sorted(CODECS)
        codec = (names[int(rng.integers(len(names)))], float(rng.uniform(*CODEC_COMPRESSION)))
    rows = []
    for label, trial, x in ((BONAFIDE, pair.real_trial, real16), (SPOOF, pair.fake_trial, resample(fake, fake_rate))):
        y = neutralise(x, rng, cfg, narrowband, codec)
        rel = Path("audio") / pair.split / f"{trial}.flac"
        atomic_write(out / rel, lambda tmp: sf.write(tmp, y, SAMPLE_RATE, format="FLAC", subtype="PCM_16"))
        is_real = label == BONAFIDE
        rows.append({
            "trial": trial, "path": rel.as_posix(), "label": label, "split": pair.split,
            "source": pair.clip.source, "speaker": pair.clip.speaker if is_real or generator.needs == "audio"
            else generator.name, "language": pair.clip.language or "-",
            "generator": NO_GENERATOR if is_real else generator.name, "channel": channel, "codec": codec[0],
            "seconds": round(len(y) / SAMPLE_RATE, 3), "native_rate": real_rate if is_real else fake_rate,
            "text": pair.clip.text or "", "origin": pair.clip.key, "pair": pair.real_trial,
        })
    return rows


_WORKER: dict = {}


def _init_worker(cfg: CorpusConfig, out: str, table: dict) -> None:
    _WORKER.update(cfg=cfg, out=Path(out), table=table)


def _init_forked_worker(cfg: CorpusConfig, out: str, table: dict) -> None:
    if "torch" in sys.modules:  # a forked child of a process whose OpenMP pool ran (vocoder training, a
        sys.modules["torch"].set_num_threads(1)  # test): a parallel region there would hang, one thread never does
    _init_worker(cfg, out, table)


def _work(pair: Pair):
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(1):  # one pair per process: BLAS threads only contend (and may change results)
            rows = build_pair(pair, _WORKER["cfg"], _WORKER["table"][pair.generator], _WORKER["out"])
        return pair.job, rows, None
    except SpoofscanError as e:
        text = str(e)
        return pair.job, None, text if pair.clip.path in text else f"{pair.clip.path}: {text}"
    except Exception as e:  # one bad clip must not stop a long build; it is reported and retried next run
        return pair.job, None, f"{pair.clip.path}: {type(e).__name__}: {e}"


# ---------------------------------------------------------------------------- build


def read_state(out: Path) -> dict:
    """job -> ``{"rows": [...], "error": str|None}`` of the pairs already done.

    A pair that failed (a clip no generator can handle, say) is recorded with its error and
    no rows, so reruns do not try it again; delete ``build_state.jsonl`` to retry everything.
    A torn last line from a killed run is ignored.
    """
    done = {}
    path = out / STATE
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[entry["job"]] = {"rows": entry.get("rows", []), "error": entry.get("error")}
    return done


def _is_done(out: Path, entry: Optional[dict]) -> bool:
    return entry is not None and all((out / r["path"]).is_file() for r in entry["rows"])


@dataclass
class BuildSummary:
    """What a build did: counts for the log and ``corpus.json``."""

    manifest: Path
    pairs: int = 0
    built: int = 0
    reused: int = 0
    failed: int = 0
    skipped_no_generator: int = 0
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)
    vocoders: dict = field(default_factory=dict)  # family -> its training summary (loss curve ends, mel check)
    held_for_vocoders: int = 0  # train clips the vocoders trained on (their fakes come from other engines)
    timings: dict = field(default_factory=dict)  # seconds: prepare, vocoders (training), synthesis, total


def build_corpus(config: CorpusConfig, log: Callable[[str], None] | None = None) -> Path:
    """Build (or complete) the corpus ``config.out``; returns the path of its ``manifest.csv``.

    See the module docstring. Only pairs not yet built (or whose settings changed) are made;
    a second run with the same config does no work and writes the same manifest.
    """
    return build_corpus_summary(config, log).manifest


def build_corpus_summary(config: CorpusConfig, log: Callable[[str], None] | None = None) -> BuildSummary:
    """:func:`build_corpus`, returning the :class:`BuildSummary`."""
    import multiprocessing

    from tqdm import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    start = time.perf_counter()
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()

    roots = {}
    for name in config.sources:
        for package in SOURCES[name].packages:
            roots[package] = fetch_package(package, cache, log)
    clips = [c for name in config.sources for c in SOURCES[name].find(roots)]
    for folder in config.real_dirs:
        clips += find_real_dir(folder, config.real_language)
    clips = _dedupe(clips)
    clips = select_clips(clips, config)
    generators = available_generators(config, log)
    plan = plan_pairs(clips, config, generators, cache)
    pairs, skipped, generators = plan.pairs, plan.skipped, plan.generators
    timings = {"prepare": round(time.perf_counter() - start, 1)}
    if not pairs:
        raise SpoofscanError(
            f"nothing to build: none of the {len(clips)} real clips can be faked by the available generators "
            "(text-to-speech needs a transcript and a language the engine speaks: .txt files beside your "
            "recordings and --real-language; copy-synthesis needs the corpus extra: pip install 'spoofscan[corpus]')")
    planned = sorted({family_of(p.generator) for p in pairs})
    for family in config.heldout_families:
        if family not in planned:
            raise choice_error("family to hold out", family, planned)
    if skipped:
        log(f"{skipped} real clips left out: no available generator can fake them (no transcript, or a "
            "language the engines do not speak, and no copy-synthesis generator)")

    done = read_state(out)
    todo = [p for p in pairs if not _is_done(out, done.get(p.job))]
    summary = BuildSummary(out / MANIFEST, pairs=len(pairs), reused=len(pairs) - len(todo),
                           skipped_no_generator=skipped)
    log(f"corpus {config.size}: {len(pairs)} real clips + {len(pairs)} fakes "
        f"({summary.reused} pairs already built, {len(todo)} to build)")
    table = {g.name: g for role in generators.values() for g in role}
    step = time.perf_counter()
    needed = {table[p.generator].trained_vocoder for p in todo} - {""}
    train_jobs([job for family, job in sorted(plan.vocoders.items()) if family in needed and not is_trained(job)],
               log, processes=config.jobs or os.cpu_count() or 1)
    timings["vocoders"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    if todo:
        jobs = config.jobs or os.cpu_count() or 1
        bar = tqdm(total=len(todo), unit="pair", desc=f"corpus {config.size}", disable=not config.progress,
                   file=sys.stderr)
        with open(out / STATE, "a", encoding="utf-8") as state:
            if jobs == 1:
                _init_worker(config, str(out), table)
                results = map(_work, todo)
                pool = None
            else:
                ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
                pool = ctx.Pool(jobs, initializer=_init_forked_worker, initargs=(config, str(out), table))
                results = pool.imap_unordered(_work, todo, chunksize=4)
            try:
                for job, rows, error in results:
                    done[job] = {"rows": rows or [], "error": error}
                    state.write(json.dumps({"job": job, **done[job]}, ensure_ascii=False) + "\n")
                    state.flush()
                    bar.update(1)
            finally:
                bar.close()
                if pool is not None:
                    pool.terminate() if sys.exc_info()[0] else pool.close()
                    pool.join()
    failures = [done[p.job]["error"] for p in pairs if p.job in done and done[p.job]["error"]]
    summary.built = sum(1 for p in todo if p.job in done and not done[p.job]["error"])
    summary.failed = len(failures)
    if failures:
        atomic_write_text(out / FAILURES, "".join(f + "\n" for f in failures))
        log(f"{len(failures)} of {len(pairs)} pairs could not be made and are left out (reasons in {out / FAILURES})")
    elif (out / FAILURES).exists():
        (out / FAILURES).unlink()

    timings["synthesis"] = round(time.perf_counter() - step, 1)
    rows = [row for p in pairs if p.job in done for row in done[p.job]["rows"]]
    _write_manifest(out / MANIFEST, rows)
    for family in config.heldout_families:
        path = write_heldout_manifest(out, family)
        log(f"family {family} left out of train and dev: {path} (data specs csv:{path}:train | :dev | :eval)")
    summary.counts = corpus_counts(rows)
    summary.vocoders = {family: describe(job) for family, job in sorted(plan.vocoders.items())}
    summary.held_for_vocoders = len(plan.held)
    summary.seconds = time.perf_counter() - start
    summary.timings = {**timings, "total": round(summary.seconds, 1)}
    _write_info(out, config, summary, roots, generators)
    write_attribution(out, config, roots, generators)
    return summary


def _dedupe(clips: list) -> list:
    """Drop clips whose file has the same bytes as an earlier one (packages ship copies)."""
    seen, out = set(), []
    for c in sorted(clips, key=lambda c: c.key):
        digest = hashlib.sha1(Path(c.path).read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(c)
    return out


def family_of(generator: str) -> str:
    """The family of a generator configuration: ``world`` for ``world/dio``; ``-`` for bona fide rows."""
    return NO_GENERATOR if generator == NO_GENERATOR else generator.split("/")[0]


def heldout_rows(rows: list, family: str) -> list:
    """The manifest rows with ``family`` left out of training: every train and dev pair whose
    fake comes from that family is dropped, its real clip too (so both classes and the content
    stay matched); eval is kept whole, so its EER on the family measures a family never seen.

    Raises SpoofscanError when no fake of the corpus belongs to ``family`` (names the families there).
    """
    families = sorted({family_of(r["generator"]) for r in rows if r["label"] == SPOOF})
    if family not in families:
        raise choice_error("family to hold out", family, families)
    dropped = {r["pair"] for r in rows if r["label"] == SPOOF and r["split"] != "eval"
               and family_of(r["generator"]) == family}
    return [r for r in rows if r.get("pair") not in dropped]


def write_heldout_manifest(corpus: str | Path, family: str) -> Path:
    """Write ``manifest-heldout-FAMILY.csv`` beside a built corpus's ``manifest.csv`` (see
    :func:`heldout_rows`); no audio is made. Returns its path."""
    corpus = Path(corpus)
    with open(corpus / MANIFEST, newline="", encoding="utf-8") as f:
        order = [row["trial"] for row in csv.DictReader(f)]
    by_trial = {row["trial"]: row for entry in read_state(corpus).values() for row in entry["rows"]}
    missing = [t for t in order if t not in by_trial]
    if missing:
        raise SpoofscanError(f"{corpus / STATE} lacks {len(missing)} trial(s) of {corpus / MANIFEST} (e.g. "
                             f"{missing[0]}): rebuild the corpus before holding a family out")
    path = corpus / HELDOUT_MANIFEST.format(family=family)
    _write_manifest(path, heldout_rows([by_trial[t] for t in order], family))
    return path


def _write_manifest(path: Path, rows: list) -> None:
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows({**r, "family": family_of(r["generator"])} for r in rows)

    atomic_write(path, write)


def corpus_counts(rows: Iterable[dict]) -> dict:
    """Clips per split and label, per split and generator, per split and source."""
    counts: dict = {}
    for r in rows:
        c = counts.setdefault(r["split"], {"bonafide": 0, "spoof": 0, "seconds": 0.0, "generators": {},
                                           "sources": {}, "speakers": set()})
        c[r["label"]] += 1
        c["seconds"] += float(r.get("seconds", 0))
        if r["label"] == SPOOF:
            c["generators"][r["generator"]] = c["generators"].get(r["generator"], 0) + 1
        else:
            c["sources"][r["source"]] = c["sources"].get(r["source"], 0) + 1
            c["speakers"].add(r["speaker"])
    for c in counts.values():
        c["speakers"] = sorted(c["speakers"])
        c["seconds"] = round(c["seconds"], 1)
    return {s: counts[s] for s in SPLITS if s in counts}


def _write_info(out: Path, cfg: CorpusConfig, summary: BuildSummary, roots: dict, generators: dict) -> None:
    from .. import __version__
    info = {
        "spoofscan_version": __version__, "recipe_version": RECIPE_VERSION, "config": cfg.to_dict(),
        "packages": {name: package_version(root) for name, root in sorted(roots.items())},
        "generators": {role: [g.name for g in gens] for role, gens in generators.items()},
        "pairs": summary.pairs, "failed": summary.failed, "skipped_no_generator": summary.skipped_no_generator,
        "vocoders": summary.vocoders, "held_for_vocoders": summary.held_for_vocoders,
        "counts": summary.counts, "manifest": MANIFEST,
        "data_specs": {s: f"csv:{out / MANIFEST}:{s}" for s in summary.counts},
    }
    text = json.dumps(info, indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(out / INFO, text)


ATTRIBUTION_HEAD = """# Attribution and licences

This corpus was made by spoofscan's corpus recipe (`spoofscan corpus build`) for training and
evaluating detectors of synthetic speech. It holds **modified** copies of the recordings below:
every clip was decoded, resampled to 16 kHz mono, trimmed, padded with silence, mixed with a
low noise floor, sometimes band-limited to telephone bandwidth and changed in level. The fake
clips are new recordings made by the speech engines listed further down, most of them saying
the transcripts of the real clips or resynthesising them.

Each source keeps its own licence; the full licence texts and copyright notices shipped with
the Debian packages are copied into `licenses/`. If you share this corpus or parts of it,
keep this file and `licenses/` with it, and share the clips derived from CC-BY-SA sources
under CC-BY-SA as well.
"""


def write_attribution(out: Path, cfg: CorpusConfig, roots: dict, generators: dict) -> None:
    """Write ``ATTRIBUTION.md`` and copy each package's Debian copyright file into ``licenses/``."""
    lines = [ATTRIBUTION_HEAD, "## Real speech\n"]
    for name in cfg.sources:
        src = SOURCES[name]
        versions = ", ".join(f"{p} {package_version(roots[p])}" for p in src.packages if p in roots)
        lines += [f"### {src.title}\n", f"- Licence: {src.licence}", f"- Credits: {src.credits}",
                  f"- Debian packages: {versions}", ""]
        for package in src.packages:
            copyright_file = roots[package] / "usr/share/doc" / package / "copyright"
            if copyright_file.is_file():
                (out / "licenses").mkdir(exist_ok=True)
                shutil.copyfile(copyright_file, out / "licenses" / f"{package}.copyright")
    for folder in cfg.real_dirs:
        lines += [f"### Your recordings: {folder}\n", "- Licence and credits: as given by their owner.", ""]
    lines += ["## Synthetic speech engines\n"]
    engines = {g.engine: g.licence for gens in generators.values() for g in gens}
    lines += [f"- {engine}: {licence}" for engine, licence in sorted(engines.items())]
    lines += ["", "The texts the engines say are the transcripts of the real clips (same licences as above).", ""]
    atomic_write_text(out / ATTRIBUTION, "\n".join(lines))
