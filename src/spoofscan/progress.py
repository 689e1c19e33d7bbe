"""Progress bars on standard error, one helper for every long loop (corpus build, training, evaluation...).

On a terminal this is tqdm's bar, redrawn in place. When standard error is a file or a pipe (a build
left running for hours with ``>> build.log 2>&1``, a CI log) a redrawn bar is one endless line of
carriage returns; there the bar is written as a plain line at most once a minute instead, and once
more when it ends::

    corpus full:  56%|█████▌    | 9737/17483 [2:39:50<32:17,  4.00pair/s]
"""

from __future__ import annotations

import sys
from typing import Iterable

LOG_INTERVAL_S = 60.0  # seconds between two lines when standard error is not a terminal


class _Lines:
    """A text stream that writes each of tqdm's redraws as its own line (carriage returns dropped,
    blank redraws such as a ``leave=False`` bar's clearing skipped)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(iterable: Iterable | None = None, *, desc: str, total: int | None = None, unit: str = "it",
                 enabled: bool = True, leave: bool = True, initial: int = 0):
    """A tqdm bar on standard error (disabled, and silent, when ``enabled`` is false): use it as tqdm,
    wrapped around ``iterable`` or updated by hand with ``total``. Standard error as it is at call time
    (so pytest's capture and redirections apply); a line a minute when it is not a terminal."""
    from tqdm import tqdm

    stream = sys.stderr
    if _is_terminal(stream):
        return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not enabled, leave=leave, initial=initial,
                    file=stream, dynamic_ncols=True)
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not enabled, leave=True, initial=initial,
                file=_Lines(stream), ncols=100, mininterval=LOG_INTERVAL_S, maxinterval=LOG_INTERVAL_S)
