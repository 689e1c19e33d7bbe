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

    table : generator name -> the Generator that makes it. On leaving the block the pool is
    closed, or terminated when the block raised.
    """
    if processes == 1:
        _init_worker(cfg, str(out), table)
        yield map(_work, pairs)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ctx.Pool(processes, initializer=_init_forked_worker, initargs=(cfg, str(out), table))
    try:
        yield pool.imap_unordered(_work, pairs, chunksize=CHUNK_SIZE)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()
