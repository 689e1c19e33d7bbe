"""What a build has done so far: ``build_state.jsonl``, ``failures.txt`` and the :class:`BuildSummary`.

Reruns are idempotent: ``build_state.jsonl`` gets one line per finished pair, under a job key
that hashes everything its output depends on (:func:`spoofscan.corpus.plan.plan_pairs`), so a
rerun redoes only what is missing or changed. It is a journal, appended to as pairs finish
(a line at a time, flushed), so a killed build keeps what it made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, TextIO

from ..fileio import atomic_write_text

STATE = "build_state.jsonl"
FAILURES = "failures.txt"


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
    timings: dict = field(default_factory=dict)  # seconds: prepare, synthesis (the pairs and the vocoders they need), splicing, total


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


def is_done(out: Path, entry: Optional[dict]) -> bool:
    """Whether a pair's state ``entry`` (None: not built) is complete: every clip it wrote is still there."""
    return entry is not None and all((out / r["path"]).is_file() for r in entry["rows"])


def record(state: TextIO, job: str, entry: dict) -> None:
    """Append a finished pair's ``entry`` (``rows``, ``error``) to the open ``build_state.jsonl``, flushed."""
    state.write(json.dumps({"job": job, **entry}, ensure_ascii=False) + "\n")
    state.flush()


def write_failures(out: Path, failures: list) -> None:
    """``failures.txt``: one reason a line; removed when nothing failed."""
    if failures:
        atomic_write_text(out / FAILURES, "".join(f + "\n" for f in failures))
    elif (out / FAILURES).exists():
        (out / FAILURES).unlink()
