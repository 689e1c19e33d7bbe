"""Corpus loaders: protocol files to plain :class:`Record` lists.

Every loader returns records with the audio path, the label (``bonafide``/``spoof``) and
every grouping column its format has, so evaluation can break the EER down by any of them.
A corpus is named on the command line by a data spec ``CORPUS:PATH[:SUBSET]``, read by
:func:`load_records`; :data:`CORPORA` lists the corpora, their subsets and layouts.

Conventions shared by all loaders:

- group values are strings; a cell the corpus leaves empty or marks ``-`` (for example
  the attack column of a bona fide trial) is kept as :data:`NOT_APPLICABLE` (``"-"``), so
  a per-group breakdown shows bona fide trials under ``-`` rather than dropping them;
- every record of one loader has the same group columns;
- loaders raise :class:`~spoofscan.errors.SpoofscanError` for a missing or malformed
  protocol, an empty protocol and duplicate trial ids; they do not look at the audio.
  :func:`check_audio` (called by :func:`load_records` unless ``check_files=False``) reports
  missing audio files with their count and the first few names.

This module is torch-free.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from .audio import AUDIO_EXTENSIONS, audio_files
from .errors import SpoofscanError, choice_error
from .labels import BONAFIDE, SPOOF, normalize_label

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
    """

    trial: str
    path: str
    label: str
    groups: dict = field(default_factory=dict, compare=False, hash=False)


# --------------------------------------------------------------------------- helpers


def _group_value(text) -> str:
    """A protocol cell as a group value: stripped string, empty -> ``-``."""
    value = "" if text is None else str(text).strip()
    return value if value else NOT_APPLICABLE


def _first_existing(candidates: Iterable[Path]) -> Optional[Path]:
    for path in candidates:
        if path.exists():
            return path
    return None


def _require_file(candidates: list, what: str, hint: str = "") -> Path:
    """The first candidate that exists, else an error naming every place looked at."""
    found = _first_existing(candidates)
    if found is None or not found.is_file():
        tried = ", ".join(str(c) for c in candidates)
        raise SpoofscanError(f"{what} not found (looked for: {tried}){hint}")
    return found


def _require_dir(root: Path, what: str) -> Path:
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise SpoofscanError(f"{what} {str(root)!r} {state}")
    return root


def _split_lines(path: Path, columns: tuple):
    """Yield ``(line_number, fields)`` of a space-separated protocol with exactly ``columns``.

    Blank lines are skipped; a line with another column count raises, naming file and line.
    """
    want = len(columns)
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


class _Labels:
    """:func:`normalize_label` with a cache: protocols repeat two spellings a million times."""

    def __init__(self):
        self.known = {}

    def __call__(self, text: str, where) -> str:
        label = self.known.get(text)
        if label is None:
            label = self.known[text] = normalize_label(text, where())
        return label


def _finish(records: list, source: str) -> list:
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


class _AudioLocator:
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


# --------------------------------------------------------------------------- ASVspoof 2019 LA

ASVSPOOF2019_SUBSETS = ("train", "dev", "eval")
_ASVSPOOF2019_PROTOCOL = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
_ASVSPOOF2019_COLUMNS = ("SPEAKER_ID", "AUDIO_FILE_NAME", "-", "SYSTEM_ID", "KEY")


def load_asvspoof2019_la(root, subset: str) -> list:
    """ASVspoof 2019 logical access (LA), one of ``train``, ``dev``, ``eval``.

    Expected layout (as the official ``LA.zip`` extracts; ``root`` is the ``LA`` folder,
    or the folder holding it)::

        LA/
          ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt
                                       ASVspoof2019.LA.cm.dev.trl.txt
                                       ASVspoof2019.LA.cm.eval.trl.txt
          ASVspoof2019_LA_train/flac/LA_T_1138215.flac ...
          ASVspoof2019_LA_dev/flac/LA_D_*.flac
          ASVspoof2019_LA_eval/flac/LA_E_*.flac

    Protocol lines: ``SPEAKER_ID AUDIO_FILE_NAME - SYSTEM_ID KEY``, e.g.
    ``LA_0079 LA_T_1138215 - - bonafide``. Groups: ``speaker``, ``attack`` (A01-A19, ``-``
    for bona fide). Trial id: AUDIO_FILE_NAME.
    """
    if subset not in ASVSPOOF2019_SUBSETS:
        raise choice_error("ASVspoof 2019 LA subset", subset, ASVSPOOF2019_SUBSETS)
    root = _require_dir(Path(root).expanduser(), "ASVspoof 2019 LA folder")
    if not (root / "ASVspoof2019_LA_cm_protocols").is_dir() and (root / "LA").is_dir():
        root = root / "LA"
    name = f"ASVspoof2019.LA.cm.{_ASVSPOOF2019_PROTOCOL[subset]}.txt"
    protocol = _require_file([root / "ASVspoof2019_LA_cm_protocols" / name, root / name],
                             "ASVspoof 2019 LA protocol")
    audio = _AudioLocator([root / f"ASVspoof2019_LA_{subset}" / "flac"])
    labels = _Labels()
    records = []
    for number, (speaker, trial, _, system, key) in _split_lines(protocol, _ASVSPOOF2019_COLUMNS):
        label = labels(key, lambda: f"{protocol}:{number}")
        records.append(Record(trial, audio(trial), label, {"speaker": speaker, "attack": system}))
    return _finish(records, str(protocol))


# --------------------------------------------------------------------------- ASVspoof 2021 LA / DF

ASVSPOOF2021_TRACKS = ("LA", "DF")
ASVSPOOF2021_SUBSETS = ("eval", "progress", "hidden_track", "all")
ASVSPOOF2021_COLUMNS = {
    "LA": ("speaker", "trial", "codec", "transmission", "attack", "label", "trim", "subset"),
    "DF": ("speaker", "trial", "codec", "source", "attack", "label", "trim", "subset",
           "vocoder", "task", "team", "gender_pair", "language"),
}


def _asvspoof2021_key(root: Path, track: str) -> Path:
    relative = Path("keys") / track / "CM" / "trial_metadata.txt"
    candidates = []
    for base in (root, root.parent):                      # root, or root is the eval folder
        candidates += [base / relative,                   # keys tarball extracted here
                       base / f"{track}-keys-full" / relative]  # ... into a folder of its own
    candidates.append(root / "trial_metadata.txt")
    return _require_file(candidates, f"ASVspoof 2021 {track} key file",
                         f"; extract {track}-keys-full.tar.gz into {root}")


def _asvspoof2021_audio_dirs(root: Path, track: str) -> list:
    name = f"ASVspoof2021_{track}_eval"
    patterns = [
        f"{name}/flac",                     # all parts extracted into one folder (official)
        f"{name}_part*/{name}/flac",        # each part extracted into a folder of its own
        f"{name}_part*/flac",
        "flac",                             # root is the eval folder itself
    ]
    for pattern in patterns:
        found = sorted(p for p in root.glob(pattern) if p.is_dir())
        if found:
            return found
    return [root / name / "flac"]


def load_asvspoof2021(root, track: str, subset: str = "eval") -> list:
    """ASVspoof 2021 LA or DF evaluation data with its keys.

    Expected layout (``root`` holds both the extracted audio and the extracted keys)::

        root/
          ASVspoof2021_LA_eval/flac/LA_E_9332881.flac ...      (ASVspoof2021_LA_eval.tar.gz)
          ASVspoof2021_DF_eval/flac/DF_E_2000011.flac ...      (ASVspoof2021_DF_eval_part00..03.tar.gz,
                                                                all four extract into this folder)
          keys/LA/CM/trial_metadata.txt                        (LA-keys-full.tar.gz)
          keys/DF/CM/trial_metadata.txt                        (DF-keys-full.tar.gz)

    Also accepted: the keys under ``LA-keys-full/keys/...`` / ``DF-keys-full/keys/...``;
    ``root`` being ``ASVspoof2021_<track>_eval`` itself (audio in ``root/flac``, keys beside
    it in the parent folder); DF parts extracted one per folder
    (``ASVspoof2021_DF_eval_part00/ASVspoof2021_DF_eval/flac`` or
    ``ASVspoof2021_DF_eval_part00/flac``), where each folder is listed once to find a file.

    Key columns, LA (8): ``speaker trial codec transmission attack label trim subset``;
    DF (13): ``speaker trial codec source attack label trim subset vocoder task team
    gender_pair language``. Every column except trial and label becomes a group.

    ``subset``: ``eval`` (default: the official scorers count only these rows), ``progress``,
    ``hidden_track`` or ``all``.
    """
    track = str(track).upper()
    if track not in ASVSPOOF2021_TRACKS:
        raise choice_error("ASVspoof 2021 track", track, ASVSPOOF2021_TRACKS)
    if subset not in ASVSPOOF2021_SUBSETS:
        raise choice_error(f"ASVspoof 2021 {track} subset", subset, ASVSPOOF2021_SUBSETS)
    root = _require_dir(Path(root).expanduser(), f"ASVspoof 2021 {track} folder")
    key = _asvspoof2021_key(root, track)
    audio = _AudioLocator(_asvspoof2021_audio_dirs(root, track))
    columns = ASVSPOOF2021_COLUMNS[track]
    trial_at, label_at, subset_at = (columns.index(c) for c in ("trial", "label", "subset"))
    group_at = [(c, i) for i, c in enumerate(columns) if c not in ("trial", "label")]
    labels = _Labels()
    records = []
    # split() never yields empty cells, so the cells are used as group values directly
    for number, fields in _split_lines(key, columns):
        if subset != "all" and fields[subset_at] != subset:
            continue
        label = labels(fields[label_at], lambda: f"{key}:{number}")
        trial = fields[trial_at]
        records.append(Record(trial, audio(trial), label, {c: fields[i] for c, i in group_at}))
    return _finish(records, f"{key} (subset {subset})")


# --------------------------------------------------------------------------- ASVspoof 5

ASVSPOOF5_SUBSETS = ("train", "dev", "eval")
ASVSPOOF5_COLUMNS = ("SPEAKER_ID", "FLAC_FILE_NAME", "SPEAKER_GENDER", "CODEC", "CODEC_Q",
                     "CODEC_SEED", "ATTACK_TAG", "ATTACK_LABEL", "KEY", "TMP")
_ASVSPOOF5_PROTOCOL = {"train": "ASVspoof5.train.tsv", "dev": "ASVspoof5.dev.track_1.tsv",
                       "eval": "ASVspoof5.eval.track_1.tsv"}
_ASVSPOOF5_AUDIO = {"train": ("flac_T",), "dev": ("flac_D",), "eval": ("flac_E_eval", "flac_E")}
# protocol column -> group name (FLAC_FILE_NAME is the trial, KEY the label, CODEC_SEED only
# links coded copies to their source, TMP is unused)
_ASVSPOOF5_GROUPS = {"SPEAKER_ID": "speaker", "SPEAKER_GENDER": "gender", "CODEC": "codec",
                     "CODEC_Q": "codec_q", "ATTACK_TAG": "attack_tag", "ATTACK_LABEL": "attack"}


def _asvspoof5_audio_dir(root: Path, subset: str, first_trial: str) -> Path:
    for name in _ASVSPOOF5_AUDIO[subset]:
        if (root / name).is_dir():
            return root / name
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if (child / f"{first_trial}.flac").exists():
            return child
    return root / _ASVSPOOF5_AUDIO[subset][0]


def load_asvspoof5(root, subset: str) -> list:
    """ASVspoof 5 track 1 (stand-alone detection), one of ``train``, ``dev``, ``eval``.

    Expected layout (the public release: ``flac_T_*.tar`` -> ``flac_T/``, ``flac_D_*.tar``
    -> ``flac_D/``, ``flac_E_*.tar`` -> ``flac_E_eval/``, ``ASVspoof5_protocols.tar.gz`` ->
    the protocol files)::

        root/
          ASVspoof5.train.tsv  ASVspoof5.dev.track_1.tsv  ASVspoof5.eval.track_1.tsv
          flac_T/T_0000000000.flac ...
          flac_D/D_*.flac
          flac_E_eval/E_*.flac

    The protocol files may also sit in ``root/ASVspoof5_protocols/``. The audio folder is
    the known name (``flac_E`` is accepted for eval too); failing that, the subfolder of
    ``root`` that holds the first trial's ``.flac``.

    Protocol lines (space separated despite ``.tsv``): ``SPEAKER_ID FLAC_FILE_NAME
    SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP``. Groups:
    ``speaker``, ``gender``, ``codec``, ``codec_q``, ``attack_tag``, ``attack``.
    """
    if subset not in ASVSPOOF5_SUBSETS:
        raise choice_error("ASVspoof 5 subset", subset, ASVSPOOF5_SUBSETS)
    root = _require_dir(Path(root).expanduser(), "ASVspoof 5 folder")
    name = _ASVSPOOF5_PROTOCOL[subset]
    protocol = _require_file(
        [root / name, root / "ASVspoof5_protocols" / name, root / "protocols" / name],
        "ASVspoof 5 protocol", "; extract ASVspoof5_protocols.tar.gz into the ASVspoof 5 folder")
    labels = _Labels()
    key_at = ASVSPOOF5_COLUMNS.index("KEY")
    rows = [(fields, labels(fields[key_at], lambda: f"{protocol}:{number}"))
            for number, fields in _split_lines(protocol, ASVSPOOF5_COLUMNS)]
    if not rows:
        return _finish([], str(protocol))
    audio = _AudioLocator([_asvspoof5_audio_dir(root, subset, rows[0][0][1])])
    group_at = [(group, ASVSPOOF5_COLUMNS.index(col)) for col, group in _ASVSPOOF5_GROUPS.items()]
    records = [Record(fields[1], audio(fields[1]), label, {g: fields[i] for g, i in group_at})
               for fields, label in rows]
    return _finish(records, str(protocol))


# --------------------------------------------------------------------------- In-the-Wild

_ITW_COLUMNS = ("file", "speaker", "label")


def _read_csv(path: Path) -> tuple:
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


def load_in_the_wild(root) -> list:
    """In-the-Wild (Müller et al. 2022): ``meta.csv`` with header ``file,speaker,label``.

    Expected layout (``root`` is this folder, or the ``meta.csv`` in it)::

        release_in_the_wild/
          meta.csv          file,speaker,label   e.g. 0.wav,Alec Guinness,spoof
          0.wav 1.wav ...

    Labels ``spoof`` and ``bona-fide``. Trial id: the ``file`` cell as written (``0.wav``).
    Groups: ``speaker``.
    """
    root = Path(root).expanduser()
    meta = root if root.is_file() else root / "meta.csv"
    if not meta.is_file():
        raise SpoofscanError(f"In-the-Wild meta.csv not found at {meta} "
                             "(give the release_in_the_wild folder or its meta.csv)")
    header, rows = _read_csv(meta)
    missing = [c for c in _ITW_COLUMNS if c not in header]
    if missing:
        raise SpoofscanError(f"{meta}: missing column(s) {', '.join(missing)} "
                             f"(header has: {', '.join(header)}; expected file,speaker,label)")
    records = []
    for number, row in enumerate(rows, 2):
        trial = (row["file"] or "").strip()
        if not trial:
            raise SpoofscanError(f"{meta}:{number}: empty 'file' cell")
        label = normalize_label(row["label"], f"{meta}:{number}")
        records.append(Record(trial, str(meta.parent / trial), label,
                              {"speaker": _group_value(row["speaker"])}))
    return _finish(records, str(meta))


# --------------------------------------------------------------------------- folder of real/ + fake/

FOLDER_CLASSES = {"real": BONAFIDE, "bonafide": BONAFIDE, "bona-fide": BONAFIDE,
                  "bona_fide": BONAFIDE, "fake": SPOOF, "spoof": SPOOF}
"""Class sub-folder names (case-insensitive) that :func:`load_folder` reads, with their label."""


def load_folder(root) -> list:
    """A folder with class sub-folders ``real/`` + ``fake/`` or ``bonafide/`` + ``spoof/``.

    Folder names are matched case-insensitively (see :data:`FOLDER_CLASSES`); other
    sub-folders are ignored. Audio files (any extension in
    :data:`spoofscan.audio.AUDIO_EXTENSIONS`) are found recursively; hidden files
    (``.``-prefixed, e.g. macOS ``._x.wav``) are skipped. Trial id: the path relative to
    ``root`` with ``/`` separators (``fake/elevenlabs/x.wav``).

    Group ``source``: the first folder below the class folder (``fake/elevenlabs/x.wav`` ->
    ``elevenlabs``; a file directly in the class folder -> ``-``). The column is present only
    when some file sits in such a sub-folder.
    """
    root = _require_dir(Path(root).expanduser(), "data folder")
    classes = sorted((child, FOLDER_CLASSES[child.name.lower()]) for child in root.iterdir()
                     if child.is_dir() and child.name.lower() in FOLDER_CLASSES)
    if not classes:
        found = sorted(c.name for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
        raise SpoofscanError(
            f"{root}: no class sub-folders (need real/ + fake/ or bonafide/ + spoof/; "
            f"found: {', '.join(found) or 'none'})")
    entries = []
    for folder, label in classes:
        for path in audio_files(folder):
            parts = path.relative_to(folder).parts
            source = parts[0] if len(parts) > 1 else NOT_APPLICABLE
            entries.append((path.relative_to(root).as_posix(), str(path), label, source))
    if not entries:
        names = ", ".join(folder.name for folder, _ in classes)
        raise SpoofscanError(f"{root}: no audio files in {names} "
                             f"(extensions: {', '.join(AUDIO_EXTENSIONS)})")
    with_source = any(source != NOT_APPLICABLE for *_, source in entries)
    records = [Record(trial, path, label, {"source": source} if with_source else {})
               for trial, path, label, source in entries]
    return _finish(records, str(root))


# --------------------------------------------------------------------------- CSV manifest

CSV_REQUIRED = ("path", "label")
CSV_RESERVED = ("path", "label", "trial", "split")


def load_csv_manifest(path, split: Optional[str] = None) -> list:
    """A CSV manifest with a header line: ``path,label[,trial][,split][,group columns...]``.

    - ``path``: the audio file; relative paths are resolved against the CSV's folder;
    - ``label``: any spelling :func:`spoofscan.labels.normalize_label` knows
      (bonafide/bona-fide/real/genuine, spoof/fake/deepfake...);
    - ``trial`` (optional): the trial id; default the ``path`` cell as written;
    - ``split`` (optional): with ``split`` given, only rows whose ``split`` equals it;
    - every other column becomes a group (empty cells -> ``-``).
    """
    manifest = Path(path).expanduser()
    if not manifest.is_file():
        raise SpoofscanError(f"CSV manifest {str(manifest)!r} does not exist")
    header, rows = _read_csv(manifest)
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise SpoofscanError(f"{manifest}: missing column(s) {', '.join(missing)} "
                             f"(header has: {', '.join(header) or 'nothing'}; "
                             "need path,label and optional trial, split, group columns)")
    if split is not None:
        if "split" not in header:
            raise SpoofscanError(f"{manifest}: split {split!r} asked for but the CSV has no "
                                 f"'split' column (columns: {', '.join(header)})")
        values = sorted({(row["split"] or "").strip() for row in rows})
        rows = [(n, row) for n, row in enumerate(rows, 2) if (row["split"] or "").strip() == split]
        if not rows:
            raise SpoofscanError(f"{manifest}: no row has split {split!r} "
                                 f"(values in the split column: {', '.join(values)})")
    else:
        rows = list(enumerate(rows, 2))
    group_columns = [c for c in header if c and c not in CSV_RESERVED]
    base = manifest.parent
    records = []
    for number, row in rows:
        written = (row["path"] or "").strip()
        if not written:
            raise SpoofscanError(f"{manifest}:{number}: empty 'path' cell")
        label = normalize_label(row["label"], f"{manifest}:{number}")
        trial = (row.get("trial") or "").strip() or written
        audio = Path(written).expanduser()
        audio = audio if audio.is_absolute() else base / audio
        groups = {c: _group_value(row.get(c)) for c in group_columns}
        records.append(Record(trial, str(audio), label, groups))
    where = f"{manifest} (split {split})" if split is not None else str(manifest)
    return _finish(records, where)


# --------------------------------------------------------------------------- registry and specs


@dataclass(frozen=True)
class Corpus:
    """One corpus a data spec can name.

    name : the CORPUS part of the spec
    title : human-readable name
    subsets : the SUBSET values accepted (empty: the corpus takes no subset; ``None``: any
        value, as for the CSV ``split`` column)
    default_subset : used when the spec has none (``None``: a subset must be given)
    example : a spec for the docs
    load : ``load(path, subset) -> list[Record]``
    """

    name: str
    title: str
    subsets: Optional[tuple]
    default_subset: Optional[str]
    example: str
    load: Callable = field(repr=False, compare=False)


CORPORA = {c.name: c for c in (
    Corpus("asvspoof2019la", "ASVspoof 2019 LA", ASVSPOOF2019_SUBSETS, None,
           "asvspoof2019la:/data/LA:train", load_asvspoof2019_la),
    Corpus("asvspoof2021la", "ASVspoof 2021 LA (eval data + keys)", ASVSPOOF2021_SUBSETS, "eval",
           "asvspoof2021la:/data/asvspoof2021:eval",
           lambda path, subset: load_asvspoof2021(path, "LA", subset)),
    Corpus("asvspoof2021df", "ASVspoof 2021 DF (eval data + keys)", ASVSPOOF2021_SUBSETS, "eval",
           "asvspoof2021df:/data/asvspoof2021:eval",
           lambda path, subset: load_asvspoof2021(path, "DF", subset)),
    Corpus("asvspoof5", "ASVspoof 5 track 1", ASVSPOOF5_SUBSETS, None,
           "asvspoof5:/data/asvspoof5:dev", load_asvspoof5),
    Corpus("itw", "In-the-Wild (release_in_the_wild/meta.csv)", (), None,
           "itw:/data/release_in_the_wild", lambda path, subset: load_in_the_wild(path)),
    Corpus("folder", "folder with real/ + fake/ (or bonafide/ + spoof/) sub-folders", (), None,
           "folder:/data/my_clips", lambda path, subset: load_folder(path)),
    Corpus("csv", "CSV manifest path,label[,trial][,split][,groups...]", None, None,
           "csv:/data/manifest.csv:test", load_csv_manifest),
)}
"""Every corpus a data spec can name, by name."""

CORPUS_ALIASES = {"in-the-wild": "itw", "inthewild": "itw", "asvspoof2019": "asvspoof2019la"}


def spec_help() -> str:
    """One line per corpus: name, subsets and an example spec (for CLI help and docs)."""
    lines = ["data spec: CORPUS:PATH[:SUBSET]"]
    for corpus in CORPORA.values():
        if corpus.subsets is None:
            subsets = "SUBSET = value of the 'split' column (optional)"
        elif not corpus.subsets:
            subsets = "no subset"
        else:
            default = f", default {corpus.default_subset}" if corpus.default_subset else ", required"
            subsets = f"SUBSET {'|'.join(corpus.subsets)}{default}"
        lines.append(f"  {corpus.name:15s} {corpus.title}; {subsets}; e.g. {corpus.example}")
    return "\n".join(lines)


def parse_spec(spec: str) -> tuple:
    """Split a data spec into ``(corpus, path, subset)``.

    The corpus is the text before the first ``:`` (case-insensitive; aliases
    ``in-the-wild``, ``asvspoof2019``). The subset is the text after the last ``:`` only
    when it is a valid subset of that corpus, so paths may themselves contain ``:``
    (``asvspoof5:/mnt/a:b/asvspoof5:dev`` -> path ``/mnt/a:b/asvspoof5``, subset ``dev``).
    For ``csv`` any text after the last ``:`` is the split, unless the whole remainder
    names an existing file. A trailing ``:WORD`` (no ``/`` in it) that is not a subset of
    the corpus is reported as a bad subset, naming the valid ones, unless the whole
    remainder exists on disk (then it is the path). Corpora whose subset is required
    (``asvspoof2019la``, ``asvspoof5``) raise when none is given.
    """
    text = str(spec).strip()
    name, sep, rest = text.partition(":")
    if not sep or not rest:
        raise SpoofscanError(f"bad data spec {spec!r}: expected CORPUS:PATH[:SUBSET] "
                             f"with CORPUS one of {', '.join(CORPORA)} "
                             f"(e.g. folder:{text or 'PATH'} or csv:manifest.csv)")
    key = CORPUS_ALIASES.get(name.lower(), name.lower())
    if key not in CORPORA:
        raise choice_error("corpus", name, CORPORA)
    corpus = CORPORA[key]
    head, colon, tail = rest.rpartition(":")
    subset = None
    path = rest
    if colon and head:
        if corpus.subsets is None:            # csv: any split value
            if not Path(rest).expanduser().is_file():
                path, subset = head, tail
        elif tail in corpus.subsets:
            path, subset = head, tail
        elif "/" not in tail and not Path(rest).expanduser().exists():
            if corpus.subsets:
                raise choice_error(f"{key} subset", tail, corpus.subsets)
            raise SpoofscanError(f"{key} takes no subset (got {tail!r} in {spec!r}; "
                                 f"and no file or folder {rest!r} exists)")
    if subset is None and corpus.subsets:
        subset = corpus.default_subset
        if subset is None:
            raise SpoofscanError(f"data spec {spec!r} needs a subset: {key}:PATH:SUBSET with "
                                 f"SUBSET one of {', '.join(corpus.subsets)}")
    return key, path, subset


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


def load_records(spec: str, *, check_files: bool = True) -> list:
    """Load the records a data spec ``CORPUS:PATH[:SUBSET]`` names (see :func:`parse_spec`).

    With ``check_files`` (default) a missing audio file raises an error with the count and
    the first names; ``check_files=False`` skips that (e.g. to read labels for scoring a
    score file without the audio).
    """
    key, path, subset = parse_spec(spec)
    records = CORPORA[key].load(path, subset)
    if check_files:
        check_audio(records, spec)
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
