"""ASVspoof 2021 LA and DF: evaluation audio with the keys (`keys/{LA,DF}/CM/trial_metadata.txt`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import choice_error
from .records import AudioLocator, LabelCache, Record, finish_records, require_dir, require_file, split_lines

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
    return require_file(candidates, f"ASVspoof 2021 {track} key file",
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
    root = require_dir(Path(root).expanduser(), f"ASVspoof 2021 {track} folder")
    key = _asvspoof2021_key(root, track)
    audio = AudioLocator(_asvspoof2021_audio_dirs(root, track))
    columns = ASVSPOOF2021_COLUMNS[track]
    trial_at, label_at, subset_at = (columns.index(c) for c in ("trial", "label", "subset"))
    group_at = [(c, i) for i, c in enumerate(columns) if c not in ("trial", "label")]
    labels = LabelCache()
    records = []
    # split() never yields empty cells, so the cells are used as group values directly
    for number, fields in split_lines(key, columns):
        if subset != "all" and fields[subset_at] != subset:
            continue
        label = labels(fields[label_at], lambda: f"{key}:{number}")
        trial = fields[trial_at]
        records.append(Record(trial, audio(trial), label, {c: fields[i] for c, i in group_at}))
    return finish_records(records, f"{key} (subset {subset})")
