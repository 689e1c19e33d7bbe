"""Issue 10, hardening: one test (or a few) per failure class, named after it.

1. an undecodable file never kills a batch;          2. --output never destroys data;
3. an existing path is a path, an empty pattern an error;  4. no NaN or Inf ever becomes a verdict;
5. cards and ONNX metadata are validated;            6. one bad entry never spoils a folder listing;
7. usage errors are one line, exit 2;                8. reports stand extreme but finite scores;
and: limits before work, the API refuses what it does not take, BOMs and short CSV rows,
one sample rate, one way to say threads. Voice activity has its own file (test_vad.py).
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import speechlike

from spoofscan.audio import SAMPLE_RATE, audio_files, expand_inputs, load_audio, prepare_waveform, stream_audio
from spoofscan.errors import AudioError, SpoofscanError

RATE = SAMPLE_RATE


def wav_bytes(tag: int = 1, bits: int = 16, channels: int = 1, rate: int = RATE, frames: int = RATE,
              payload: bytes | None = None) -> bytes:
    """A RIFF/WAVE file with any format tag and header values (16-bit noise as its data)."""
    data = payload if payload is not None else np.random.default_rng(0).integers(
        -2000, 2000, frames * channels).astype("<i2").tobytes()
    width = max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def write_speech(path, seconds=1.5, seed=0, rate=RATE) -> str:
    subtype = "FLOAT" if str(path).endswith(".wav") else None
    sf.write(path, speechlike(seconds, seed=seed, rate=rate), rate, subtype=subtype)
    return str(path)


# ---------------------------------------------------------------------------- 1. undecodable files


@pytest.mark.parametrize("tag, bits", [(0x1234, 16), (1, 0), (3, 16), (0xFFFE, 16), (0x0055, 16)])
def test_1_a_wav_ffmpeg_cannot_decode_is_an_audio_error(tmp_path, tag, bits):
    path = tmp_path / f"tag{tag}.wav"
    path.write_bytes(wav_bytes(tag, bits))
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_1_any_decoder_exception_becomes_that_files_audio_error(tmp_path, monkeypatch):
    import spoofscan.audio.decode as audio

    def broken(*args, **kwargs):
        raise KeyError("a bug deep inside a decoder")
        yield  # pragma: no cover

    monkeypatch.setattr(audio, "soundfile_blocks", broken)
    path = write_speech(tmp_path / "x.wav")
    with pytest.raises(AudioError, match=r"x.wav: cannot be decoded \(KeyError"):
        load_audio(path)


# ---------------------------------------------------------------------------- 3. names and patterns


def test_3_existing_paths_with_glob_characters_are_paths_and_empty_patterns_are_errors(tmp_path):
    odd = [write_speech(tmp_path / name, seed=i) for i, name in enumerate(("take[1].wav", "what?.wav", "a*b.wav"))]
    for path in odd:
        assert expand_inputs([path]) == [path]
    (tmp_path / "sub").mkdir()
    write_speech(tmp_path / "sub" / "c.wav")
    assert expand_inputs([str(tmp_path / "sub" / "*.wav")]) == [str(tmp_path / "sub" / "c.wav")]
    assert expand_inputs([str(tmp_path / "s*")]) == [str(tmp_path / "sub" / "c.wav")]  # a matched folder is listed
    with pytest.raises(SpoofscanError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.mp3")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpoofscanError, match="no audio files in it"):
        expand_inputs([str(tmp_path / "empty")])
    assert expand_inputs([str(tmp_path / "absent.wav")]) == [str(tmp_path / "absent.wav")]  # reported later


# ---------------------------------------------------------------------------- 6. folder listings


def test_6_a_symlink_loop_spoils_nothing_else(tmp_path):
    from spoofscan.datasets import Record, check_audio, missing_audio

    good = [write_speech(tmp_path / f"{i}.wav", seed=i) for i in range(3)]
    os.symlink(tmp_path / "loop.wav", tmp_path / "loop.wav")  # a link to itself
    os.symlink(tmp_path / "gone.wav", tmp_path / "dangling.wav")
    os.symlink(tmp_path, tmp_path / "again")  # a folder loop
    listed = audio_files(tmp_path)
    assert [str(p) for p in listed[:3]] == good and {p.name for p in listed[3:]} == {"dangling.wav", "loop.wav"}
    records = [Record(Path(p).stem, p, "bonafide") for p in good]
    assert missing_audio(records) == [] and check_audio(records) == records
    looped = Record("loop", str(tmp_path / "loop.wav"), "spoof")
    assert missing_audio(records + [looped]) == [looped]
    with pytest.raises(AudioError, match="symbolic link that leads nowhere"):
        load_audio(tmp_path / "loop.wav")


def test_6_an_unreadable_subfolder_is_reported_not_skipped(tmp_path, monkeypatch):
    write_speech(tmp_path / "a.wav")
    locked = tmp_path / "locked"
    locked.mkdir()
    write_speech(locked / "b.wav")
    scandir, listdir = os.scandir, os.listdir

    def refuse(call):  # as chmod 0 would, for a user other than root
        def wrapped(path="."):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return call(path)
        return wrapped

    monkeypatch.setattr(os, "scandir", refuse(scandir))
    monkeypatch.setattr(os, "listdir", refuse(listdir))
    with pytest.raises(SpoofscanError, match="cannot list folder .*locked.*Permission denied"):
        audio_files(tmp_path)
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / "a.wav"), str(locked)]
    with pytest.raises(AudioError, match="a folder that cannot be listed"):
        load_audio(locked)


# ---------------------------------------------------------------------------- limits before work


def _flac_announcing(seconds: float) -> bytes:
    """A 1-s FLAC whose STREAMINFO says it lasts ``seconds``."""
    buf = io.BytesIO()
    sf.write(buf, speechlike(1.0), RATE, format="FLAC")
    data = bytearray(buf.getvalue())
    at = 4 + 4 + 13  # 'fLaC', block header, then bytes 13..17 of STREAMINFO hold 4 bits + 32 bits of total samples
    total = int(seconds * RATE)
    data[at] = (data[at] & 0xF0) | ((total >> 32) & 0x0F)
    data[at + 1:at + 5] = (total & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(data)


def test_max_seconds_refuses_from_the_header_before_decoding():
    day = _flac_announcing(24 * 3600)
    started = time.perf_counter()
    with pytest.raises(AudioError, match=r"header announces 86400.0 s, more than the configured maximum of 60 s"):
        next(stream_audio(day, max_seconds=60))
    assert time.perf_counter() - started < 1.0
    with pytest.raises(AudioError, match="truncated"):  # without a limit the lie is found at the end
        load_audio(day)


def test_max_seconds_from_an_ffmpeg_header():
    from test_audio import encode_ffmpeg

    m4a = encode_ffmpeg(speechlike(3.0), RATE)
    with pytest.raises(AudioError, match=r"header announces 3\.\d s"):
        load_audio(m4a, max_seconds=2.0)
    assert len(load_audio(m4a, max_seconds=4.0)) >= 3 * RATE


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), "10", True])
def test_limits_must_be_finite_positive_numbers(bad):
    with pytest.raises(SpoofscanError, match="max_seconds"):
        load_audio(b"x", max_seconds=bad)


# ---------------------------------------------------------------------------- the API refuses what it does not take


@pytest.mark.parametrize("array", [
    np.array(["a", "b"] * 1000), np.array([object()] * 2000), np.ones(2000, bool), np.ones(2000, np.complex64)])
def test_api_refuses_arrays_that_are_not_samples(array):
    with pytest.raises(AudioError, match="is not audio"):
        prepare_waveform(array, RATE)


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), 16000.5, "16000", None, -16000, 0])
def test_api_refuses_bad_sample_rates(rate):
    with pytest.raises(AudioError, match="sample rate"):
        prepare_waveform(speechlike(0.5), rate)


def test_unsigned_integers_are_centred_and_floats_beyond_range_refused():
    x = speechlike(0.5)
    u8 = np.round(x * 127 + 128).astype(np.uint8)
    u16 = np.round(x * 32767 + 32768).astype(np.uint16)
    for u in (u8, u16):
        np.testing.assert_allclose(prepare_waveform(u, RATE), x, atol=1.5 / 127)
    assert prepare_waveform(np.full(RATE, 128, np.uint8), RATE).max() == 0.0  # uint8 silence is 128
    assert prepare_waveform(np.float64(16000.0) * 0 + x, np.float64(16000.0)).shape == x.shape
    with pytest.raises(AudioError, match=r"far outside \[-1, 1\] \(peak 1e\+300"):
        prepare_waveform(np.r_[x.astype(np.float64), 1e300], RATE)  # finite in float64, Inf once float32


def test_a_float_wav_with_huge_samples_is_an_error(tmp_path):
    x = speechlike(1.0)
    x[100] = 1e30
    path = tmp_path / "huge.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"far outside \[-1, 1\] \(peak 1e\+30, first at 0.006 s"):
        load_audio(path)


# ---------------------------------------------------------------------------- helpers for models


def rewrite_card(src: Path, dst: Path, card_text: str, tensors: dict | None = None) -> Path:
    """Copy a checkpoint with another card text (and optionally other tensors), as a hand edit would."""
    from safetensors.numpy import load_file, save_file

    save_file(tensors if tensors is not None else load_file(str(src)), str(dst), metadata={"spoofscan": card_text})
    return dst


def one_line_error(capsys, argv: list) -> str:
    """Run the CLI, expect a usage error: exit 2 and exactly one line on standard error."""
    from spoofscan.cli import main

    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def onnx_model(tiny_onnx):
    """conftest's tiny checkpoint and its FP32 export (made once per session)."""
    return tiny_onnx


# ---------------------------------------------------------------------------- 1. a batch never loses the good files


def test_1_one_undecodable_file_never_kills_the_batch(tiny_checkpoint, tmp_path, capsys):
    import spoofscan
    from spoofscan.cli import main
    from spoofscan.datasets import Record
    from spoofscan.evaluation.evaluate import evaluate

    good = [write_speech(tmp_path / f"good{i}.wav", seconds=1.2, seed=i) for i in range(3)]
    bad = tmp_path / "tag1234.wav"
    bad.write_bytes(wav_bytes(0x1234))
    det = spoofscan.load_detector(tiny_checkpoint, device="cpu")
    results = list(det.predict_many([good[0], str(bad), good[1], good[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    # scored in a batch with other clips' windows and alone: float sums differ in the last digits
    assert results[2].score == pytest.approx(det.predict(good[1]).score, rel=1e-5, abs=1e-6)

    assert main(["predict", good[0], str(bad), good[1], "--model", str(tiny_checkpoint), "--format", "csv"]) == 1
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 4 and rows[2].startswith(f"{bad},error,")

    records = [Record(f"g{i}", p, ("bonafide", "spoof")[i % 2]) for i, p in enumerate(good)]
    records.append(Record("bad", str(bad), "spoof"))
    report = evaluate(det, records, tmp_path / "eval", progress=False)
    assert report["counts"]["failures"] == 1 and report["counts"]["trials"] == 3
    assert (tmp_path / "eval" / "failures.txt").read_text().startswith("bad\t")


def test_1_an_exception_from_the_backend_costs_only_its_own_clip(tiny_detector, tmp_path):
    good = [write_speech(tmp_path / f"g{i}.wav", seconds=1.0, seed=i) for i in range(3)]
    poisoned = speechlike(1.0, seed=9)
    poisoned[:10] = 0.123456  # the backend below raises on the window that starts like this
    original = tiny_detector.window_scores

    def picky(windows):
        if any(np.all(w[:10] == np.float32(0.123456)) for w in windows):
            raise RuntimeError("kernel failure")
        return original(windows)

    tiny_detector.window_scores = picky
    results = list(tiny_detector.predict_many([good[0], (poisoned, RATE), good[1], good[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "RuntimeError: kernel failure" in results[1].error


# ---------------------------------------------------------------------------- 2. outputs never destroy data


def test_2_output_never_destroys_an_input_or_the_model(tiny_checkpoint, tmp_path, capsys):
    clip = write_speech(tmp_path / "in.flac", seconds=1.2)
    before, model_before = Path(clip).read_bytes(), tiny_checkpoint.read_bytes()
    for target in (clip, tiny_checkpoint, tmp_path / "." / "in.flac"):
        err = one_line_error(capsys, ["predict", clip, "--model", tiny_checkpoint, "-o", target])
        assert "is also an input" in err
    os.link(clip, tmp_path / "hardlink.flac")  # the same file under another name
    assert "is also an input" in one_line_error(capsys, ["predict", clip, "--model", tiny_checkpoint,
                                                         "-o", tmp_path / "hardlink.flac"])
    assert Path(clip).read_bytes() == before and tiny_checkpoint.read_bytes() == model_before
    assert "is also an input" in one_line_error(capsys, ["export", tiny_checkpoint, tiny_checkpoint])
    assert tiny_checkpoint.read_bytes() == model_before


def test_2_output_appears_whole_or_not_at_all(tiny_checkpoint, tmp_path, monkeypatch):
    import spoofscan.cli as cli
    import spoofscan.cli.predict as predict_cli

    clip = write_speech(tmp_path / "a.wav")
    out = tmp_path / "results.csv"
    out.write_text("the previous results\n")

    def dies(det, files, args, handle):
        handle.write("half a row")
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_cli, "_write_predictions", dies)
    assert cli.main(["predict", clip, "--model", str(tiny_checkpoint), "-o", str(out)]) == 130
    assert out.read_text() == "the previous results\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left behind
    monkeypatch.undo()
    assert cli.main(["predict", clip, "--model", str(tiny_checkpoint), "-o", str(out), "--format", "csv"]) == 0
    assert out.read_text().startswith("file,label,p_fake")


def test_2_evaluate_refuses_a_report_file_that_is_an_input(tiny_checkpoint, tmp_path, capsys):
    clip = write_speech(tmp_path / "a.wav")
    (tmp_path / "report.json").write_text(f"path,label\n{clip},bonafide\n")  # a manifest named like a report file
    err = one_line_error(capsys, ["evaluate", "--model", tiny_checkpoint, "--protocol",
                                  f"csv:{tmp_path / 'report.json'}", "--out", tmp_path])
    assert "is also an input" in err and (tmp_path / "report.json").read_text().startswith("path,label")


# ---------------------------------------------------------------------------- 3. names (CLI)


def test_3_cli_scores_a_bracketed_name_and_refuses_an_empty_pattern(tiny_checkpoint, tmp_path, capsys):
    from spoofscan.cli import main

    odd = write_speech(tmp_path / "take[1].wav")
    assert main(["predict", odd, "--model", str(tiny_checkpoint), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{odd},")
    assert "matches no file" in one_line_error(capsys, ["predict", tmp_path / "*.mp3", "--model", tiny_checkpoint])


# ---------------------------------------------------------------------------- 4. no NaN or Inf verdicts


def test_4_a_float_wav_of_1e30_is_an_error_not_a_verdict(tiny_checkpoint, onnx_model, tmp_path, capsys):
    from spoofscan.cli import main

    x = speechlike(1.5)
    x[5000:5100] = 1e30
    path = tmp_path / "huge.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    for model in (tiny_checkpoint, onnx_model["onnx"]):
        assert main(["predict", str(path), "--model", str(model), "--format", "jsonl"]) == 1
        row = json.loads(capsys.readouterr().out)
        assert row["ok"] is False and "far outside [-1, 1]" in row["error"]


def test_4_non_finite_features_give_nan_never_a_finite_logit(tiny_detector, onnx_model):
    import spoofscan

    onnx = spoofscan.load_detector(onnx_model["onnx"])
    windows = np.stack([speechlike(1.0, seed=1), speechlike(1.0, seed=2)])
    windows[1, 100] = np.nan  # past the audio checks: the backend itself must not invent a number
    for det in (tiny_detector, onnx):
        scores = det.window_scores(windows)
        assert np.isfinite(scores[0]) and np.isnan(scores[1])


def test_4_a_nan_window_score_makes_the_clip_a_failure(tiny_detector, tmp_path):
    good = write_speech(tmp_path / "good.wav", seed=1)
    original = tiny_detector.window_scores
    tiny_detector.window_scores = lambda w: np.where(np.abs(w[:, :1]).sum(axis=1) > 0, original(w), np.nan)
    silent_start = np.r_[np.zeros(RATE), speechlike(1.0)].astype(np.float32)  # its first window scores NaN
    results = list(tiny_detector.predict_many([(silent_start, RATE), good]))
    assert not results[0].ok and "non-finite score" in results[0].error and results[1].ok
    with pytest.raises(SpoofscanError, match="non-finite score"):
        tiny_detector.predict(silent_start, RATE)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e30])
def test_4_nan_or_huge_weights_are_refused_by_both_backends(onnx_model, tmp_path, value):
    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import load_file

    import spoofscan

    tensors = load_file(str(onnx_model["ckpt"]))
    tensors["fc.weight"] = tensors["fc.weight"].copy()
    tensors["fc.weight"][0, 0] = value
    from safetensors import safe_open

    from spoofscan.checkpoint import CARD_KEY

    with safe_open(str(onnx_model["ckpt"]), framework="numpy") as f:
        card_text = f.metadata()[CARD_KEY]
    bad = rewrite_card(onnx_model["ckpt"], tmp_path / "bad.safetensors", card_text, tensors)
    with pytest.raises(SpoofscanError, match="tensor 'fc.weight' holds"):
        spoofscan.load_detector(bad, device="cpu")

    graph = onnx.load(str(onnx_model["onnx"]))
    init = next(t for t in graph.graph.initializer if numpy_helper.to_array(t).size > 4)
    array = numpy_helper.to_array(init).copy()
    array.flat[0] = value
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(graph, str(tmp_path / "bad.onnx"))
    with pytest.raises(SpoofscanError, match=f"weight '{init.name}' holds"):
        spoofscan.load_detector(tmp_path / "bad.onnx")


# ---------------------------------------------------------------------------- 5. cards and metadata are validated


def _card_of(path) -> dict:
    from spoofscan.checkpoint import read_card

    return read_card(path)


def _mutations(card: dict):
    """(label, card text, what the error must say) for malformed cards."""
    def edit(**changes):
        new = json.loads(json.dumps(card))
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            node = new
            for p in parents:
                node = node[p]
            if value is KeyError:
                del node[last]
            else:
                node[last] = value
        return json.dumps(new)

    yield "bad json", "{not json", "not valid JSON"
    yield "a list", "[1, 2]", "must be a JSON mapping"
    yield "deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"
    yield "huge", json.dumps({"x": "y" * 5_000_000}), "more than the"
    yield "no features", edit(features=KeyError), "'features' is missing"
    yield "no calibration", edit(calibration=KeyError), "'calibration' is missing"
    yield "text calibration", edit(calibration__a="1.5"), "card field 'calibration.a'"
    yield "nan calibration", edit(calibration__b=float("nan")), "finite number"
    yield "threshold 2", edit(threshold=2.0), "card field 'threshold'"
    yield "label map", edit(label_map={"spoof": 1, "bonafide": 0}), "card field 'label_map'"
    yield "future", edit(format_version=99), "v99"
    yield "n_mels 1e9", edit(features__n_mels=10**9), "n_mels 1000000000 must be at most 512"
    yield "hop 1e-6", edit(features__hop_seconds=1e-6), "hop_seconds 1e-06"
    yield "unknown feature", edit(features__colour="red"), "unknown FeatureConfig field"
    yield "string size", edit(features__n_fft="1024"), "n_fft must be a positive integer"
    yield "8 kHz", edit(features__sample_rate=8000, features__fmax=4000.0), "sample_rate must be 16000"


def test_5_malformed_cards_are_one_clear_error_everywhere(tiny_checkpoint, tmp_path, capsys):
    import spoofscan
    from spoofscan.checkpoint import read_card

    card = _card_of(tiny_checkpoint)
    for label, text, message in _mutations(card):
        path = rewrite_card(tiny_checkpoint, tmp_path / "bad.safetensors", text)
        for load in (read_card, lambda p: spoofscan.load_detector(p, device="cpu")):
            with pytest.raises(SpoofscanError, match="bad.safetensors") as info:
                load(path)
            assert message in str(info.value), (label, str(info.value))
        err = one_line_error(capsys, ["info", path])
        assert message in err, (label, err)


def test_5_a_model_section_torch_cannot_build_is_an_error(tiny_checkpoint, tmp_path):
    import spoofscan

    card = _card_of(tiny_checkpoint)
    for model, message in (({**card["model"], "width": 10**6}, "width must be at most 256"),
                           ([1, 2], "card field .model.: Input should be a valid dictionary"), ({**card["model"], "depth": 3}, "unknown ModelConfig")):
        path = rewrite_card(tiny_checkpoint, tmp_path / "m.safetensors", json.dumps({**card, "model": model}))
        with pytest.raises(SpoofscanError, match=message):
            spoofscan.load_detector(path, device="cpu")


def test_5_onnx_metadata_is_validated_by_the_same_schema(onnx_model, tmp_path, capsys):
    import onnx

    import spoofscan
    from spoofscan.backends.onnx import METADATA_KEY, read_metadata

    meta = read_metadata(onnx_model["onnx"])
    graph = onnx.load(str(onnx_model["onnx"]))
    entry = next(p for p in graph.metadata_props if p.key == METADATA_KEY)
    for label, text, message in _mutations(meta):  # the envelope around the card: the same mistakes
        entry.value = text
        onnx.save(graph, str(tmp_path / "bad.onnx"))
        for load in (read_metadata, spoofscan.load_detector):
            with pytest.raises(SpoofscanError, match="bad.onnx") as info:
                load(tmp_path / "bad.onnx")
            assert message in str(info.value), (label, str(info.value))
        assert message in one_line_error(capsys, ["info", tmp_path / "bad.onnx"])
    inner = {**meta, "card": {**meta["card"], "calibration": {"a": "x", "b": 0}}}  # the checkpoint card inside
    entry.value = json.dumps(inner)
    onnx.save(graph, str(tmp_path / "bad.onnx"))
    with pytest.raises(SpoofscanError, match=r"the checkpoint card inside it\): card field 'calibration.a'"):
        spoofscan.load_detector(tmp_path / "bad.onnx")


def test_5_a_card_whose_features_disagree_with_the_weights_is_an_error_on_torch_too(tiny_checkpoint, tmp_path):
    import spoofscan

    card = _card_of(tiny_checkpoint)  # 128 mels
    edited = {**card, "features": {**card["features"], "n_mels": 64}}
    path = rewrite_card(tiny_checkpoint, tmp_path / "64.safetensors", json.dumps(edited))
    with pytest.raises(SpoofscanError, match="n_mels 64 in the card, 128 with the weights"):
        spoofscan.load_detector(path, device="cpu")


# ---------------------------------------------------------------------------- 7. usage errors


def test_7_usage_errors_are_one_line_with_exit_2(tiny_checkpoint, tmp_path, capsys):
    from spoofscan.cli import main

    clip = write_speech(tmp_path / "a.wav")
    model = ["--model", tiny_checkpoint]
    assert "is a folder" in one_line_error(capsys, ["predict", clip, *model, "-o", tmp_path])
    for flag, value, message in (("--max-seconds", "-1", "max_seconds"), ("--max-seconds", "nan", "max_seconds"),
                                 ("--batch-size", "0", "batch size"), ("--threads", "0", "threads")):
        assert message in one_line_error(capsys, ["predict", clip, *model, flag, value])
    (tmp_path / "file").write_text("x")
    err = one_line_error(capsys, ["evaluate", "--scores", clip, "--protocol", f"csv:{tmp_path / 'm.csv'}",
                                  "--out", tmp_path / "file"])
    assert "is a file; give a folder" in err
    # -o into a folder that does not exist yet: made, not a traceback
    assert main(["predict", clip, *map(str, model), "-o", str(tmp_path / "new" / "deeper" / "out.csv")]) == 0
    assert (tmp_path / "new" / "deeper" / "out.csv").is_file()


# ---------------------------------------------------------------------------- 8. extreme but finite scores


def test_8_extreme_scores_are_refused_when_read_and_large_ones_reported(tmp_path, capsys):
    from spoofscan.cli import main

    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,trial\n" + "".join(f"x{i}.wav,{('bonafide', 'spoof')[i % 2]},t{i}\n" for i in range(20)))
    extreme = tmp_path / "extreme.txt"
    extreme.write_text("".join(f"t{i} {('1e308', '-1e308')[i % 2]}\n" for i in range(20)))
    err = one_line_error(capsys, ["evaluate", "--scores", extreme, "--protocol", f"csv:{manifest}", "--out", tmp_path / "r"])
    assert "extreme.txt:1: score 1e308 of trial 't0' is beyond" in err
    large = tmp_path / "large.txt"
    large.write_text("".join(f"t{i} {(i + 1) * (4e98 if i % 2 == 0 else -4e98)}\n" for i in range(20)))
    assert main(["evaluate", "--scores", str(large), "--protocol", f"csv:{manifest}", "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert (tmp_path / "r" / "hist.png").stat().st_size > 1000 and (tmp_path / "r" / "det.png").stat().st_size > 1000


def test_8_a_report_never_holds_a_non_finite_number(tmp_path):
    from spoofscan.evaluation.evaluate import write_report

    with pytest.raises(SpoofscanError, match=r"non-finite number at report\['metrics'\]\['cllr'\]"):
        write_report({"metrics": {"eer": 0.1, "cllr": float("inf")}}, tmp_path)
    assert not (tmp_path / "report.json").exists()


# ---------------------------------------------------------------------------- files people give: BOM, short rows


def test_a_bom_is_read_and_a_short_csv_row_says_what_it_lacks(tmp_path):
    from spoofscan.datasets import load_csv_manifest, load_records
    from spoofscan.evaluation.scores import read_asv_scores, read_scores

    (tmp_path / "s.txt").write_bytes("\ufefft1 0.5\nt2 -0.5\n".encode())
    assert read_scores(tmp_path / "s.txt") == {"t1": 0.5, "t2": -0.5}
    (tmp_path / "asv.txt").write_bytes("\ufeffa target 1.0\nb nontarget -1\nc spoof -2\n".encode())
    assert read_asv_scores(tmp_path / "asv.txt")["target"].tolist() == [1.0]
    la = tmp_path / "LA" / "ASVspoof2019_LA_cm_protocols"
    la.mkdir(parents=True)
    (la / "ASVspoof2019.LA.cm.dev.trl.txt").write_bytes("\ufeffLA_0079 LA_D_1 - - bonafide\nLA_0079 LA_D_2 - A01 spoof\n".encode())
    records = load_records(f"asvspoof2019la:{tmp_path / 'LA'}:dev", check_files=False)
    assert [r.groups["speaker"] for r in records] == ["LA_0079", "LA_0079"]
    (tmp_path / "m.csv").write_text("path,label,split\na.wav,bonafide,train\nb.wav,spoof\n")
    with pytest.raises(SpoofscanError, match=r"m.csv:3: 2 cells for the header's 3 columns .* it lacks 'split'"):
        load_csv_manifest(tmp_path / "m.csv")


# ---------------------------------------------------------------------------- the (array, rate) pair; threads


def test_the_documented_pair_and_threads_for_both_backends(onnx_model):
    import torch

    import spoofscan

    x = speechlike(2.0)
    for path in (onnx_model["ckpt"], onnx_model["onnx"]):
        det = spoofscan.load_detector(path, device="cpu", threads=1)
        before = torch.get_num_threads()
        a, b = det.predict((x, RATE)), det.predict(x, RATE)
        assert a == b and a.label in ("real", "fake")
        assert torch.get_num_threads() == before  # the caller's setting is left as it was
        results = list(det.predict_many([(x, RATE), (x,), ("not an array", RATE)]))
        assert [r.ok for r in results] == [True, False, False]
        with pytest.raises(SpoofscanError, match="threads"):
            spoofscan.load_detector(path, device="cpu", threads=0)
