"""The corpus plan (spoofscan.corpus.plan) without audio: how a pair's generator is drawn, the kind
of fake first (``tts_share``), then the engine (``engine_weights``), on stand-in generators."""

from __future__ import annotations

from collections import Counter

import pytest

from spoofscan.corpus import CorpusConfig
from spoofscan.corpus.config import LIGHT_WEIGHTS
from spoofscan.corpus.generators import Generator
from spoofscan.corpus.plan import plan_pairs
from spoofscan.corpus.sources import RealClip
from spoofscan.errors import SpoofscanError


class Stub(Generator):
    """A generator that is never run: ``engine/config``, text-to-speech in English or copy-synthesis."""

    def __init__(self, name: str, needs: str):
        self.name, self.engine, self.needs = name, name.split("/")[0], needs

    def is_available(self) -> bool:
        return True

    def supports(self, language: str) -> bool:
        return language == "en"


def _generators(config: str) -> list:
    return [Stub(f"espeak-ng/{config}", "text"), Stub(f"tts-hifigan/{config}", "text"),
            Stub(f"world/{config}", "audio"), Stub(f"hifigan-v1/{config}", "audio")]


GENERATORS = {"train": _generators("a"), "eval": _generators("b")}


def _clips(english: int = 2400, french: int = 600) -> list:
    """Clips with transcripts, 20 per speaker: ``english`` the stubs can say, ``french`` they cannot."""
    return [RealClip(f"k{i:05d}", "src", f"/nowhere/{i}.wav", f"s{i // 20}", "en" if i < english else "fr",
                     f"sentence {i}") for i in range(english + french)]


def _engines(cfg: CorpusConfig, clips: list) -> tuple[Counter, Counter]:
    """The engines the plan draws: for the clips text-to-speech could say, for the others."""
    plan = plan_pairs(clips, cfg, GENERATORS)
    assert len(plan.pairs) == len(clips) and plan.skipped == 0
    sayable, other = Counter(), Counter()
    for p in plan.pairs:
        (sayable if p.clip.language == "en" else other)[p.generator.split("/")[0]] += 1
    return sayable, other


def _config(**kw) -> CorpusConfig:
    return CorpusConfig.from_dict({"sources": (), "real_dirs": ("x",), "borrow_texts": False, **kw})


def test_text_to_speech_makes_most_fakes_where_it_can_by_default():
    cfg = _config()
    assert cfg.engine_weights == LIGHT_WEIGHTS and cfg.tts_share >= 0.5  # the small size's defaults
    sayable, other = _engines(cfg, _clips())
    tts = sayable["espeak-ng"] + sayable["tts-hifigan"]
    assert tts >= 0.5 * sum(sayable.values())
    assert tts / sum(sayable.values()) == pytest.approx(cfg.tts_share, abs=0.05)  # 2400 draws: 5 sd is 0.047
    assert set(other) == {"world", "hifigan-v1"}  # no engine says French: copy-synthesis only


def test_a_quarter_weight_draws_an_engine_a_quarter_as_often_as_an_equal_one():
    sayable, other = _engines(_config(engine_weights={"hifigan-v1": 0.25, "tts-hifigan": 0.25}), _clips())
    copies = sayable + other
    # about 1300 copy-synthesis and 1700 text-to-speech draws: a ratio of 0.25 within 5 standard errors
    assert 0.16 <= copies["hifigan-v1"] / copies["world"] <= 0.34
    assert 0.16 <= sayable["tts-hifigan"] / sayable["espeak-ng"] <= 0.34
    equal, _ = _engines(_config(engine_weights={}), _clips())
    assert 0.8 <= equal["tts-hifigan"] / equal["espeak-ng"] <= 1.25  # unweighted: alike


def test_engine_weights_name_engines_and_are_positive():
    with pytest.raises(SpoofscanError, match=r"unknown engine in engine_weights 'hifigan-v2' \(choose from: .*"
                                             r"hifigan-v1, .*world\)"):
        _config(engine_weights={"hifigan-v2": 0.25})
    with pytest.raises(SpoofscanError, match="unknown engine in engine_weights 'command'"):
        _config(engine_weights={"command": 2.0})  # no command generators given
    command = {"name": "mytts", "command": "mytts {text} {out}", "languages": ["en"]}
    assert _config(engine_weights={"command": 2.0}, commands=[command]).engine_weights == (("command", 2.0),)
    with pytest.raises(SpoofscanError, match="weight of world must be positive, got 0.0"):
        _config(engine_weights={"world": 0})
