"""Partly fake clips (spoofscan.corpus.splice): the plan on hand-made manifest rows, one clip made
from hand-made tones whose every passage can be told apart by its frequency, and a corpus build
(the set-up of tests/test_corpus.py: generated "real" recordings and command generators)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf
from test_corpus import TTS_SCRIPT, VC_SCRIPT, _config, _manifest_rows, make_real_dir

from spoofscan.corpus import CorpusConfig, build_corpus_summary, read_state
from spoofscan.corpus.audit import measure_clip
from spoofscan.corpus.splice import CROSSFADE_SECONDS, FAMILY, KIND, UTTERANCES, build_splice, plan_splices
from spoofscan.datasets.records import parse_segments
from spoofscan.errors import SpoofscanError

RATE = 16000


# ---------------------------------------------------------------------------- planning


def _pair_rows(split: str, speaker: str, channel: str, n: int, kind: str = "copy") -> list:
    """Manifest rows of ``n`` built pairs (a real row and its fake) of one split, speaker and channel."""
    rows = []
    for i in range(n):
        real = f"clip_{split}_{speaker}_{channel}_{kind}_{i}"
        common = {"split": split, "speaker": speaker, "channel": channel, "source": "dir-x", "language": "en",
                  "pair": real}
        rows.append({**common, "trial": real, "label": "bonafide", "generator": "-", "kind": "-",
                     "path": f"{real}.flac"})
        rows.append({**common, "trial": f"{real}_fake", "label": "spoof", "generator": f"{kind}-engine/a",
                     "kind": kind, "path": f"{real}_fake.flac"})
    return rows


def _rows() -> list:
    rows = []
    for split in ("train", "dev", "eval"):
        for speaker in ("ann", "bob"):
            rows += _pair_rows(split, speaker, "wideband", 9) + _pair_rows(split, speaker, "narrowband", 5)
            rows += _pair_rows(split, speaker, "wideband", 6, kind="tts")
    return rows


def test_a_spliced_clip_joins_copy_pairs_of_one_speaker_split_and_channel_each_once():
    rows = _rows()
    plans = plan_splices(rows, 0.1, seed=0)
    assert plans
    used = []
    for p in plans:
        reals = [r for r, _ in p["parts"]]
        fakes = [f for _, f in p["parts"] if f is not None]
        assert UTTERANCES[0] <= len(reals) <= UTTERANCES[1]
        assert 1 <= len(fakes) <= min(2, len(reals) - 2)  # never all: at least two stay real
        assert {(r["split"], r["speaker"], r["channel"]) for r in reals} == {(reals[0]["split"], reals[0]["speaker"],
                                                                               reals[0]["channel"])}
        assert p["split"] == reals[0]["split"]
        assert all(f["kind"] == "copy" and f["pair"] == r["trial"] for r, f in p["parts"] if f is not None)
        assert all(r["label"] == "bonafide" and r["kind"] == "-" for r in reals)
        used += [r["trial"] for r in reals]
    assert len(used) == len(set(used))  # each pair in one spliced clip at most
    for split in ("train", "dev", "eval"):  # 28 copy pairs a split: round(0.1 * 28) = 3 (of 4 groups at least)
        assert sum(p["split"] == split for p in plans) == 3
    assert len(plan_splices(rows, 0.5, seed=0)) < 3 * round(0.5 * 28)  # no more groups than the pairs make
    assert len({p["job"] for p in plans}) == len({p["trial"] for p in plans}) == len(plans)


def test_the_splice_plan_depends_only_on_the_rows_and_the_seed():
    rows = _rows()
    plans = plan_splices(rows, 0.2, seed=3)
    again = plan_splices(list(reversed(rows)), 0.2, seed=3)
    assert [(p["job"], p["trial"], p["parts"]) for p in plans] == [(p["job"], p["trial"], p["parts"]) for p in again]
    assert {p["job"] for p in plans} != {p["job"] for p in plan_splices(rows, 0.2, seed=4)}
    assert plan_splices(rows, 0.0, seed=3) == []
    assert plan_splices(_pair_rows("train", "ann", "wideband", 20, kind="tts"), 0.5, seed=3) == []  # copy only
    # a pair made again (its generator's version changed) makes the spliced clips that hold it again, and only those
    member = plans[0]["parts"][0][0]["pair"]
    jobs = {r["pair"]: "job-" + r["pair"] for r in rows}
    remade = plan_splices(rows, 0.2, seed=3, pair_jobs={**jobs, member: "job-new"})
    before = plan_splices(rows, 0.2, seed=3, pair_jobs=jobs)
    changed = [a["job"] != b["job"] for a, b in zip(before, remade)]
    assert changed == [any(r["pair"] == member for r, _ in p["parts"]) for p in before] and changed[0]
    assert [p["parts"] for p in before] == [p["parts"] for p in remade]


@pytest.mark.parametrize("share", [1.0, -0.1, 1.5])
def test_a_spliced_share_out_of_range_is_refused_naming_the_value(share):
    with pytest.raises(SpoofscanError, match=rf"spliced_share must be in \[0, 1\), got {share}"):
        CorpusConfig.from_dict({"sources": (), "real_dirs": ("x",), "spliced_share": share})


# ---------------------------------------------------------------------------- one clip from tones

REAL_HZ = (200, 300, 400, 500, 600)  # utterance i of the real clips: a tone of REAL_HZ[i], amplitude LEVELS[i]
FAKE_HZ = (700, 800, 900, 1000, 1100)  # its fake: FAKE_HZ[i] at 3 times (9.5 dB above) the real level
LEVELS = (0.05, 0.2, 0.1, 0.3, 0.08)
REPLACED = (2, 4)  # the utterances the plan replaces by their fakes
FRAME = 640  # 40 ms: 25 Hz bins, the tones 100 Hz apart


def _tone(hz: int, amplitude: float, seconds: float) -> np.ndarray:
    """A cosine of whole periods (it starts and ends at a peak: a hard cut there would jump by its amplitude)."""
    return (amplitude * np.cos(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def _tone_plan(out) -> dict:
    parts = []
    for i, (real_hz, fake_hz, level) in enumerate(zip(REAL_HZ, FAKE_HZ, LEVELS)):
        common = {"split": "train", "speaker": "ann", "channel": "wideband", "source": "dir-x", "language": "en"}
        real = {**common, "trial": f"real{i}", "path": f"audio/train/real{i}.flac", "label": "bonafide",
                "generator": "-", "pair": f"real{i}"}
        fake = {**common, "trial": f"fake{i}", "path": f"audio/train/fake{i}.flac", "label": "spoof",
                "generator": "vc/tilt", "kind": "copy", "pair": f"real{i}"}
        (out / "audio/train").mkdir(parents=True, exist_ok=True)
        sf.write(out / real["path"], _tone(real_hz, level, 0.5), RATE, subtype="PCM_16")
        sf.write(out / fake["path"], _tone(fake_hz, 3 * level, 0.6), RATE, subtype="PCM_16")
        parts.append((real, fake if i in REPLACED else None))
    return {"job": "splice-test", "trial": "splice_test", "split": "train", "parts": parts}


def _frames(y: np.ndarray):
    """(start sample, dominant frequency in Hz, amplitude) of every 40-ms frame (20-ms hop) that holds a tone."""
    window = np.hanning(FRAME)
    for start in range(0, len(y) - FRAME, FRAME // 2):
        x = y[start:start + FRAME]
        if np.sqrt(np.mean(x ** 2)) > 0.01:
            hz = np.argmax(np.abs(np.fft.rfft(x * window))) * RATE / FRAME
            yield start, hz, np.sqrt(2 * np.mean(x ** 2))


def test_a_spliced_clip_holds_each_fake_exactly_inside_its_segment_at_the_level_of_the_real_it_replaces(tmp_path):
    row = build_splice(_tone_plan(tmp_path), tmp_path, seed=0)
    y, rate = sf.read(str(tmp_path / row["path"]), dtype="float32")
    segments = parse_segments(row["segments"], "test")
    assert rate == RATE and row["seconds"] == pytest.approx(len(y) / RATE, abs=1e-3)
    assert len(segments) == len(REPLACED) and 0 <= segments[0][0] and segments[-1][1] <= row["seconds"]
    assert segments[-1][1] == pytest.approx(row["seconds"], abs=1e-3)  # the last utterance is a fake: it ends the clip
    assert (row["label"], row["kind"], row["generator"], row["fake_families"]) == (
        "spoof", KIND, f"{FAMILY}/vc/tilt", "vc")
    assert row["origin"] == ";".join(f"real{i}" for i in range(5)) and row["path"] == "audio/train/splice_test.flac"

    found = {}  # (utterance, fake?) -> amplitudes of its frames
    for start, hz, amplitude in _frames(y):
        a, b = start / RATE, (start + FRAME) / RATE
        inside = any(s <= a and b <= e for s, e in segments)
        outside = all(b <= s or e <= a for s, e in segments)
        fake = hz >= 650
        i = int(np.argmin(np.abs(np.array(FAKE_HZ if fake else REAL_HZ) - hz)))
        assert (fake or not inside) and (not fake or not outside), (start / RATE, hz, segments)
        found.setdefault((i, fake), []).append(amplitude)
    assert set(found) == {(i, i in REPLACED) for i in range(5)}  # each utterance once, real or fake
    gain = np.median([np.median(amps) / LEVELS[i] for (i, fake), amps in found.items() if not fake])
    for i in REPLACED:  # the fake at the level of the real utterance it replaces, though made 9.5 dB louder
        assert 20 * np.log10(np.median(found[i, True]) / (gain * LEVELS[i])) == pytest.approx(0, abs=0.5)


def test_every_junction_of_a_spliced_clip_is_cross_faded(tmp_path):
    """Each tone starts and ends at its peak and the pauses are silent, so a hard cut at a junction
    would step by the tone's amplitude; faded, no step is larger than the tone's own slope."""
    row = build_splice(_tone_plan(tmp_path), tmp_path, seed=0)
    y, _ = sf.read(str(tmp_path / row["path"]), dtype="float32")
    steps = np.abs(np.diff(y))
    block = int(CROSSFADE_SECONDS * RATE) // 2
    checked = 0
    for start in range(0, len(y) - block, block):
        peak = np.abs(y[start:start + block + 1]).max()
        if peak > 0.01:
            assert steps[start:start + block].max() < 0.6 * peak, start / RATE  # a 1100-Hz tone's slope: 0.43
            checked += 1
    assert checked > 0.5 * len(y) / block  # the tones fill most of the clip


# ---------------------------------------------------------------------------- in a corpus build


@pytest.fixture(scope="module")
def spliced_corpus(tmp_path_factory):
    """A corpus of 24 pairs, all copy-synthesis, half of each split's pairs asked for as spliced clips:
    ``(root, scripts, summary)``."""
    root = tmp_path_factory.mktemp("spliced")
    (root / "tts.py").write_text(TTS_SCRIPT)
    (root / "vc.py").write_text(VC_SCRIPT)
    scripts = {"tts": f"{sys.executable} {root / 'tts.py'}", "vc": f"{sys.executable} {root / 'vc.py'}"}
    make_real_dir(root / "real", clips_per_speaker=6)
    return root, scripts, build_corpus_summary(_config(root, scripts, tts_share=0.0, spliced_share=0.5))


def _find(snippet: np.ndarray, y: np.ndarray) -> tuple[int, float]:
    """Where ``snippet`` best fits in ``y`` up to a gain: (offset, residual energy / snippet energy)."""
    n = len(y) + len(snippet)
    corr = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(snippet, n)), n)[:len(y) - len(snippet) + 1]
    energy = np.convolve(y.astype(np.float64) ** 2, np.ones(len(snippet)), "valid")
    k = int(np.argmax(np.abs(corr) / np.sqrt(energy + 1e-12)))
    part = y[k:k + len(snippet)].astype(np.float64)
    gain = float(part @ snippet) / float(part @ part + 1e-12)
    return k, float(np.sum((snippet - gain * part) ** 2) / np.sum(snippet.astype(np.float64) ** 2))


def _loudest(x: np.ndarray, seconds: float = 0.25) -> np.ndarray:
    """The loudest ``seconds`` of a clip: surely speech."""
    n = int(seconds * RATE)
    energy = np.convolve(x.astype(np.float64) ** 2, np.ones(n), "valid")
    k = int(np.argmax(energy))
    return x[k:k + n].astype(np.float64)


@pytest.mark.slow
def test_a_build_splices_real_and_fake_utterances_of_one_speaker_and_split(spliced_corpus):
    root, _, summary = spliced_corpus
    out = summary.manifest.parent
    rows = _manifest_rows(summary.manifest)
    spliced = [r for r in rows if r["kind"] == KIND]
    assert spliced and {r["family"] for r in spliced} == {FAMILY} and {r["label"] for r in spliced} == {"spoof"}
    assert {r["split"] for r in spliced} >= {"train", "eval"}
    edges = {kind: [measure_clip(sf.read(str(out / r["path"]), dtype="float32")[0]) for r in rows
                    if (r["kind"] == KIND) == (kind == KIND)] for kind in (KIND, "pairs")}
    for edge in ("leading_silence_s", "trailing_silence_s"):  # the splice's edges are no tell
        pairs = [m[edge] for m in edges["pairs"]]
        assert min(pairs) - 0.02 <= min(m[edge] for m in edges[KIND]) <= max(m[edge] for m in edges[KIND]) \
            <= max(pairs) + 0.02, edge
    state = {r["trial"]: r for entry in read_state(out).values() for r in entry["rows"]}
    fake_of = {r["pair"]: r for r in state.values() if r["label"] == "spoof" and r.get("kind") == "copy"}
    for row in spliced:
        y, _ = sf.read(str(out / row["path"]), dtype="float32")
        segments = parse_segments(row["segments"], row["trial"])
        assert 1 <= len(segments) and segments[-1][1] <= len(y) / RATE + 1e-3 and segments[0][0] >= 0
        origin = [state[t] for t in state[row["trial"]]["origin"].split(";")]
        assert 1 <= len(segments) <= len(origin) - 2
        for real in origin:  # one speaker, split, channel: never mixes splits
            assert (real["label"], real["speaker"], real["split"], real["channel"]) == (
                "bonafide", row["speaker"], row["split"], row["channel"])
        fakes_in = 0
        for real in origin:  # each utterance is there once: real outside the passages, its fake inside one
            where = {}
            for name, clip in (("real", real), ("fake", fake_of[real["trial"]])):
                snippet = _loudest(sf.read(str(out / clip["path"]), dtype="float32")[0])
                k, residual = _find(snippet, y)
                if residual < 1e-4:
                    where[name] = (k / RATE, (k + len(snippet)) / RATE)
            assert len(where) == 1, (row["trial"], real["trial"], where)
            (name, (a, b)), = where.items()
            inside = any(s <= a and b <= e for s, e in segments)
            assert inside == (name == "fake"), (row["trial"], name, a, b, segments)
            fakes_in += inside
        assert fakes_in == len(segments)


@pytest.mark.slow
def test_spliced_clips_are_rebuilt_bit_for_bit_reused_and_left_out_at_share_zero(spliced_corpus, tmp_path):
    root, scripts, first = spliced_corpus
    rows = [r for r in _manifest_rows(first.manifest) if r["kind"] == KIND]
    again = build_corpus_summary(_config(root, scripts, tts_share=0.0, spliced_share=0.5, out=str(tmp_path / "b")))
    assert again.manifest.read_bytes() == first.manifest.read_bytes()
    for r in rows:
        assert (tmp_path / "b" / r["path"]).read_bytes() == (first.manifest.parent / r["path"]).read_bytes()

    cfg = _config(root, scripts, tts_share=0.0, spliced_share=0.5, out=str(tmp_path / "b"))
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "b" / "audio").rglob("*.flac")}
    reused = build_corpus_summary(cfg)
    assert reused.built == 0 and reused.manifest.read_bytes() == first.manifest.read_bytes()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "b" / "audio").rglob("*.flac")} == mtimes

    none = build_corpus_summary(_config(root, scripts, tts_share=0.0, spliced_share=0.0, out=str(tmp_path / "b")))
    kept = _manifest_rows(none.manifest)
    assert none.built == 0 and not [r for r in kept if r["kind"] == KIND]
    assert len(kept) == len(_manifest_rows(first.manifest)) - len(rows)
