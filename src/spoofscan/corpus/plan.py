"""What a build makes, decided before any audio: which real clips, which split each goes to, which
generator fakes each, and which neural vocoders must be trained first.

Every choice is drawn from stable hashes of the seed and the clip (:func:`spoofscan.seeding.stable_seed`),
so the plan depends only on the config and the clips, never on the order of work or the machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from ..errors import SpoofscanError, choice_error
from ..fileio import default_cache_dir
from ..seeding import stable_seed
from .config import CorpusConfig
from .generators import Generator, builtin_generators
from .process import processing_key
from .sources import RealClip


@dataclass(frozen=True)
class Pair:
    """One unit of work: a real clip and the fake made from it, in one split."""

    job: str  # hash of everything the output depends on
    clip: RealClip
    split: str
    generator: str
    real_trial: str
    fake_trial: str
    text: Optional[str] = None  # what a text-to-speech fake says: the clip's transcript, or one borrowed
    text_from: str = ""  # the key of the clip whose transcript it borrows ("": its own, or none)


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

    def generator_table(self) -> dict:
        """Generator name -> the (bound) generator that makes it."""
        return {g.name: g for role in self.generators.values() for g in role}


def dedupe_clips(clips: list) -> list:
    """Drop clips whose file has the same bytes as an earlier one (packages ship copies), sorted by key."""
    seen, out = set(), []
    for c in sorted(clips, key=lambda c: c.key):
        digest = hashlib.sha1(Path(c.path).read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(c)
    return out


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
    """Keep at most ``max_speakers`` speakers and ``max_real`` clips, spread evenly over the sources
    (recording chains), and within a source over its speakers.

    Each source gets min(its clips, c) clips with c as large as the budget allows
    (:func:`_water_fill`), and shares them among its speakers the same way; clips are drawn in a
    seeded order, so the choice depends only on the seed.
    """
    by_speaker: dict = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).append(c)
    for members in by_speaker.values():
        members.sort(key=lambda c: stable_seed(cfg.seed, "pick", c.key))
    speakers = sorted(by_speaker, key=lambda s: stable_seed(cfg.seed, "speaker", s))
    if cfg.max_speakers:  # keep the speakers with the most transcripts (text-to-speech needs them)
        speakers = sorted(speakers, key=lambda s: -sum(c.text is not None for c in by_speaker[s]))[:cfg.max_speakers]
    by_source: dict = {}
    for s in speakers:
        by_source.setdefault(by_speaker[s][0].source, []).append(s)
    per_source = {src: sum(len(by_speaker[s]) for s in members) for src, members in by_source.items()}
    source_cap = _water_fill(per_source, cfg.max_real) if cfg.max_real else max(per_source.values())
    kept = []
    for src, members in by_source.items():
        counts = {s: len(by_speaker[s]) for s in members}
        cap = _water_fill(counts, source_cap) if per_source[src] > source_cap else max(counts.values())
        kept += [c for s in members for c in by_speaker[s][:cap]]
    if cfg.max_real and len(kept) > cfg.max_real:
        kept = sorted(kept, key=lambda c: stable_seed(cfg.seed, "trim", c.key))[:cfg.max_real]
    return sorted(kept, key=lambda c: c.key)


def can_fake(g: Generator, clip: RealClip, text: Optional[str] = None) -> bool:
    """Whether ``g`` can make a fake of ``clip``: copy-synthesis always; text-to-speech when there is a
    text to say (``text``, else the clip's transcript) in the clip's language, which ``g`` speaks."""
    return bool(g.needs == "audio" or ((text or clip.text) and g.supports(clip.language)))


def assign_splits(clips: list, cfg: CorpusConfig, eval_generators: Iterable[Generator] = ()) -> dict:
    """clip key -> split.

    Per source, whole speakers go to eval until ``eval_fraction`` of its clips are there
    (a source keeps at least one training speaker). Then, for each engine among
    ``eval_generators`` that could fake no eval clip (Flite speaks only English, say), the
    smallest training speaker it can fake moves to eval, if its source keeps another.
    The other clips go to dev with probability ``dev_fraction``, else to train.
    """
    by_source: dict = {}
    for c in clips:
        by_source.setdefault(c.source, {}).setdefault(c.speaker, []).append(c)
    eval_speakers = _eval_speakers(by_source, clips, cfg)
    _cover_eval_engines(eval_speakers, by_source, clips, list(eval_generators))
    split: dict = {}
    for c in clips:
        if c.speaker in eval_speakers:
            split[c.key] = "eval"
        else:
            roll = stable_seed(cfg.seed, "dev", c.key) / 2.0 ** 63
            split[c.key] = "dev" if roll < cfg.dev_fraction else "train"
    return split


def _eval_speakers(by_source: dict, clips: list, cfg: CorpusConfig) -> set:
    """The speakers held out for eval: per source, in a seeded order, until ``eval_fraction`` of its clips."""
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
    return eval_speakers


def _cover_eval_engines(eval_speakers: set, by_source: dict, clips: list, eval_generators: list) -> None:
    """For each eval engine that can fake no eval clip, move the smallest training speaker it can fake
    to ``eval_speakers`` (in place), if that speaker's source keeps another training speaker."""
    for engine in sorted({g.engine for g in eval_generators}):
        gens = [g for g in eval_generators if g.engine == engine]

        def can(c: RealClip) -> bool:
            return any(can_fake(g, c) for g in gens)

        if any(can(c) for c in clips if c.speaker in eval_speakers):
            continue
        movable = []
        for speakers in by_source.values():
            kept = [s for s in speakers if s not in eval_speakers]
            if len(kept) > 1:
                movable += [(len(speakers[s]), s) for s in kept if any(can(c) for c in speakers[s])]
        if movable:
            eval_speakers.add(min(movable)[1])


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


def pick_generator(clip: RealClip, candidates: list, seed: int, tts_share: float = 0.5,
                   text: Optional[str] = None, engine_weights: tuple = ()) -> Optional[Generator]:
    """A generator that can make a fake of ``clip`` (saying ``text``, else its transcript): the kind
    first (text-to-speech with probability ``tts_share`` when both kinds can), then an engine of that
    kind (uniformly, or in proportion to ``engine_weights``: (engine, weight) pairs, 1 for the
    others), then one of its configurations."""
    ok = [g for g in candidates if can_fake(g, clip, text)]
    if not ok:
        return None
    rng = np.random.default_rng(stable_seed(seed, "generator", clip.key))
    kinds = {needs: [g for g in ok if g.needs == needs] for needs in ("text", "audio")}
    if kinds["text"] and kinds["audio"]:
        ok = kinds["text"] if rng.random() < tts_share else kinds["audio"]
    engines = sorted({g.engine for g in ok})
    weights = np.array([dict(engine_weights).get(e, 1.0) for e in engines])
    if np.all(weights == weights[0]):
        engine = engines[int(rng.integers(len(engines)))]
    else:
        engine = engines[int(rng.choice(len(engines), p=weights / weights.sum()))]
    configs = [g for g in ok if g.engine == engine]
    return configs[int(rng.integers(len(configs)))]


def text_donors(clips: list, splits: dict) -> dict:
    """(language, split) -> the clips with a transcript there, in key order: whose texts a clip
    without one may borrow (:func:`borrowed_text`)."""
    donors: dict = {}
    for c in clips:
        if c.text:
            donors.setdefault((c.language, splits[c.key]), []).append(c)
    return donors


def borrowed_text(clip: RealClip, split: str, donors: dict, seed: int) -> tuple:
    """``(text, donor key)`` for a clip without a transcript: the transcript of a clip of the same
    language and split drawn by a stable hash of the clip; ``(None, "")`` when there is none."""
    pool = donors.get((clip.language, split), [])
    if clip.text or not pool:
        return None, ""
    donor = pool[stable_seed(seed, "donor", clip.key) % len(pool)]
    return donor.text, donor.key


def plan_pairs(clips: list, cfg: CorpusConfig, generators: dict, cache: Optional[Path] = None) -> Plan:
    """The pairs to build (in a fixed order), the clips no generator could fake, the vocoders needed.

    When a generator among ``generators`` runs on a vocoder the build trains (its
    ``trained_vocoder``), a seeded share of the train split is held back to train the vocoders
    (:func:`spoofscan.corpus.vocoder_jobs.held_clips`); those clips get their fakes from the
    other engines.
    """
    splits = assign_splits(clips, cfg, generators["eval"])
    generators, jobs, held = _bind_vocoders(clips, splits, cfg, generators, cache)
    table = {g.name: g for role in generators.values() for g in role}
    processing = json.dumps(processing_key(cfg), sort_keys=True)
    donors = text_donors(clips, splits) if cfg.borrow_texts else {}
    pairs, skipped = [], 0
    for clip in clips:
        split = splits[clip.key]
        candidates = generators["eval" if split == "eval" else "train"]
        if clip.key in held:
            candidates = [g for g in candidates if not g.trained_vocoder]
        borrowed, donor = borrowed_text(clip, split, donors, cfg.seed)
        g = pick_generator(clip, candidates, cfg.seed, cfg.tts_share, borrowed, cfg.engine_weights)
        if g is None:
            skipped += 1
            continue
        text, donor = (clip.text, "") if g.needs == "audio" or not borrowed else (borrowed, donor)
        spec = table[g.name].fingerprint()
        job = hashlib.sha256(json.dumps([clip.key, text, clip.language, clip.speaker, split, g.name, spec,
                                         processing]).encode()).hexdigest()[:20]
        real_trial = "clip_" + hashlib.sha256(f"real|{clip.key}".encode()).hexdigest()[:12]
        fake_trial = "clip_" + hashlib.sha256(f"fake|{clip.key}|{g.name}".encode()).hexdigest()[:12]
        pairs.append(Pair(job, clip, split, g.name, real_trial, fake_trial, text, donor))
    return Plan(pairs, skipped, generators, jobs, held)


def _bind_vocoders(clips: list, splits: dict, cfg: CorpusConfig, generators: dict, cache: Optional[Path]):
    """The generators with each one that runs on a trained vocoder bound to its (planned) vocoder;
    the vocoder jobs (family -> VocoderJob) and the keys of the clips held back to train them."""
    from .vocoder_jobs import held_clips, plan_vocoders

    families = sorted({g.trained_vocoder for role in generators.values() for g in role} - {""})
    if not families:
        return generators, {}, set()
    held = held_clips(clips, splits, cfg.vocoder_recipe, cfg.seed, cfg.vocoder_clips)
    jobs = plan_vocoders(families, clips, splits, held, recipe=cfg.vocoder_recipe, seed=cfg.seed,
                         steps=cfg.vocoder_steps, device=cfg.vocoder_device, cache=cache or default_cache_dir())
    bound = {role: [g.bound(jobs[g.trained_vocoder].weights, jobs[g.trained_vocoder].key) if g.trained_vocoder
                    else g for g in gens] for role, gens in generators.items()}
    return bound, jobs, held
