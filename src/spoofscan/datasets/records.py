"""What every corpus loader shares: the :class:`Record`, protocol-reading helpers, the check
that the audio exists, and :func:`summarize`.

Conventions shared by all loaders:

- group values are strings; a cell the corpus leaves empty or marks ``-`` (for example
  the attack column of a bona fide trial) is kept as :data:`NOT_APPLICABLE` (``"-"``), so
  a per-group breakdown shows bona fide trials under ``-`` rather than dropping them;
- every record of one loader has the same group columns;
- loaders raise :class:`~spoofscan.errors.SpoofscanError` for a missing or malformed
  protocol, an empty protocol and duplicate trial ids; they do not look at the audio.
  :func:`check_audio` (called by :func:`spoofscan.datasets.load_records` unless
  ``check_files=False``) reports missing audio files with their count and the first few names.

This package is torch-free.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from ..errors import SpoofscanError
from ..labels import BONAFIDE, SPOOF, normalize_label

NOT_APPLICABLE = "-"
"""Group value for a column that does not apply to a trial (as the ASVspoof protocols write it)."""

MISSING_SHOWN = 5
"""How many missing audio files / duplicate trials an error message names."""

MAX_LISTED_VALUES = 40
""":func:`summarize` lists per-value counts for a group column with at most this many values."""


@dataclass(frozen=True)
class Record:
    """One trial.

    trial : the trial id written in score files (ASVspoof: the file name without extension)
    path : the audio file
    label : ``bonafide`` or ``spoof``
    groups : grouping columns, e.g. ``{"speaker": "LA_0079", "attack": "A07", "codec": "low_mp3"}``
    segments : for a partly fake clip (a ``spoof`` trial that is real speech with fake passages
        spliced in), the fake passages as ``(start, end)`` seconds, in order; ``()`` for a clip that
        is all real or all fake
    """

    trial: str
    path: str
    label: str
    groups: dict = field(default_factory=dict, compare=False, hash=False)
    segments: tuple = field(default=(), compare=False, hash=False)


def group_value(text) -> str:
    """A protocol cell as a group value: stripped string, empty -> ``-``."""
    value = "" if text is None else str(text).strip()
    return value if value else NOT_APPLICABLE


def first_existing(candidates: Iterable[Path]) -> Optional[Path]:
    for path in candidates:
        if path.exists():
            return path
    return None


def require_file(candidates: list, what: str, hint: str = "") -> Path:
    """The first candidate that exists, else an error naming every place looked at."""
    found = first_existing(candidates)
    if found is None or not found.is_file():
        tried = ", ".join(str(c) for c in candidates)
        raise SpoofscanError(f"{what} not found (looked for: {tried}){hint}")
    return found


def require_dir(root: Path, what: str) -> Path:
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise SpoofscanError(f"{what} {str(root)!r} {state}")
    return root


def split_lines(path: Path, columns: tuple):
    """Yield ``(line_number, fields)`` of a space-separated protocol with exactly ``columns``.

    Blank lines are skipped; a line with another column count raises, naming file and line.
    """
    want = len(columns)
    try:
        with open(path, encoding="utf-8-sig") as handle:  # -sig: a byte-order mark is not part of the first trial
            for number, line in enumerate(handle, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != want:
                    raise SpoofscanError(
                        f"{path}:{number}: expected {want} space-separated columns "
                        f"({' '.join(columns)}), found {len(fields)}: {line.strip()[:120]!r}")
                yield number, fields
    except UnicodeDecodeError as exc:
        raise SpoofscanError(f"{path}: not a UTF-8 text protocol file ({exc.reason})") from None


class LabelCache:
    """:func:`normalize_label` with a cache: protocols repeat two spellings a million times."""

    def __init__(self):
        self.known = {}

    def __call__(self, text: str, where) -> str:
        label = self.known.get(text)
        if label is None:
            label = self.known[text] = normalize_label(text, where())
        return label


def finish_records(records: list, source: str) -> list:
    """Reject an empty protocol and duplicate trial ids; return the records unchanged."""
    if not records:
        raise SpoofscanError(f"{source}: no trials (the protocol is empty or nothing matched)")
    counts = Counter(r.trial for r in records)
    duplicates = [trial for trial, n in counts.items() if n > 1]
    if duplicates:
        shown = ", ".join(duplicates[:MISSING_SHOWN])
        raise SpoofscanError(
            f"{source}: {len(duplicates)} trial id(s) occur more than once (first: {shown}); "
            "trial ids must be unique because score files are keyed by them")
    return records


class AudioLocator:
    """Find ``NAME + suffix`` in one or more audio folders.

    With one folder the path is built without touching the disk. With several (for
    example ASVspoof 2021 DF parts extracted side by side) each folder is listed once and
    a name goes to the folder holding it; names found nowhere go to the first folder, so
    :func:`check_audio` reports them as missing at the expected place.
    """

    def __init__(self, folders: list, suffix: str = ".flac"):
        self.folders = [str(f) for f in folders]
        self.suffix = suffix
        self.index = {}
        if len(self.folders) > 1:
            for folder in reversed(self.folders):
                for entry in os.scandir(folder):
                    self.index[entry.name] = folder

    def __call__(self, name: str) -> str:
        file_name = name + self.suffix
        return os.path.join(self.index.get(file_name, self.folders[0]), file_name)


def missing_audio(records: list) -> list:
    """Records whose audio file does not exist (each folder is listed once, not stat'ed per file).

    One bad entry spoils nothing else: an entry that cannot be looked at (a symbolic link
    loop, a dangling link) counts as missing itself, and the files of a folder that cannot be
    listed are checked one by one.
    """
    by_folder = defaultdict(list)
    for record in records:
        by_folder[os.path.dirname(record.path)].append(record)
    missing = []
    for folder, members in by_folder.items():
        try:
            entries = list(os.scandir(folder or "."))
        except OSError:
            missing.extend(r for r in members if not os.path.isfile(r.path))
            continue
        present = {entry.name for entry in entries if _is_file_entry(entry)}
        missing.extend(r for r in members if os.path.basename(r.path) not in present)
    order = {id(r): i for i, r in enumerate(records)}
    return sorted(missing, key=lambda r: order[id(r)])


def _is_file_entry(entry: os.DirEntry) -> bool:
    """Whether a folder entry is (or links to) something other than a folder; False when it
    cannot be looked at (a link loop, a dangling link)."""
    try:
        if entry.is_dir():  # no system call for a plain entry (the type comes with the listing)
            return False
        if entry.is_symlink():
            os.stat(entry.path)  # raises for a dangling link
        return True
    except OSError:
        return False


def check_audio(records: list, source: str = "") -> list:
    """Raise if any record's audio file is missing: count, total, first few paths, hint."""
    missing = missing_audio(records)
    if missing:
        shown = ", ".join(r.path for r in missing[:MISSING_SHOWN])
        folders = sorted({os.path.dirname(r.path) for r in missing})
        where = f" listed by {source}" if source else ""
        raise SpoofscanError(
            f"{len(missing)} of {len(records)} audio files{where} are missing (first: {shown}); "
            f"expected in {', '.join(folders[:3])}{' ...' if len(folders) > 3 else ''}. "
            "Hint: check that every archive of the corpus is downloaded and extracted at the "
            "layout the README describes, and that PATH points at the right folder")
    return records


def summarize(records: list) -> dict:
    """Counts for checkpoint cards and reports (JSON-ready).

    Returns ``{"trials": N, "labels": {"bonafide": n, "spoof": m}, "groups": {column:
    {"distinct": k, "counts": {value: n}}}}``; ``counts`` is left out for a column with more
    than :data:`MAX_LISTED_VALUES` values (e.g. speakers), where only ``distinct`` is given.
    """
    labels = Counter(r.label for r in records)
    layouts = dict.fromkeys(tuple(r.groups) for r in records)      # usually one per corpus
    names = list(dict.fromkeys(column for layout in layouts for column in layout))
    groups = {}
    for column in names:
        counts = Counter(r.groups.get(column, NOT_APPLICABLE) for r in records)
        entry = {"distinct": len(counts)}
        if len(counts) <= MAX_LISTED_VALUES:
            entry["counts"] = dict(sorted(counts.items()))
        groups[column] = entry
    return {"trials": len(records),
            "labels": {BONAFIDE: labels.get(BONAFIDE, 0), SPOOF: labels.get(SPOOF, 0)},
            "groups": groups}

def read_csv_table(path: Path) -> tuple:
    """``(header, rows)`` of a CSV file with a header line; a BOM is ignored.

    A row with fewer or more cells than the header raises, naming the line and the columns
    it lacks: a short row would otherwise read as empty cells further on.
    """
    rows = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            raw_header = next(reader, [])
            header = [h.strip() for h in raw_header]
            for cells in reader:
                if not cells:
                    continue
                if len(cells) != len(header):
                    lacks = (f"it lacks {', '.join(repr(h) for h in header[len(cells):])}" if len(cells) < len(header)
                             else f"{len(cells) - len(header)} more than the header")
                    raise SpoofscanError(f"{path}:{reader.line_num}: {len(cells)} cells for the header's "
                                         f"{len(header)} columns ({', '.join(header)}): {lacks}")
                # header cells are stripped so ' label' still counts as 'label'
                rows.append(dict(zip(header, cells)))
    except UnicodeDecodeError as exc:
        raise SpoofscanError(f"{path}: not a UTF-8 text CSV file ({exc.reason})") from None
    except csv.Error as exc:
        raise SpoofscanError(f"{path}: not a readable CSV file ({exc})") from None
    return header, rows


def parse_segments(text, where: str) -> tuple:
    """``"1.2-2.35;4-5.1"`` -> ``((1.2, 2.35), (4.0, 5.1))``: passages in seconds, each start < end,
    in order and not overlapping; ``""`` or ``-`` -> ``()``. Raises SpoofscanError naming ``where``."""
    text = (text or "").strip()
    if text in ("", "-"):
        return ()
    out = []
    for part in text.split(";"):
        try:
            start, end = (float(v) for v in part.split("-"))
        except ValueError:
            raise SpoofscanError(f"{where}: segments {text!r}: each passage is START-END in seconds, "
                                 "passages separated by ';'") from None
        if not 0 <= start < end or (out and start < out[-1][1]):
            raise SpoofscanError(f"{where}: segments {text!r}: passages must have 0 <= start < end, in order, "
                                 "without overlap")
        out.append((start, end))
    return tuple(out)


def format_segments(segments) -> str:
    """The manifest's form of :attr:`Record.segments`: ``"1.200-2.350;4.000-5.100"`` (``""`` for none)."""
    return ";".join(f"{a:.3f}-{b:.3f}" for a, b in segments)
