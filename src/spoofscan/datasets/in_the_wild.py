"""In-the-Wild: `release_in_the_wild/meta.csv` (`file,speaker,label`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import SpoofscanError
from ..labels import normalize_label
from .records import Record, finish_records, group_value, read_csv_table

_ITW_COLUMNS = ("file", "speaker", "label")


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
    header, rows = read_csv_table(meta)
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
                              {"speaker": group_value(row["speaker"])}))
    return finish_records(records, str(meta))
