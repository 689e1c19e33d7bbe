"""Corpus loaders: protocol files to plain :class:`Record` lists.

Every loader returns records with the audio path, the label (``bonafide``/``spoof``) and
every grouping column its format has, so evaluation can break the EER down by any of them.
A corpus is named on the command line by a data spec: ``CORPUS:PATH[:SUBSET]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
