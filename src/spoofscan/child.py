"""Run a call into a native library in a forked child process, so that neither its crashes nor
its hidden state reach the caller, and its output depends only on its input.

Two native engines of the corpus builder need this:

- SVOX Pico's library (through py-nanotts) dies with a general protection fault on a few texts,
  and reads memory it never wrote: the same text gives different audio depending on what the
  process allocated and freed before (its 2.5 MB work area comes from ``malloc``, which reuses
  freed memory once glibc has raised its mmap threshold). In the child every ``malloc`` returns
  zero-filled memory (glibc's ``M_PERTURB``), as a fresh process's first allocations are.
- Codec 2's LPCNet draws random numbers from two generators: one whose state is a static
  variable of the library, seeded once per process (the same features synthesised twice in
  one process gave different audio), and libc's ``rand``, which other libraries seed and draw
  from too (importing pedalboard alone changed LPCNet's output, differently in every run). A
  child forked from a process that never called the library starts from its initial state,
  and the child seeds libc's ``rand`` as a fresh process has it (``srand(1)``).

Linux and macOS (``os.fork``); the child runs only ``fn``, no cleanup handlers (``os._exit``).
Zero-filled allocations need glibc; elsewhere the child runs without them. Measured: two builds
of the ``small`` corpus, ``--jobs 2`` and ``--jobs 1``, wrote the same audio files byte for byte.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys

from .errors import SpoofscanError

M_PERTURB = -6  # glibc's mallopt parameter: fill new allocations with the complement of this byte
ZERO_FILL = 0xFF  # ... so 0xFF gives zeros (and freed memory is filled with 0xFF)
RAND_SEED = 1  # libc's rand starts as if seeded with 1 (C standard)


def _as_a_fresh_process() -> None:
    """Put the process-wide state native libraries read without asking into a fresh process's
    condition: later ``malloc`` calls return zero-filled memory (glibc only) and libc's ``rand``
    restarts from its initial seed."""
    libc = ctypes.CDLL(None)
    libc.srand(RAND_SEED)
    try:
        libc.mallopt(M_PERTURB, ZERO_FILL)
    except AttributeError:  # not glibc
        pass


def call_in_child(fn, *args) -> bytes:
    """``fn(*args)`` (which returns bytes) in a forked child process, its result read back through a pipe.

    The child's allocations are zero-filled and libc's ``rand`` is reseeded (see the module's
    docstring), so a library that reads memory it never wrote or draws from ``rand`` gives the
    same output whatever the calling process did before; any state the call leaves in the
    library stays in the child. A crash costs only the call: raises
    :class:`~spoofscan.errors.SpoofscanError` naming the signal or the error (in a corpus build's
    worker pool a crash would otherwise kill the worker).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        code = 0
        try:
            faulthandler.disable()  # a crash is the parent's to report (pytest enables the handler)
            _as_a_fresh_process()
            data = fn(*args)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        except BaseException as e:  # noqa: BLE001 - reported to the parent through the exit code and stderr
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as result:
        data = result.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise SpoofscanError(f"the engine crashed ({signal.Signals(os.WTERMSIG(status)).name})")
    if os.WEXITSTATUS(status) != 0:
        raise SpoofscanError(f"the engine failed (exit status {os.WEXITSTATUS(status)}; its error is on stderr)")
    return data
