"""The processes that make pairs: :func:`pair_results` runs :func:`~spoofscan.corpus.process.build_pair`
over a list of pairs, in this process or in a pool, and yields what each gave.

Each pair runs with one BLAS thread (more only contend, and may change results), and one that
fails is reported with its reason instead of stopping a long build. The number of processes
never changes the result: every pair draws from its own seed.

The neural vocoders the pairs need train in the same pool, side by side with the pairs that
need none (a ``quality`` vocoder trains for hours on one core: the other cores make pairs
meanwhile); a pair that needs a vocoder starts once it is trained.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator

from ..errors import SpoofscanError
from .config import CorpusConfig
from .process import build_pair
from .vocoder_jobs import done_line, start_line, train_job

CHUNK_SIZE = 4  # pairs handed to a worker process at a time

_WORKER: dict = {}  # what every call of _work needs: the config, the output folder, name -> generator


def _init_worker(cfg: CorpusConfig, out: str, table: dict) -> None:
    _WORKER.update(cfg=cfg, out=Path(out), table=table)


def _init_forked_worker(cfg: CorpusConfig, out: str, table: dict) -> None:
    if "torch" in sys.modules:  # a forked child of a process whose OpenMP pool ran (vocoder training, a
        sys.modules["torch"].set_num_threads(1)  # test): a parallel region there would hang, one thread never does
    _init_worker(cfg, out, table)


def _work(pair) -> tuple:
    """``(job, rows, None)`` for a pair made, ``(job, None, reason)`` for one that could not be."""
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


@contextlib.contextmanager
def pair_results(pairs: list, cfg: CorpusConfig, out: Path, table: dict, processes: int, vocoders: list = (),
                 log: Callable[[str], None] = print) -> Iterator[Iterator]:
    """Make ``pairs`` (:class:`~spoofscan.corpus.plan.Pair`) with ``processes`` processes (1: in this one);
    the block gets an iterator of ``(job, rows, error)``, in the order pairs finish.

    table : generator name -> the Generator that makes it.
    vocoders : :class:`~spoofscan.corpus.vocoder_jobs.VocoderJob` s to train first: in this process before
        any pair (``processes`` 1), or else in the pool beside the pairs that need none, each one's pairs
        starting once it is trained. Trained alike either way (one thread, its own seed). ``log`` gets
        each training's start and end lines. A training that fails raises its error: at once in this
        process, in a pool once the pairs that do not need it are made.

    A worker process that dies (killed for memory, or crashed in an engine's native code) ends the
    iteration with a :class:`~spoofscan.errors.SpoofscanError` instead of a wait without end; the
    pairs yielded until then stand. On leaving the block, pairs not started are cancelled.
    """
    if processes == 1:
        for job in vocoders:
            train_job(job, log)
        _init_worker(cfg, str(out), table)
        yield map(_work, pairs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    executor = ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init_forked_worker,
                                   initargs=(cfg, str(out), table))
    try:
        yield _finished(executor, pairs, table, vocoders, log)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _work_chunk(pairs: list) -> list:
    return [_work(pair) for pair in pairs]


def _train(job) -> dict:
    """:func:`~spoofscan.corpus.vocoder_jobs.train_job` in a worker process, with one BLAS thread like a pair."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return train_job(job)


def _finished(executor, pairs: list, table: dict, vocoders: list, log: Callable[[str], None]) -> Iterator[tuple]:
    """:func:`_work` of every pair on ``executor``, :data:`CHUNK_SIZE` pairs per task, yielded as tasks finish;
    the ``vocoders`` train first on it, and the pairs that need one are submitted once it is trained."""
    import queue
    from concurrent.futures.process import BrokenProcessPool

    finished = queue.SimpleQueue()  # every task, as it ends

    def submit(fn, *args):
        task = executor.submit(fn, *args)
        task.add_done_callback(finished.put)
        return task

    waiting = {job.family: [] for job in vocoders}
    ready = []
    for pair in pairs:
        waiting.get(table[pair.generator].trained_vocoder, ready).append(pair)
    trainings, failed = {}, None
    try:
        for job in vocoders:  # first in the queue: the longest tasks of the build
            log(start_line(job))
            trainings[submit(_train, job)] = job
        running = len(trainings) + _submit_chunks(submit, ready)
        while running:
            task, running = finished.get(), running - 1
            job = trainings.pop(task, None)
            if job is None:
                yield from task.result()
            elif task.exception() is None:
                log(done_line(task.result()))
                running += _submit_chunks(submit, waiting[job.family])
            elif isinstance(task.exception(), BrokenProcessPool):
                task.result()
            else:  # its pairs cannot be made: the others are, then the error ends the build
                failed = failed or task.exception()
    except BrokenProcessPool as e:
        raise SpoofscanError("a corpus worker process died while making pairs or training a vocoder (killed by "
                             "the system, for example for lack of memory, or crashed in an engine's native code); "
                             "the pairs made and vocoder checkpoints saved so far are kept: run the same command "
                             "again to make the rest (--jobs 1 needs the least memory)") from e
    if failed is not None:
        raise failed


def _submit_chunks(submit, pairs: list) -> int:
    """Submit ``pairs`` in tasks of :data:`CHUNK_SIZE`; returns how many tasks."""
    for i in range(0, len(pairs), CHUNK_SIZE):
        submit(_work_chunk, pairs[i:i + CHUNK_SIZE])
    return -(-len(pairs) // CHUNK_SIZE)
