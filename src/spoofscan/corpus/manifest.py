"""What a built corpus says about itself: ``manifest.csv``, the held-out-family manifests, ``corpus.json``.

The manifest has one row per clip (:data:`MANIFEST_COLUMNS`); read it with the data spec
``csv:OUT/manifest.csv:train``. ``manifest-heldout-FAMILY.csv`` is the same corpus with one fake
family left out of train and dev (:func:`heldout_rows`). ``corpus.json`` holds the config, the
package versions, the generators and the counts (:func:`corpus_counts`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

from ..errors import SpoofscanError, choice_error
from ..fileio import atomic_write, atomic_write_text
from ..labels import SPOOF
from .config import RECIPE_VERSION, CorpusConfig
from .sources import package_version
from .state import STATE, BuildSummary, read_state

MANIFEST = "manifest.csv"
INFO = "corpus.json"
MANIFEST_COLUMNS = ("trial", "path", "label", "split", "source", "speaker", "language", "generator", "family",
                    "channel", "codec")
SPLITS = ("train", "dev", "eval")
NO_GENERATOR = "-"  # the generator column of bona fide rows (ASVspoof's convention for attacks)
HELDOUT_MANIFEST = "manifest-heldout-{family}.csv"  # the corpus with one family left out of train and dev


def family_of(generator: str) -> str:
    """The family of a generator configuration: ``world`` for ``world/dio``; ``-`` for bona fide rows."""
    return NO_GENERATOR if generator == NO_GENERATOR else generator.split("/")[0]


def write_manifest(path: Path, rows: list) -> None:
    """Write ``rows`` (manifest rows, extra keys ignored) as a manifest CSV, with each row's ``family``."""
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows({**r, "family": family_of(r["generator"])} for r in rows)

    atomic_write(path, write)


def heldout_rows(rows: list, family: str) -> list:
    """The manifest rows with ``family`` left out of training: every train and dev pair whose
    fake comes from that family is dropped, its real clip too (so both classes and the content
    stay matched); eval is kept whole, so its EER on the family measures a family never seen.

    Raises SpoofscanError when no fake of the corpus belongs to ``family`` (names the families there).
    """
    families = sorted({family_of(r["generator"]) for r in rows if r["label"] == SPOOF})
    if family not in families:
        raise choice_error("family to hold out", family, families)
    dropped = {r["pair"] for r in rows if r["label"] == SPOOF and r["split"] != "eval"
               and family_of(r["generator"]) == family}
    return [r for r in rows if r.get("pair") not in dropped]


def write_heldout_manifest(corpus: str | Path, family: str) -> Path:
    """Write ``manifest-heldout-FAMILY.csv`` beside a built corpus's ``manifest.csv`` (see
    :func:`heldout_rows`); no audio is made. Returns its path."""
    corpus = Path(corpus)
    with open(corpus / MANIFEST, newline="", encoding="utf-8") as f:
        order = [row["trial"] for row in csv.DictReader(f)]
    by_trial = {row["trial"]: row for entry in read_state(corpus).values() for row in entry["rows"]}
    missing = [t for t in order if t not in by_trial]
    if missing:
        raise SpoofscanError(f"{corpus / STATE} lacks {len(missing)} trial(s) of {corpus / MANIFEST} (e.g. "
                             f"{missing[0]}): rebuild the corpus before holding a family out")
    path = corpus / HELDOUT_MANIFEST.format(family=family)
    write_manifest(path, heldout_rows([by_trial[t] for t in order], family))
    return path


def corpus_counts(rows: Iterable[dict]) -> dict:
    """Clips per split and label, per split and generator, per split and source."""
    counts: dict = {}
    for r in rows:
        c = counts.setdefault(r["split"], {"bonafide": 0, "spoof": 0, "seconds": 0.0, "generators": {},
                                           "sources": {}, "speakers": set()})
        c[r["label"]] += 1
        c["seconds"] += float(r.get("seconds", 0))
        if r["label"] == SPOOF:
            c["generators"][r["generator"]] = c["generators"].get(r["generator"], 0) + 1
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
