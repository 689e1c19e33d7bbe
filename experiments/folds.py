"""Folds of the generalisation experiments: what a fold leaves out of training, and what it measures.

A fold is named as its held-out manifest (``spoofscan.corpus.manifest.heldout_name``): ``all``
(nothing left out), a fake family (``pvoc``), a kind of fake (``tts``, ``copy``), a real-speech
source (``fillets``), or a source and a family together (``fillets+tts-hifigan``: a *cross* fold,
real speech from a recording chain and fakes from an engine family that training never saw).

What each fold measures, on the fold manifest's eval split (where a left-out source's real clips
all are), scored by the model as it ships (its calibration and threshold):

- ``eer_heldout``: EER of the left-out reals against the left-out fakes (cross folds: both unseen;
  the headline figure is its mean over the cross folds);
- ``eer_source_all``: EER of the left-out reals against every eval fake;
- ``eer_source_by_family``: EER of the left-out reals against each family's eval fakes (the
  family left out beside the ones training saw);
- ``called_fake``: the share of the left-out reals labelled fake at the model's threshold;
- ``eer_family`` / ``eer_kind``: EER of every eval real against the left-out family's or kind's fakes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ALL = "all"
KINDS = ("tts", "copy")


def corpus_values(manifest: Path) -> dict:
    """The sources (of real clips), families and kinds (of fakes) a manifest holds."""
    from spoofscan.corpus import family_of

    values = {"source": set(), "family": set(), "kind": set()}
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["label"] == "bonafide":
                values["source"].add(row["source"])
            else:
                values["family"].add(family_of(row["generator"]))
                values["kind"].add(row.get("kind", ""))
    return {k: sorted(v - {""}) for k, v in values.items()}


def fold_parts(fold: str, values: dict) -> dict:
    """What a fold leaves out: ``{"source": ..., "family": ..., "kind": ...}`` (the parts named);
    ``{}`` for ``all``. Raises SystemExit naming the valid names for an unknown part."""
    if fold == ALL:
        return {}
    parts = {}
    for name in fold.split("+"):
        what = next((k for k in ("source", "family", "kind") if name in values[k]), None)
        if what is None or what in parts:
            raise SystemExit(f"fold {fold!r}: {name!r} is not one source, family or kind of the corpus (sources "
                             f"{values['source']}, families {values['family']}, kinds {values['kind']})")
        parts[what] = name
    return parts


def write_fold_manifest(corpus: Path, fold: str, values: dict) -> Path:
    """The manifest a fold trains and evaluates on (written from the build state when it is missing)."""
    from spoofscan.corpus import write_heldout_manifest
    from spoofscan.corpus.manifest import heldout_name

    parts = fold_parts(fold, values)
    if not parts:
        return corpus / "manifest.csv"
    path = corpus / f"manifest-heldout-{heldout_name(**parts)}.csv"
    return path if path.is_file() else write_heldout_manifest(corpus, **parts)


def heldout_metrics(records: list, scores: dict, detector, parts: dict) -> dict:
    """The fold's measures (see the module docstring) from the eval records and their scores
    (trial -> score); measures whose classes are empty are left out."""
    from spoofscan.evaluation.metrics import compute_eer

    def scores_of(label: str, **match) -> np.ndarray:
        return np.array([scores[r.trial] for r in records if r.label == label and r.trial in scores
                         and all(r.groups.get(k) == v for k, v in match.items())], dtype=np.float64)

    out = {}
    fakes = scores_of("spoof")
    if "source" in parts:
        reals = scores_of("bonafide", source=parts["source"])
        if reals.size and fakes.size:
            out["eer_source_all"] = compute_eer(reals, fakes)[0]
            # the left-out reals against each family's eval fakes: a family left out and the ones seen side by side
            families = sorted({r.groups.get("family") for r in records if r.label == "spoof"} - {None})
            by_family = {f: scores_of("spoof", family=f) for f in families}
            out["eer_source_by_family"] = {f: compute_eer(reals, fakes)[0]
                                           for f, fakes in by_family.items() if fakes.size}
        if reals.size:
            p_fake = detector.calibration.p_fake(reals)
            out["called_fake"] = float(np.mean(p_fake >= detector.threshold))
            out["left_out_reals"] = int(reals.size)
    for what in ("family", "kind"):
        if what in parts:
            left_out = scores_of("spoof", **{what: parts[what]})
            every_real = scores_of("bonafide")
            if left_out.size and every_real.size:
                out[f"eer_{what}"] = compute_eer(every_real, left_out)[0]
            out[f"left_out_{what}_fakes"] = int(left_out.size)
            if "source" in parts and left_out.size and reals.size:
                out["eer_heldout"] = compute_eer(reals, left_out)[0]
    return out

