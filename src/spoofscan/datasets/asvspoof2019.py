"""ASVspoof 2019 LA: protocol files `ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt`."""

from __future__ import annotations

from pathlib import Path

from ..errors import choice_error
from .records import AudioLocator, LabelCache, Record, finish_records, require_dir, require_file, split_lines

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
    root = require_dir(Path(root).expanduser(), "ASVspoof 2019 LA folder")
    if not (root / "ASVspoof2019_LA_cm_protocols").is_dir() and (root / "LA").is_dir():
        root = root / "LA"
    name = f"ASVspoof2019.LA.cm.{_ASVSPOOF2019_PROTOCOL[subset]}.txt"
    protocol = require_file([root / "ASVspoof2019_LA_cm_protocols" / name, root / name],
                             "ASVspoof 2019 LA protocol")
    audio = AudioLocator([root / f"ASVspoof2019_LA_{subset}" / "flac"])
    labels = LabelCache()
    records = []
    for number, (speaker, trial, _, system, key) in split_lines(protocol, _ASVSPOOF2019_COLUMNS):
        label = labels(key, lambda: f"{protocol}:{number}")
        records.append(Record(trial, audio(trial), label, {"speaker": speaker, "attack": system}))
    return finish_records(records, str(protocol))
