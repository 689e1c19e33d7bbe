"""The processes that make pairs: :func:`pair_results` runs :func:`~spoofscan.corpus.process.build_pair`
over a list of pairs, in this process or in a pool, and yields what each gave.

Each pair runs with one BLAS thread (more only contend, and may change results), and one that
fails is reported with its reason instead of stopping a long build. The number of processes
never changes the result: every pair draws from its own seed.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

from ..errors import SpoofscanError
from .config import CorpusConfig
from .process import build_pair

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
def pair_results(pairs: list, cfg: CorpusConfig, out: Path, table: dict, processes: int) -> Iterator[Iterator]:
    """Make ``pairs`` (:class:`~spoofscan.corpus.plan.Pair`) with ``processes`` processes (1: in this one);
    the block gets an iterator of ``(job, rows, error)``, in the order pairs finish.

    table : generator name -> the Generator that makes it. A worker process that dies (killed for
    memory, or crashed in an engine's native code) ends the iteration with a
    :class:`~spoofscan.errors.SpoofscanError` instead of a wait without end; the pairs yielded until
    then stand. On leaving the block, pairs not started are cancelled.
    """
    if processes == 1:
        _init_worker(cfg, str(out), table)
        yield map(_work, pairs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    executor = ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init_forked_worker,
                                   initargs=(cfg, str(out), table))
    try:
        yield _finished(executor, pairs)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _work_chunk(pairs: list) -> list:
    return [_work(pair) for pair in pairs]


def _finished(executor, pairs: list) -> Iterator[tuple]:
    """:func:`_work` of every pair on ``executor``, :data:`CHUNK_SIZE` pairs per task, yielded as tasks finish."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    tasks = [executor.submit(_work_chunk, pairs[i:i + CHUNK_SIZE]) for i in range(0, len(pairs), CHUNK_SIZE)]
    try:
        for task in as_completed(tasks):
            yield from task.result()
    except BrokenProcessPool as e:
        raise SpoofscanError("a corpus worker process died while making pairs (killed by the system, for "
                             "example for lack of memory, or crashed in an engine's native code); the pairs made "
                             "so far are kept: run the same command again to make the rest (--jobs 1 needs the "
                             "least memory)") from e
