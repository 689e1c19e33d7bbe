"""The real-speech sources (spoofscan.corpus.sources) without network: each source's clip listing on
a tiny folder tree laid out as its unpacked Debian package (short generated sounds, transcripts,
zip archives), what every source declares, and the packages no source may use."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

from spoofscan.corpus.sources import SOURCES
from spoofscan.corpus.sources.asterisk import ASTERISK_LANGUAGES

# The Debian packages whose recordings were checked (licence, attribution) and may be used; some
# packages of recordings are kept out of the project on purpose, so a new one is added here by hand.
ALLOWED_PACKAGES = {f"asterisk-core-sounds-{lang}{codec}" for lang in ASTERISK_LANGUAGES for codec in ("", "-g722")} | {
    "fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl", "gcin-voice", "hedgewars-data", "kajongg",
    "ktuberling-data", "megaglest-data", "nexuiz-data", "pocketsphinx-testdata", "tuxpaint-stamps-default",
    "warzone2100-data"}


def _sound(path: Path, seed: int = 0, frames: int = 3200) -> Path:
    """A short noise burst as a file of ``path``'s kind (Vorbis for ``.ogg``, else WAV); ``frames=0``:
    a file with no audio (the games' empty placeholders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(frames).astype(np.float32)
    ogg = path.suffix == ".ogg" and frames
    sf.write(str(path), x, 16000, format="OGG" if ogg else "WAV", subtype="VORBIS" if ogg else "PCM_16")
    return path


def _text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _zip(path: Path, members: dict) -> None:
    """A zip archive (a game's data file) of ``members``: name -> bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def _listing(name: str, roots: dict) -> dict:
    """key -> (speaker, language, text, codec) of what source ``name`` finds; each clip's file exists."""
    clips = SOURCES[name].find(roots)
    assert all(Path(c.path).is_file() and c.source == name for c in clips)
    assert len({c.key for c in clips}) == len(clips)
    return {c.key: (c.speaker, c.language, c.text, c.codec) for c in clips}


def test_tuxpaint_finds_descriptions_with_their_language_and_text(tmp_path):
    stamps = tmp_path / "usr/share/tuxpaint/stamps/animals"
    for name in ("cat_desc.ogg", "cat_desc_fr.ogg", "cat_desc_pt_BR.ogg", "cat.ogg", "dog_desc_de.ogg"):
        _sound(stamps / name)
    _text(stamps / "cat.txt", "A cat.\nfr.utf8=Un chat.\npt_BR.utf8=Um gato.\n")
    assert _listing("tuxpaint", {"tuxpaint-stamps-default": tmp_path}) == {
        "tuxpaint/animals/cat_desc.ogg": ("tuxpaint-en", "en", "A cat.", "auto"),
        "tuxpaint/animals/cat_desc_fr.ogg": ("tuxpaint-fr", "fr", "Un chat.", "auto"),
        "tuxpaint/animals/cat_desc_pt_BR.ogg": ("tuxpaint-pt_BR", "pt_BR", "Um gato.", "auto"),
        "tuxpaint/animals/dog_desc_de.ogg": ("tuxpaint-de", "de", None, "auto"),  # no dog.txt
    }


def test_ktuberling_finds_words_with_english_texts_from_the_file_names(tmp_path):
    sounds = tmp_path / "usr/share/ktuberling/sounds"
    _sound(sounds / "en/egypt_big_eyes.ogg")
    _sound(sounds / "en/hat.wav")
    _sound(sounds / "de/hat.ogg")
    _text(sounds / "en/README", "not a sound")
    assert _listing("ktuberling", {"ktuberling-data": tmp_path}) == {
        "ktuberling/de/hat.ogg": ("ktuberling-de", "de", None, "auto"),  # other languages reuse English names
        "ktuberling/en/egypt_big_eyes.ogg": ("ktuberling-en", "en", "big eyes", "auto"),
        "ktuberling/en/hat.wav": ("ktuberling-en", "en", "hat", "auto"),
    }


def test_asterisk_finds_g722_prompts_that_have_a_transcript(tmp_path):
    roots = {}
    for lang in ASTERISK_LANGUAGES:
        texts, g722 = tmp_path / f"texts-{lang}", tmp_path / f"g722-{lang}"
        roots[f"asterisk-core-sounds-{lang}"], roots[f"asterisk-core-sounds-{lang}-g722"] = texts, g722
        (g722 / "usr/share/asterisk/sounds").mkdir(parents=True)
    doc = roots["asterisk-core-sounds-en"] / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    doc.parent.mkdir(parents=True)
    with gzip.open(doc, "wt", encoding="utf-8") as f:
        f.write("; Asterisk prompts\nhello: Hello world.\ndigits/1: one\nbeep: [a tone]\n")
    voice = roots["asterisk-core-sounds-en-g722"] / "usr/share/asterisk/sounds/en_US_f_Allison"
    for rel in ("hello", "digits/1", "beep", "untranscribed"):
        _text(voice / f"{rel}.g722", "G.722 bytes")
    assert _listing("asterisk", roots) == {
        "asterisk/en/hello": ("asterisk-Allison", "en", "Hello world.", "g722"),
        "asterisk/en/digits/1": ("asterisk-Allison", "en", "one", "g722"),
    }


def test_fillets_finds_dialogue_with_its_character_and_line(tmp_path):
    script = tmp_path / "data/usr/share/games/fillets-ng/script"
    _text(script / "level1/dialogs_cs.lua", 'dialogId("hello", font_small, "Hello.")\ndialogStr("Ahoj.")\n'
                                            'dialogId("bye", font_big, "Bye.")\n')
    _text(script / "share/dialogs_cs.lua", 'dialogId("rand-0", font_both, "Hm.")\ndialogStr("Hm, hm.")\n')
    sound = tmp_path / "cs/usr/share/games/fillets-ng/sound"
    for rel in ("level1/cs/hello.ogg", "level1/cs/bye.ogg", "level1/cs/unknown.ogg", "level2/cs/rand-0.ogg"):
        _sound(sound / rel)
    _sound(sound / "level2/cs/hello.ogg", frames=0)  # an empty placeholder
    (tmp_path / "nl/usr/share/games/fillets-ng/sound").mkdir(parents=True)
    roots = {"fillets-ng-data": tmp_path / "data", "fillets-ng-data-cs": tmp_path / "cs",
             "fillets-ng-data-nl": tmp_path / "nl"}
    assert _listing("fillets", roots) == {
        "fillets/level1/cs/bye.ogg": ("fillets-cs-bigfish", "cs", None, "auto"),  # no dialogStr: no Czech line
        "fillets/level1/cs/hello.ogg": ("fillets-cs-smallfish", "cs", "Ahoj.", "auto"),
        "fillets/level2/cs/rand-0.ogg": ("fillets-cs-bothfish", "cs", "Hm, hm.", "auto"),  # from the shared scripts
    }


def test_warzone2100_finds_voice_messages_inside_its_archive(tmp_path):
    cfg = ('audio "pcv331.ogg" oneshot 100 1800 /* Turret Selected */\n'
           'audio "t-grnli3.ogg" oneshot 100 1800 /* 3 */\n')
    tutorial = '{"audio": "tut1.ogg", "x": 1, "message": _("Welcome, commander")}'
    members = {"audio/audio.cfg": cfg, "script/tutorial.js": tutorial, "audio/memressp/pcv331.ogg": b"OggS",
               "audio/countdown/t-grnli3.ogg": b"OggS", "audio/tutorial/tut1.ogg": b"OggS",
               "audio/taunts/taunt2/laugh1.ogg": b"OggS", "audio/taunts/taunt2/gotcha.ogg": b"OggS",
               "audio/weapons/boom.ogg": b"OggS", "audio/nexus/nexus1.ogg": b"OggS"}
    _zip(tmp_path / "usr/share/games/warzone2100/base.wz", members)
    assert _listing("warzone2100", {"warzone2100-data": tmp_path}) == {
        "warzone2100/audio/countdown/t-grnli3.ogg": ("warzone2100-countdown", "en", "You will have a green light in 3",
                                                     "auto"),
        "warzone2100/audio/memressp/pcv331.ogg": ("warzone2100-operator", "en", "Turret Selected", "auto"),
        "warzone2100/audio/taunts/taunt2/gotcha.ogg": ("warzone2100-taunt2", "en", None, "auto"),
        "warzone2100/audio/tutorial/tut1.ogg": ("warzone2100-tutorial", "en", "Welcome, commander", "auto"),
    }
    assert (tmp_path / ".extracted/base.wz/audio/memressp/pcv331.ogg").read_bytes() == b"OggS"


def test_hedgewars_finds_voice_lines_once_and_without_grunts(tmp_path):
    voices = tmp_path / "usr/share/games/hedgewars/Data/Sounds/voices"
    _sound(voices / "Default/Hello.ogg", seed=1)
    _sound(voices / "Default/Laugh.ogg", seed=2)
    _sound(voices / "Classic/Hello.ogg", seed=1)  # the Default pack's line again
    _sound(voices / "Classic/Missed.ogg", seed=3)
    _sound(voices / "Default_es/Hello.ogg", seed=4)
    _sound(voices / "Robot/Hello.ogg", seed=5)  # a processed voice: not a pack the source takes
    assert _listing("hedgewars", {"hedgewars-data": tmp_path}) == {
        "hedgewars/Default/Hello.ogg": ("hedgewars-Default", "en", None, "auto"),
        "hedgewars/Classic/Missed.ogg": ("hedgewars-Classic", "en", None, "auto"),
        "hedgewars/Default_es/Hello.ogg": ("hedgewars-Default_es", "es", None, "auto"),
    }


def test_kajongg_finds_calls_with_english_words_from_the_file_names(tmp_path):
    voices = tmp_path / "usr/share/kajongg/voices"
    for rel in ("male1/b1.ogg", "male1/mahjongg.ogg", "male1/xyz.ogg", "de/female1/b1.ogg"):
        _sound(voices / rel)
    _sound(voices / "male1/s2.ogg", frames=0)
    assert _listing("kajongg", {"kajongg": tmp_path}) == {
        "kajongg/de/female1/b1.ogg": ("kajongg-de-female1", "de", None, "auto"),
        "kajongg/male1/b1.ogg": ("kajongg-en-male1", "en", "bamboo one", "auto"),
        "kajongg/male1/mahjongg.ogg": ("kajongg-en-male1", "en", "mah jongg", "auto"),
        "kajongg/male1/xyz.ogg": ("kajongg-en-male1", "en", None, "auto"),
    }


def test_megaglest_finds_acknowledgements_of_human_units(tmp_path):
    tech = tmp_path / "usr/share/games/megaglest/techs/megapack"
    for rel in ("factions/romans/units/guard/sounds/guard_ack1.wav", "factions/romans/units/guard/sounds/guard_die.wav",
                "factions/romans/units/cow/sounds/cow_ack1.wav", "factions/romans/units/guard/models/guard_ack2.wav",
                "commondata/sounds/worker_select2.ogg"):
        _sound(tech / rel)
    assert _listing("megaglest", {"megaglest-data": tmp_path}) == {
        "megaglest/commondata/sounds/worker_select2.ogg": ("megaglest-common-worker", "en", None, "auto"),
        "megaglest/factions/romans/units/guard/sounds/guard_ack1.wav": ("megaglest-romans-guard", "en", None, "auto"),
    }


def test_gcin_finds_voice_3_of_each_syllable(tmp_path):
    ogg = tmp_path / "usr/share/gcin-voice/ogg"
    for rel in ("ㄅㄚ/3.ogg", "ㄅㄚ/5.ogg", "ㄇㄚ/3.ogg"):
        _sound(ogg / rel)
    _sound(ogg / "ㄉㄚ/3.ogg", frames=0)
    assert _listing("gcin", {"gcin-voice": tmp_path}) == {
        "gcin/ㄅㄚ/3.ogg": ("gcin-3", "zh", None, "auto"), "gcin/ㄇㄚ/3.ogg": ("gcin-3", "zh", None, "auto")}


def test_nexuiz_finds_team_chat_and_the_male_announcer_inside_its_archive(tmp_path):
    members = {name: b"OggS" for name in ("sound/player/carni/coms/attack.ogg", "sound/player/carni/coms/taunt2.ogg",
                                          "sound/player/carni/pain25.ogg", "sound/announcer/male/03.wav",
                                          "sound/announcer/robotic/01.ogg")}
    _zip(tmp_path / "usr/share/games/nexuiz/data/data.pk3", members)
    assert _listing("nexuiz", {"nexuiz-data": tmp_path}) == {
        "nexuiz/sound/announcer/male/03.wav": ("nexuiz-announcer", "en", None, "auto"),
        "nexuiz/sound/player/carni/coms/attack.ogg": ("nexuiz-carni", "en", None, "auto"),
    }


def test_pocketsphinx_finds_read_speech_with_transcripts_and_the_raw_recordings(tmp_path):
    data = tmp_path / "usr/share/pocketsphinx/test/data"
    _sound(data / "librivox/sense_and_sensibility_01.wav")
    _text(data / "librivox/sense_and_sensibility.transcription",
          "<s> the family of dashwood </s> (sense_and_sensibility_01)\n")
    _sound(data / "cards/001.wav")
    _text(data / "cards/cards.transcription", "three of hearts (001)\n")
    for name in ("goforward.raw", "numbers.raw"):
        (data / name).write_bytes(np.zeros(1600, "<i2").tobytes())
    assert _listing("pocketsphinx", {"pocketsphinx-testdata": tmp_path}) == {
        "pocketsphinx/librivox/sense_and_sensibility_01.wav": ("pocketsphinx-librivox", "en", "the family of dashwood",
                                                               "auto"),
        "pocketsphinx/cards/001.wav": ("pocketsphinx-cards", "en", "three of hearts", "auto"),
        "pocketsphinx/goforward.raw": ("pocketsphinx-raw", "en", "go forward ten meters", "pcm_s16le_16k"),
        "pocketsphinx/numbers.raw": ("pocketsphinx-raw", "en", None, "pcm_s16le_16k"),
    }


def test_every_source_says_what_it_needs_and_whom_to_credit():
    assert len(SOURCES) >= 8
    tested = {name.split("_")[1] for name in globals() if name.startswith("test_") and "_finds_" in name}
    assert tested == set(SOURCES)  # each source's listing has a test above
    for name, source in SOURCES.items():
        assert source.name == name and source.packages and all(isinstance(p, str) and p for p in source.packages)
        assert source.licence and source.credits and source.chain and source.title and callable(source.find)


def test_sources_use_only_the_packages_checked_for_use():
    packages = {p for source in SOURCES.values() for p in source.packages}
    assert packages <= ALLOWED_PACKAGES, sorted(packages - ALLOWED_PACKAGES)
    assert any(p.startswith("asterisk-core-sounds-") for p in packages)


def test_corpus_sources_json_lists_every_source(capsys):
    from spoofscan.cli import main

    assert main(["corpus", "sources", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(SOURCES)
    for r in rows:
        source = SOURCES[r["name"]]
        assert (r["packages"], r["licence"], r["chain"]) == (list(source.packages), source.licence, source.chain)
    assert "tiny" in next(r for r in rows if r["name"] == "asterisk")["sizes"]  # the tiny corpus's source
