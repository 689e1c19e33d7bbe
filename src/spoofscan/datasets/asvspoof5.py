"""ASVspoof 5 track 1: `ASVspoof5.{train,dev.track_1,eval.track_1}.tsv` protocols."""

from __future__ import annotations

from pathlib import Path

from ..errors import choice_error
from .records import AudioLocator, LabelCache, Record, finish_records, require_dir, require_file, split_lines

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
    root = require_dir(Path(root).expanduser(), "ASVspoof 5 folder")
    name = _ASVSPOOF5_PROTOCOL[subset]
    protocol = require_file(
        [root / name, root / "ASVspoof5_protocols" / name, root / "protocols" / name],
        "ASVspoof 5 protocol", "; extract ASVspoof5_protocols.tar.gz into the ASVspoof 5 folder")
    labels = LabelCache()
    key_at = ASVSPOOF5_COLUMNS.index("KEY")
    rows = [(fields, labels(fields[key_at], lambda: f"{protocol}:{number}"))
            for number, fields in split_lines(protocol, ASVSPOOF5_COLUMNS)]
    if not rows:
        return finish_records([], str(protocol))
    audio = AudioLocator([_asvspoof5_audio_dir(root, subset, rows[0][0][1])])
    group_at = [(group, ASVSPOOF5_COLUMNS.index(col)) for col, group in _ASVSPOOF5_GROUPS.items()]
    records = [Record(fields[1], audio(fields[1]), label, {g: fields[i] for g, i in group_at})
               for fields, label in rows]
    return finish_records(records, str(protocol))
