"""Data specs ``CORPUS:PATH[:SUBSET]``: the registry of corpora a spec can name, and
:func:`load_records`, the one way every command reads labelled data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import SpoofscanError, choice_error
from .asvspoof5 import ASVSPOOF5_SUBSETS, load_asvspoof5
from .asvspoof2019 import ASVSPOOF2019_SUBSETS, load_asvspoof2019_la
from .asvspoof2021 import ASVSPOOF2021_SUBSETS, load_asvspoof2021
from .folder import load_folder
from .in_the_wild import load_in_the_wild
from .manifest import load_csv_manifest
from .records import check_audio


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
