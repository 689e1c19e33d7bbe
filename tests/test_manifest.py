"""Held-out manifests (spoofscan.corpus.manifest.heldout_rows) on hand-made manifest rows: what a
family, a kind of fake or a source left out of training removes, partly fake clips included."""

from __future__ import annotations

import pytest

from spoofscan.corpus.manifest import heldout_rows
from spoofscan.errors import SpoofscanError


def _pair(name: str, split: str, source: str, generator: str, kind: str) -> list:
    """A real clip and its fake."""
    real = {"trial": name, "label": "bonafide", "split": split, "source": source, "generator": "-", "kind": "-",
            "pair": name}
    return [real, {**real, "trial": f"{name}-fake", "label": "spoof", "generator": generator, "kind": kind}]


def _spliced(name: str, split: str, source: str, fake_generators: tuple) -> dict:
    """A partly fake clip of ``source``'s speech with fakes of ``fake_generators``."""
    families = ";".join(sorted({g.split("/")[0] for g in fake_generators}))
    return {"trial": name, "label": "spoof", "split": split, "source": source, "kind": "partial", "pair": name,
            "generator": f"splice/{fake_generators[0]}", "fake_families": families}


ROWS = (_pair("a-world", "train", "A", "world/dio", "copy") + _pair("a-espeak", "train", "A", "espeak-ng/m3", "tts")
        + _pair("b-lpc", "train", "B", "lpc/o16", "copy") + _pair("b-world", "dev", "B", "world/harvest", "copy")
        + _pair("a-eval", "eval", "C", "mlsa/smooth", "copy")
        + [_spliced("s-a-world", "train", "A", ("world/dio",)), _spliced("s-b-lpc", "train", "B", ("lpc/o16",)),
           _spliced("s-b-both", "dev", "B", ("lpc/o16", "world/harvest")),
           _spliced("s-eval", "eval", "C", ("mlsa/x",))])
EVAL = [r for r in ROWS if r["split"] == "eval"]


def _training(rows: list) -> set:
    return {r["trial"] for r in rows if r["split"] in ("train", "dev")}


@pytest.mark.parametrize("what, kept", [
    ({"family": "world"}, {"a-espeak", "a-espeak-fake", "b-lpc", "b-lpc-fake", "s-b-lpc"}),
    ({"family": "lpc"}, {"a-world", "a-world-fake", "a-espeak", "a-espeak-fake", "b-world", "b-world-fake",
                         "s-a-world"}),
    ({"family": "splice"}, {"a-world", "a-world-fake", "a-espeak", "a-espeak-fake", "b-lpc", "b-lpc-fake", "b-world",
                            "b-world-fake"}),
    ({"kind": "copy"}, {"a-espeak", "a-espeak-fake"}),  # every spliced clip holds copy-synthesis fakes
    ({"kind": "tts"}, {"a-world", "a-world-fake", "b-lpc", "b-lpc-fake", "b-world", "b-world-fake", "s-a-world",
                       "s-b-lpc", "s-b-both"}),
    ({"kind": "partial"}, {"a-world", "a-world-fake", "a-espeak", "a-espeak-fake", "b-lpc", "b-lpc-fake", "b-world",
                           "b-world-fake"}),
    ({"source": "A"}, {"b-lpc", "b-lpc-fake", "b-world", "b-world-fake", "s-b-lpc", "s-b-both"}),
    ({"source": "B"}, {"a-world", "a-world-fake", "a-espeak", "a-espeak-fake", "s-a-world"}),
    ({"source": "B", "family": "world"}, {"a-espeak", "a-espeak-fake"}),
])
def test_a_spliced_clip_leaves_training_with_what_it_holds(what, kept):
    rows = heldout_rows([dict(r) for r in ROWS], **what)
    assert _training(rows) == kept
    source = what.get("source")
    moved = {r["trial"] for r in ROWS if source and r["source"] == source and r["label"] == "bonafide"
             and r["split"] != "eval"}  # a held-out source's real clips go to eval, nothing else joins it
    eval_rows = [r for r in rows if r["split"] == "eval"]
    assert [r for r in eval_rows if r["trial"] not in moved] == EVAL  # eval is kept whole, partly fake clips too
    assert {r["trial"] for r in eval_rows} - {r["trial"] for r in EVAL} == moved


def test_holding_out_what_the_corpus_lacks_names_what_it_has():
    with pytest.raises(SpoofscanError, match=r"unknown family to hold out 'flite' \(choose from: espeak-ng, lpc, "
                                             r"mlsa, splice, world\)"):
        heldout_rows(list(ROWS), family="flite")
    with pytest.raises(SpoofscanError, match=r"unknown source to hold out 'D' \(choose from: A, B, C\)"):
        heldout_rows(list(ROWS), source="D")
