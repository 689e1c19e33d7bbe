"""The channel conditions of the robustness report, and scoring a detector under them.

A condition (:data:`CONDITIONS`, a fixed list so that reports stay comparable over time) is an
effect of :mod:`spoofscan.augment` whose settings leave nothing to draw: one codec, one noise
kind at one SNR, one room kind. No effect is written twice: the report degrades audio with the
classes training augments it with. The randomness of a condition (the noise, the room) comes only
from :func:`spoofscan.seeding.stable_seed` of (report seed, condition, trial), so a degraded clip
is exactly repeatable, whatever the order of the clips or the number of worker processes, and
every model scored with the same seed hears the same degraded audio.

:func:`score_conditions` decodes every clip once (to find the unreadable ones), then, condition by
condition, decodes and degrades each clip (in worker processes when asked) and scores it through
the detector's normal path (:meth:`spoofscan.detector.Detector.predict_arrays`: the same
windowing, batching, calibration and aggregation as ``predict`` and ``evaluate``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..audio import MIN_SECONDS, SAMPLE_RATE, load_audio
from ..augment.effects import CodecAugment, Effect, NoiseAugment, ReverbAugment, prepare_effects, restore_effects
from ..errors import SpoofscanError, choice_error
from ..progress import progress_bar
from ..seeding import stable_seed

DEFAULT_SEED = 0
CLEAN = "clean"
AHEAD_PER_JOB = 16  # degraded clips in flight per worker process (bounds memory)


@dataclass(frozen=True)
class Condition:
    """One channel condition.

    name : the name in reports (``mp3-32``, ``babble-5dB``...)
    effect : the :class:`spoofscan.augment.Effect` with fixed settings (:meth:`Effect.fixed_settings`),
        or None for the clean audio
    description : what it stands for, for the table
    """

    name: str
    effect: Effect | None
    description: str = ""

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The condition applied to ``x`` (float32 (samples,) at 16 kHz); same length and dtype.

        ``rng`` is the only randomness (noise samples, which room); codecs draw nothing.
        """
        return x if self.effect is None else self.effect.apply(x, rng, *self.effect.fixed_settings())

    def describe(self) -> dict:
        """``{"description", "effect", "setting", "value"}`` for the report: the effect's key (or
        ``clean``), the codec, noise kind or room kind, and the bit rate (kbit/s) or SNR (dB), None
        where there is none (whole numbers as integers)."""
        if self.effect is None:
            return {"description": self.description, "effect": CLEAN, "setting": "", "value": None}
        setting, *rest = self.effect.fixed_settings()
        value = rest[0] if rest else None
        value = int(value) if isinstance(value, float) and value.is_integer() else value
        return {"description": self.description, "effect": self.effect.key, "setting": setting, "value": value}


def _codec(choice: str) -> CodecAugment:
    return CodecAugment(p=1.0, choices=(choice,))


def _noise(kind: str, snr_db: float) -> NoiseAugment:
    return NoiseAugment(p=1.0, kinds=(kind,), snr_db=(snr_db, snr_db))


def _room(kind: str) -> ReverbAugment:
    return ReverbAugment(p=1.0, rooms=(kind,))


CONDITIONS = (
    Condition(CLEAN, None, "the audio as it is"),
    Condition("mp3-32", _codec("mp3:32"), "MP3 at 32 kbit/s (LAME, 16 kHz)"),
    Condition("mp3-128", _codec("mp3:128"), "MP3 at 128 kbit/s"),
    Condition("aac-64", _codec("aac:64"), "AAC-LC at 64 kbit/s"),
    Condition("opus-12", _codec("opus:12"), "Opus at 12 kbit/s"),
    Condition("phone-mulaw", _codec("mulaw"), "telephone line: 8 kHz G.711 mu-law"),
    Condition("gsm", _codec("gsm"), "GSM 06.10 full rate (8 kHz, 13 kbit/s)"),
    Condition("white-20dB", _noise("white", 20.0), "white noise at 20 dB SNR"),
    Condition("white-5dB", _noise("white", 5.0), "white noise at 5 dB SNR"),
    Condition("babble-20dB", _noise("babble", 20.0), "babble-like noise (6 generated talkers) at 20 dB SNR"),
    Condition("babble-5dB", _noise("babble", 5.0), "babble-like noise at 5 dB SNR"),
    Condition("room-small", _room("small"), "small simulated room, RT60 0.2-0.4 s"),
    Condition("room-large", _room("large"), "large simulated room (hall), RT60 0.7-1.0 s"),
)
CONDITION_NAMES = tuple(c.name for c in CONDITIONS)


def select_conditions(names: Iterable[str] | str | None = None) -> tuple[Condition, ...]:
    """The :data:`CONDITIONS` named (a list, or one comma-separated string), in the canonical order.

    None means all of them. Unknown names raise SpoofscanError listing the valid ones.
    """
    if names is None:
        return CONDITIONS
    if isinstance(names, str):
        names = names.split(",")
    wanted = [n.strip() for n in names if n.strip()]
    for name in wanted:
        if name not in CONDITION_NAMES:
            raise choice_error("condition", name, CONDITION_NAMES)
    if not wanted:
        raise SpoofscanError(f"no condition selected (choose from: {', '.join(CONDITION_NAMES)})")
    return tuple(c for c in CONDITIONS if c.name in wanted)


def condition_seed(seed: int, condition: str, trial: str) -> int:
    """The seed of one degraded clip: a stable hash of (report seed, condition name, trial name)."""
    return stable_seed("robustness", seed, condition, trial)


def degrade(x: np.ndarray, condition: Condition | str, *, seed: int = DEFAULT_SEED, trial: str = "") -> np.ndarray:
    """Clip ``x`` (float32 (samples,), 16 kHz) under ``condition`` (a :class:`Condition` or its name).

    The randomness is drawn from :func:`condition_seed` of (``seed``, the condition, ``trial``):
    the same clip, condition and seed always give the same samples. Same length and dtype out.
    """
    if isinstance(condition, str):
        condition = select_conditions([condition])[0]
    rng = np.random.default_rng(condition_seed(seed, condition.name, trial))
    return condition.apply(x, rng)


def prepare_conditions(conditions: Sequence[Condition], workers: bool) -> dict:
    """Check that every condition's effect runs here (codecs, packages) and do its set-up now: the
    codec delays, and with ``workers`` the rooms' impulse responses too (once, before the worker
    processes start; in a single process a room is simulated on first use). Returns the set-up
    for :func:`spoofscan.augment.effects.restore_effects` in the workers."""
    effects = [c.effect for c in conditions if c.effect is not None]
    for effect in effects:
        effect.check()
    return prepare_effects([e for e in effects if workers or not isinstance(e, ReverbAugment)])


# ---------------------------------------------------------------------------- scoring


@dataclass
class ConditionScores:
    """What scoring one condition gave: ``scores`` ``{trial: score}``; trials with no score
    (``no_score``) and trials the detector failed on (``failed``: ``{trial: reason}``); wall
    ``seconds``; ``cpu_seconds`` of this process (model, and degrading when it does that too);
    ``degrade_seconds``, the CPU time spent decoding and degrading (in whichever process)."""

    scores: dict = field(default_factory=dict)
    no_score: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    degrade_seconds: float = 0.0


def _decode_and_degrade(job: tuple) -> tuple:
    """Worker task: ``(index, trial, path, condition | None, seed, min_s, max_s)`` ->
    ``(index, waveform or sample count, error or None, CPU seconds of this thread)``. With no
    condition, only decode."""
    index, trial, path, condition, seed, min_s, max_s = job
    start = time.thread_time()
    try:
        x = load_audio(path, min_seconds=min_s, max_seconds=max_s, name=path)
    except SpoofscanError as e:
        return index, None, str(getattr(e, "reason", e)), time.thread_time() - start
    if condition is None:
        return index, len(x), None, time.thread_time() - start
    y = degrade(x, condition, seed=seed, trial=trial)
    return index, y, None, time.thread_time() - start


def _in_order(jobs: Iterable[tuple], pool, ahead: int) -> Iterator[tuple]:
    """Results of :func:`_decode_and_degrade` over ``jobs`` in order: in this process without a
    pool, else with at most ``ahead`` tasks in flight (memory stays bounded)."""
    if pool is None:
        yield from map(_decode_and_degrade, jobs)
        return
    jobs = iter(jobs)
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.apply_async(_decode_and_degrade, (job,)))
        if len(pending) >= ahead:
            break
    while pending:
        result = pending.popleft().get()
        job = next(jobs, None)
        if job is not None:
            pending.append(pool.apply_async(_decode_and_degrade, (job,)))
        yield result


def score_conditions(detector, records: Sequence, conditions: Sequence[Condition], *, seed: int = DEFAULT_SEED,
                     jobs: int = 0, progress: bool = True) -> tuple[list, dict, dict]:
    """Decode every record once to find the unreadable ones, then score each condition.

    Parameters
    ----------
    detector : a :class:`spoofscan.detector.Detector` (its ``min_seconds`` and ``max_seconds``
        decide which clips are readable)
    records : :class:`spoofscan.datasets.Record` list (unique trial names)
    conditions : the :class:`Condition` s to score, in order
    seed : the report seed (see :func:`degrade`)
    jobs : worker processes that decode and degrade while this process runs the model; 0:
        everything in this process
    progress : tqdm progress bars on standard error

    Returns
    -------
    ``(unreadable, results, timing)``: ``unreadable`` ``[(record, reason)]``; ``results``
    ``{condition name: ConditionScores}`` over the readable records; ``timing``
    ``{"setup_seconds", "decode_seconds", "audio_seconds"}``.
    """
    if jobs < 0:
        raise SpoofscanError(f"jobs must be >= 0 (0: degrade in this process), got {jobs}")
    limits = (getattr(detector, "min_seconds", MIN_SECONDS), getattr(detector, "max_seconds", None))
    start = time.perf_counter()
    setup = prepare_conditions(conditions, workers=jobs > 0)
    timing = {"setup_seconds": time.perf_counter() - start}
    pool = None
    if jobs > 0:
        import multiprocessing

        pool = multiprocessing.get_context().Pool(jobs, initializer=restore_effects, initargs=(setup,))
    ahead = max(1, jobs) * AHEAD_PER_JOB
    try:
        start = time.perf_counter()
        unreadable, readable, samples = _decode_all(records, seed, limits, pool, ahead, progress)
        timing["decode_seconds"] = time.perf_counter() - start
        timing["audio_seconds"] = samples / SAMPLE_RATE
        results = _score_all(detector, readable, conditions, seed, limits, pool, ahead, progress)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return unreadable, results, timing


def _decode_all(records: Sequence, seed: int, limits: tuple, pool, ahead: int, progress: bool) -> tuple:
    """Decode every record: ``([(record, reason)] unreadable, [record] readable, samples decoded)``."""
    unreadable, readable, samples = [], [], 0
    jobs = ((i, r.trial, r.path, None, seed, *limits) for i, r in enumerate(records))
    bar = progress_bar(total=len(records), unit="clip", desc="decode", enabled=progress, leave=False)
    for index, n, error, _ in _in_order(jobs, pool, ahead):
        if error is None:
            readable.append(records[index])
            samples += n
        else:
            unreadable.append((records[index], error))
        bar.update(1)
    bar.close()
    return unreadable, readable, samples


def _score_all(detector, records: Sequence, conditions: Sequence[Condition], seed: int, limits: tuple, pool,
               ahead: int, progress: bool) -> dict:
    """``{condition name: ConditionScores}``, the conditions scored one after the other."""
    results: dict[str, ConditionScores] = {}
    bar = progress_bar(total=len(records) * len(conditions), unit="clip", desc="robustness", enabled=progress)
    for condition in conditions:
        bar.set_postfix_str(condition.name, refresh=False)
        results[condition.name] = _score_condition(detector, records, condition, seed, limits, pool, ahead, bar)
    bar.close()
    return results


def _score_condition(detector, records: Sequence, condition: Condition, seed: int, limits: tuple, pool,
                     ahead: int, bar) -> ConditionScores:
    """Decode, degrade and score every record under one condition (see :func:`score_conditions`)."""
    out = ConditionScores()
    start, cpu = time.perf_counter(), time.process_time()
    jobs = ((i, r.trial, r.path, condition, seed, *limits) for i, r in enumerate(records))

    def degraded():
        for index, y, error, seconds in _in_order(jobs, pool, ahead):
            out.degrade_seconds += seconds
            trial = records[index].trial
            if error is None:
                yield trial, y
            else:  # read before, not now: the file changed under us
                out.failed[trial] = f"could not be decoded this time: {error}"
                bar.update(1)

    # like evaluate(): a trial whose degraded audio holds no speech is still scored, not dropped
    for result in detector.predict_arrays(degraded(), SAMPLE_RATE, score_no_speech=True):
        if not result.ok:
            out.failed[result.source] = result.error
        elif result.score is None or not math.isfinite(result.score):
            out.no_score.append(result.source)
        else:
            out.scores[result.source] = float(result.score)
        bar.update(1)
    out.seconds, out.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return out
