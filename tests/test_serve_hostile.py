"""The service's words on hostile uploads: what a 415 says, multipart parts without a plain file
name, bodies cut short, a WAV header alone, HEAD on the probes, missing and wrong keys."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from serve_support import BandDetector, clip_bytes  # noqa: E402
from synth import encode  # noqa: E402

from spoofscan.serve import ServeSettings, create_app  # noqa: E402

BOUNDARY = "XyZbound"
FORM = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def client(**settings) -> TestClient:
    return TestClient(create_app(BandDetector(), ServeSettings(**settings)))


def part(disposition: str, data: bytes, close: bool = True) -> bytes:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + data + b"\r\n"
    return body + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


@pytest.mark.parametrize("data, what", [
    (b"a shopping list, not a recording\n" * 20, "text ('a shopping list"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "a PNG image"),
    (b"%PDF-1.7\n" + bytes(300), "a PDF document"),
    (b"PK\x03\x04" + bytes(300), "a ZIP archive"),
    (np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes(), "unrecognised bytes (starting"),
])
def test_a_415_says_what_the_file_is_and_what_is_read(data, what):
    with client() as c:
        r = c.post("/v1/detect?filename=x.bin", content=data)
    d = r.json()
    assert r.status_code == 415 and d["error"] == "not_audio", d
    assert d["detail"].startswith(f"x.bin: not audio: {what}"), d["detail"]
    assert "WAV, FLAC, MP3, Ogg" in d["detail"] and "Errno" not in d["detail"] and "None" not in d["detail"]


@pytest.mark.parametrize("subtype, fmt", [("PCM_16", "WAV"), ("FLOAT", "WAV"), ("PCM_16", "WAVEX")])
def test_a_wav_header_without_its_audio_is_422_empty(subtype, fmt):
    """The first 44 bytes of a WAV (the whole header of some, a cut one of others): 422 empty, as documented."""
    header = encode(np.zeros(16_000, np.float32), fmt=fmt, subtype=subtype)[:44]
    with client() as c:
        r = c.post("/v1/detect", content=header)
    assert r.status_code == 422 and r.json()["error"] == "empty", r.json()
    assert "no audio samples" in r.json()["detail"]


def test_parts_that_carry_a_file_without_a_plain_file_name_are_files():
    """A part with only the RFC 5987 filename*, and curl -F 'file=<clip.wav' (no file name at
    all): scored, not refused as a 64 KB form field."""
    audio = clip_bytes("bonafide", 3.0)  # 96 KB: over the limit of a form field
    with client() as c:
        extended = c.post("/v1/detect", headers=FORM,
                          content=part("form-data; name=\"file\"; filename*=UTF-8''cl%C3%AFp%20one.wav", audio))
        plain = c.post("/v1/detect", headers=FORM, content=part('form-data; name="file"', audio))
        batch = c.post("/v1/detect/batch", headers=FORM, content=part('form-data; name="files"', audio))
        field = c.post("/v1/detect", headers=FORM, content=part('form-data; name="audio"', audio))
    assert extended.status_code == 200 and extended.json()["file"] == "clïp one.wav"
    assert plain.status_code == 200 and plain.json()["file"] == "upload"
    assert batch.status_code == 200 and batch.json()["results"][0]["ok"] is True
    assert field.status_code == 400 and field.json()["error"] == "bad_multipart"
    assert "needs a file name" in field.json()["detail"] and "64KB" not in field.json()["detail"]


def test_a_multipart_body_cut_before_its_closing_boundary_is_400():
    with client() as c:
        r = c.post("/v1/detect", headers=FORM, content=part('form-data; name="file"; filename="a.wav"',
                                                            clip_bytes("bonafide", 1.0), close=False))
        batch = c.post("/v1/detect/batch", headers=FORM, content=part('form-data; name="files"; filename="a.wav"',
                                                                      clip_bytes("bonafide", 1.0), close=False))
    for answer in (r, batch):
        assert answer.status_code == 400 and answer.json()["error"] == "bad_multipart", answer.json()
        assert "cut short" in answer.json()["detail"]


def test_head_answers_where_get_does():
    with client(api_key="k" * 20) as c:
        for path, headers in (("/", {}), ("/healthz", {}), ("/readyz", {}), ("/metrics", {}),
                              ("/v1/model", {"x-api-key": "k" * 20}), ("/static/app.js", {})):
            got, head = c.get(path, headers=headers), c.head(path, headers=headers)
            assert head.status_code == got.status_code == 200, path
            assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"], path
            if path not in ("/metrics", "/readyz"):  # those change between two calls
                assert head.headers["content-length"] == got.headers["content-length"], path
        assert c.head("/v1/model").status_code == 401 and c.head("/v1/detect").status_code == 405


def test_a_missing_key_and_a_wrong_key_are_told_apart():
    with client(api_key="k" * 20) as c:
        missing = c.post("/v1/detect", content=b"RIFF")
        wrong = c.post("/v1/detect", content=b"RIFF", headers={"x-api-key": "not-the-key"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"] == wrong.json()["error"] == "unauthorized"
    assert "needs an API key" in missing.json()["detail"] and "wrong API key" in wrong.json()["detail"]
