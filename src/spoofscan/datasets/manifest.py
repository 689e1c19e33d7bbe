"""A CSV manifest: `path,label[,trial][,split][,segments][,group columns...]`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import SpoofscanError
from ..labels import normalize_label
from .records import Record, finish_records, group_value, parse_segments, read_csv_table

CSV_REQUIRED = ("path", "label")
CSV_RESERVED = ("path", "label", "trial", "split", "segments")


def load_csv_manifest(path, split: Optional[str] = None) -> list:
    """A CSV manifest with a header line: ``path,label[,trial][,split][,group columns...]``.

    - ``path``: the audio file; relative paths are resolved against the CSV's folder;
    - ``label``: any spelling :func:`spoofscan.labels.normalize_label` knows
      (bonafide/bona-fide/real/genuine, spoof/fake/deepfake...);
    - ``trial`` (optional): the trial id; default the ``path`` cell as written;
    - ``split`` (optional): with ``split`` given, only rows whose ``split`` equals it;
    - ``segments`` (optional): a partly fake clip's fake passages, ``START-END;START-END`` in
      seconds (:attr:`~spoofscan.datasets.records.Record.segments`); empty for other clips;
    - every other column becomes a group (empty cells -> ``-``).
    """
    manifest = Path(path).expanduser()
    if not manifest.is_file():
        raise SpoofscanError(f"CSV manifest {str(manifest)!r} does not exist")
    header, rows = read_csv_table(manifest)
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
        groups = {c: group_value(row.get(c)) for c in group_columns}
        segments = parse_segments(row.get("segments"), f"{manifest}:{number}")
        records.append(Record(trial, str(audio), label, groups, segments))
    where = f"{manifest} (split {split})" if split is not None else str(manifest)
    return finish_records(records, where)
