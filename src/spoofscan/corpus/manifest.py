"""What a built corpus says about itself: ``manifest.csv``, the held-out manifests, ``corpus.json``.

The manifest has one row per clip (:data:`MANIFEST_COLUMNS`); read it with the data spec
``csv:OUT/manifest.csv:train``. A held-out manifest is the same corpus with a fake family, a kind
of fake or a real-speech source (or a source and a family together) left out of train and dev
(:func:`heldout_rows`): ``manifest-heldout-NAME.csv``, NAME the names left out joined by ``+``.
``corpus.json`` holds the config, the package versions, the generators and the counts
(:func:`corpus_counts`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

from ..errors import SpoofscanError, choice_error
from ..fileio import atomic_write, atomic_write_text
from ..labels import BONAFIDE, SPOOF
from .config import RECIPE_VERSION, CorpusConfig
from .sources import package_version
from .state import STATE, BuildSummary, read_state

MANIFEST = "manifest.csv"
INFO = "corpus.json"
MANIFEST_COLUMNS = ("trial", "path", "label", "split", "source", "speaker", "language", "generator", "family",
                    "kind", "channel", "codec", "segments")
SPLITS = ("train", "dev", "eval")
NO_GENERATOR = "-"  # the generator column of bona fide rows (ASVspoof's convention for attacks)
HELDOUT_MANIFEST = "manifest-heldout-{name}.csv"  # the corpus with what NAME names left out of train and dev


def family_of(generator: str) -> str:
    """The family of a generator configuration: ``world`` for ``world/dio``; ``-`` for bona fide rows."""
    return NO_GENERATOR if generator == NO_GENERATOR else generator.split("/")[0]


def write_manifest(path: Path, rows: list) -> None:
    """Write ``rows`` (manifest rows, extra keys ignored) as a manifest CSV, with each row's ``family``."""
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows({**r, "family": family_of(r["generator"]), "kind": r.get("kind", ""),
                         "segments": r.get("segments", "")} for r in rows)

    atomic_write(path, write)


def heldout_rows(rows: list, family: str = "", source: str = "", kind: str = "") -> list:
    """The manifest rows with a fake ``family``, a ``kind`` of fake (``tts``, ``copy``) and/or a real
    ``source`` left out of training (what is not given is kept).

    - family, kind: every train and dev pair whose fake is of that family or kind is dropped, its
      real clip too (so both classes and the content stay matched);
    - source: every real clip of that source goes to eval (its train and dev clips move there,
      their fakes, made by training configurations, are dropped), so no clip, speaker or
      recording of the source is in train or dev.

    Eval is otherwise kept whole: its EER on what was left out measures something never seen.
    Raises SpoofscanError for a family, kind or source the corpus does not have (names those it has).
    """
    for what, value, column, label in (("family", family, "family", SPOOF), ("kind", kind, "kind", SPOOF),
                                       ("source", source, "source", BONAFIDE)):
        present = sorted({_value(r, column) for r in rows if r["label"] == label})
        if value and value not in present:
            raise choice_error(f"{what} to hold out", value, present)
    training = [r for r in rows if r["split"] != "eval"]
    dropped = {r["pair"] for r in training if r["label"] == SPOOF and
               ((family and _value(r, "family") == family) or (kind and _value(r, "kind") == kind))}
    dropped |= {r["pair"] for r in training if r.get("kind") == "partial" and _splice_holds(r, family, source, kind)}
    moved = {r["pair"] for r in training if source and r["label"] == BONAFIDE and r["source"] == source}
    out = []
    for r in rows:
        pair = r.get("pair")
        if pair in moved:
            if r["label"] == BONAFIDE:
                out.append({**r, "split": "eval"})
        elif pair not in dropped:
            out.append(r)
    return out


def heldout_name(family: str = "", source: str = "", kind: str = "") -> str:
    """The NAME of ``manifest-heldout-NAME.csv``: what is left out, source first, joined by ``+``."""
    name = "+".join(part for part in (source, family, kind) if part)
    if not name:
        raise SpoofscanError("a held-out manifest needs a family, a kind or a source to leave out")
    return name


def write_heldout_manifest(corpus: str | Path, family: str = "", source: str = "", kind: str = "") -> Path:
    """Write ``manifest-heldout-NAME.csv`` beside a built corpus's ``manifest.csv`` (see
    :func:`heldout_rows` and :func:`heldout_name`); no audio is made. Returns its path."""
    corpus = Path(corpus)
    with open(corpus / MANIFEST, newline="", encoding="utf-8") as f:
        order = [row["trial"] for row in csv.DictReader(f)]
    by_trial = {row["trial"]: row for entry in read_state(corpus).values() for row in entry["rows"]}
    missing = [t for t in order if t not in by_trial]
    if missing:
        raise SpoofscanError(f"{corpus / STATE} lacks {len(missing)} trial(s) of {corpus / MANIFEST} (e.g. "
                             f"{missing[0]}): rebuild the corpus before holding anything out")
    path = corpus / HELDOUT_MANIFEST.format(name=heldout_name(family, source, kind))
    write_manifest(path, heldout_rows([by_trial[t] for t in order], family, source, kind))
    return path


def _splice_holds(row: dict, family: str, source: str, kind: str) -> bool:
    """Whether a partly fake clip holds what is left out: the source's speech or one of the fakes."""
    families = row.get("fake_families", "").split(";")
    return (source and row["source"] == source) or (family and family in families) or kind == "copy"


def _value(row: dict, column: str) -> str:
    """A row's family, kind or other column (family derived from the generator when absent)."""
    return family_of(row["generator"]) if column == "family" else row.get(column, "")


def corpus_counts(rows: Iterable[dict]) -> dict:
    """Clips per split and label, per split and generator, kind of fake and real source."""
    counts: dict = {}
    for r in rows:
        c = counts.setdefault(r["split"], {"bonafide": 0, "spoof": 0, "seconds": 0.0, "generators": {},
                                           "kinds": {}, "sources": {}, "speakers": set()})
        c[r["label"]] += 1
        c["seconds"] += float(r.get("seconds", 0))
        if r["label"] == SPOOF:
            c["generators"][r["generator"]] = c["generators"].get(r["generator"], 0) + 1
            c["kinds"][r.get("kind", "")] = c["kinds"].get(r.get("kind", ""), 0) + 1
        else:
            c["sources"][r["source"]] = c["sources"].get(r["source"], 0) + 1
            c["speakers"].add(r["speaker"])
    for c in counts.values():
        c["speakers"] = sorted(c["speakers"])
        c["seconds"] = round(c["seconds"], 1)
    return {s: counts[s] for s in SPLITS if s in counts}


def write_info(out: Path, cfg: CorpusConfig, summary: BuildSummary, roots: dict, generators: dict) -> None:
    """Write ``corpus.json``: the config, package versions (``roots``: package -> unpacked folder), the
    generators of each role, the build's counts and the data specs of the splits."""
    from ..version import __version__

    info = {
        "spoofscan_version": __version__, "recipe_version": RECIPE_VERSION, "config": cfg.to_dict(),
        "packages": {name: package_version(root) for name, root in sorted(roots.items())},
        "generators": {role: [g.name for g in gens] for role, gens in generators.items()},
        "pairs": summary.pairs, "failed": summary.failed, "skipped_no_generator": summary.skipped_no_generator,
        "vocoders": summary.vocoders, "held_for_vocoders": summary.held_for_vocoders,
        "counts": summary.counts, "manifest": MANIFEST,
        "data_specs": {s: f"csv:{out / MANIFEST}:{s}" for s in summary.counts},
    }
    atomic_write_text(out / INFO, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
