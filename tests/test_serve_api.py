"""The web service through FastAPI's test client: every route, every refusal, batching across
requests, cancellation, and no temporary file left behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from helpers import BATCH_ATOL, BATCH_RTOL  # noqa: E402
from serve_support import BandDetector, GatedDetector, clip_bytes  # noqa: E402
from synth import encode, riff_wav, synth_clip  # noqa: E402

import spoofscan  # noqa: E402
from spoofscan.serve import ServeSettings, check_bind, create_app, is_loopback  # noqa: E402
from spoofscan.serve.errors import AUDIO_REASONS  # noqa: E402

MIB = 1024 * 1024
RATE_2S = 32_000  # samples in 2 s at 16 kHz


def client(detector=None, model_path=None, **settings) -> TestClient:
    app = create_app(detector or BandDetector(), ServeSettings(**settings), model_path=model_path)
    return TestClient(app)


def metric(c: TestClient, name: str, **labels) -> float:
    """A sample's value from /metrics (0 when absent)."""
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in c.get("/metrics").text.splitlines():
        if not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            if key == want:
                return float(value)
    return 0.0


# ---------------------------------------------------------------------------- verdicts


def test_detect_answers_what_the_library_answers(tiny_checkpoint):
    """Multipart and raw body give the numbers Detector.predict gives, with the model's identity."""
    audio = clip_bytes("bonafide", 3.3, seed=1)
    det = spoofscan.load_detector(tiny_checkpoint, device="cpu", batch_size=4)
    want = det.predict(audio)
    with client(det, model_path=tiny_checkpoint) as c:
        r = c.post("/v1/detect", files={"file": ("clip.wav", audio, "audio/wav")})
        raw = c.post("/v1/detect?filename=raw.wav", content=audio, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200 and raw.status_code == 200
    d = r.json()
    assert d["ok"] is True and d["file"] == "clip.wav" and raw.json()["file"] == "raw.wav"
    assert d["request_id"] == r.headers["x-request-id"] and len(d["request_id"]) >= 8
    # the service's batcher groups the windows otherwise than predict: scores agree within float rounding
    assert d["score"] == pytest.approx(want.score, rel=BATCH_RTOL, abs=BATCH_ATOL)
    assert d["p_fake"] == pytest.approx(want.p_fake, rel=BATCH_RTOL, abs=BATCH_ATOL)
    assert d["label"] == want.label and d["duration"] == want.duration == 3.3
    assert d["windows"] == len(d["timeline"]) == len(want.timeline) == 6
    for got, w in zip(d["timeline"], want.timeline):
        assert (got["start"], got["end"]) == (w.start, w.end)
        assert got["score"] == pytest.approx(w.score, rel=BATCH_RTOL, abs=BATCH_ATOL)
        assert got["p_fake"] == pytest.approx(w.p_fake, rel=BATCH_RTOL, abs=BATCH_ATOL)
    assert raw.json()["score"] == pytest.approx(d["score"], abs=1e-9)  # the same body alone in the batcher again
    # the speech share and the padded flag, as the detector gives them
    assert d["speech"] == getattr(want, "speech", None) and d["padded"] == getattr(want, "padded", None)
    assert [w["speech"] for w in d["timeline"]] == [getattr(w, "speech", None) for w in want.timeline]
    digest = hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert d["model"] == {"name": "tiny", "version": d["model"]["version"], "sha256": digest[:12],
                          "backend": "torch", "precision": "fp32"}
    assert d["model"]["version"]  # the card's creation time when it names no version
    assert d["threshold"] == 0.5 and d["processing_ms"] > 0


def test_real_and_fake_clips_get_their_labels_and_timeline_can_be_left_out():
    with client() as c:
        real = c.post("/v1/detect", files={"file": ("real.wav", clip_bytes("bonafide", 2.0))}).json()
        fake = c.post("/v1/detect?timeline=false", files={"file": ("fake.wav", clip_bytes("spoof", 2.0))}).json()
    assert real["label"] == "real" and real["p_fake"] < 0.1 and real["score"] > 1
    assert fake["label"] == "fake" and fake["p_fake"] > 0.9 and "timeline" not in fake and fake["windows"] == 3
    assert real["model"]["name"] == "band-ratio" and real["model"]["version"] == "test-1"


def test_a_partly_fake_clip_is_answered_with_its_runs():
    """Real, synthetic, real: the label partly fake and one run over the middle; a real clip has none."""
    parts = [synth_clip(label, 3.0, np.random.default_rng(70 + i)) for i, label in enumerate(("bonafide", "spoof", "bonafide"))]
    with client() as c:
        mixed = c.post("/v1/detect?timeline=false", files={"file": ("mixed.wav", encode(np.concatenate(parts)))}).json()
        real = c.post("/v1/detect", files={"file": ("real.wav", clip_bytes("bonafide", 3.0))}).json()
    assert mixed["label"] == "partly fake" and mixed["p_fake"] < mixed["threshold"]
    (run,) = mixed["segments"]
    assert set(run) == {"start", "end", "p_fake"} and 2.5 <= run["start"] <= 3.5 and 5.5 <= run["end"] <= 6.5
    assert run["p_fake"] > 0.8
    assert real["label"] == "real" and real["segments"] == []
    assert metric(c, "spoofscan_clips_total", label="partly fake") == 1


def test_no_speech_is_answered_without_score_or_p_fake():
    """The third label, no speech, renders: score and p_fake null, speech given, valid JSON (no NaN)."""
    with client() as c:
        r = c.post("/v1/detect", files={"file": ("silence.wav", encode(np.zeros(RATE_2S, np.float32)))})
    d = r.json()
    assert r.status_code == 200 and d["label"] == "no speech"
    assert d["score"] is None and d["p_fake"] is None and d["speech"] == 0.0 and d["padded"] is False
    assert all(w["score"] is None and w["p_fake"] is None for w in d["timeline"])



def test_batch_answers_each_file_on_its_own():
    files = [("files", ("a.wav", clip_bytes("bonafide", 1.5))), ("files", ("notes.txt", b"not audio at all")),
             ("files", ("b.wav", clip_bytes("spoof", 2.5, seed=3))),
             ("files", ("cut.wav", clip_bytes("spoof", 2.0)[:3000])),
             ("files", ("long.wav", clip_bytes("bonafide", 4.0)))]
    with client(max_seconds=3.0) as c:
        r = c.post("/v1/detect/batch", files=files)
        assert metric(c, "spoofscan_failures_total", kind="not_audio") == 1
    d = r.json()
    assert r.status_code == 200 and d["files"] == 5 and d["failed"] == 3
    got = [(x["file"], x["ok"], x.get("label"), x.get("status"), x.get("error")) for x in d["results"]]
    assert got == [("a.wav", True, "real", None, None), ("notes.txt", False, None, 415, "not_audio"),
                   ("b.wav", True, "fake", None, None), ("cut.wav", False, None, 422, "truncated"),
                   ("long.wav", False, None, 413, "too_long")]
    assert "truncated" in d["results"][3]["detail"] and "cut.wav" in d["results"][3]["detail"]
    assert d["results"][0]["timeline"] and d["results"][0]["request_id"] == d["request_id"]


# ---------------------------------------------------------------------------- every refusal


def _nan_wav() -> bytes:
    x = np.zeros(RATE_2S, np.float32)
    x[5000] = np.nan
    return encode(x, subtype="FLOAT")


# (what, body, status, kind, words the detail must hold)
BAD_BODIES = [
    ("empty body", b"", 422, "empty", "0 bytes"),
    ("random bytes", np.random.default_rng(0).bytes(20_000), 415, "not_audio", "not audio"),
    ("text", b"hello, this is not a recording\n" * 50, 415, "not_audio", "not audio"),
    ("truncated wav", None, 422, "truncated", "truncated"),
    ("header only", None, 422, "empty", "header announces"),  # a header without its audio data
    ("no samples", None, 422, "empty", "no audio samples"),
    ("NaN samples", None, 422, "not_finite", "NaN"),
    ("too short", None, 422, "too_short", "too short"),
    ("1 Hz sample rate", None, 422, "bad_sample_rate", "sample rate"),
    ("too long", None, 413, "too_long", "too long"),
]


def _bad_body(what):
    return {"truncated wav": lambda: clip_bytes("bonafide", 2.0)[:20_000],
            "header only": lambda: clip_bytes("bonafide", 2.0)[:44],
            "no samples": lambda: encode(np.zeros(0, np.float32)),
            "NaN samples": _nan_wav,
            "too short": lambda: encode(np.ones(160, np.float32) * 0.1),
            "1 Hz sample rate": lambda: riff_wav(rate=1, frames=3),  # 3 s long: not too long for the limit
            "too long": lambda: clip_bytes("bonafide", 6.0)}[what]()


@pytest.mark.parametrize("what,body,status,kind,words", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_audio_gets_its_status_and_the_decoders_reason(what, body, status, kind, words):
    body = _bad_body(what) if body is None else body
    with client(max_seconds=5.0) as c:
        for r in (c.post("/v1/detect?filename=x.wav", content=body),
                  c.post("/v1/detect", files={"file": ("x.wav", body)})):
            d = r.json()
            assert (r.status_code, d["error"], d["ok"]) == (status, kind, False), d
            assert words in d["detail"] and d["detail"].startswith("x.wav: ") and d["request_id"]
        assert metric(c, "spoofscan_failures_total", kind=kind) == 2
        assert c.get("/readyz").status_code == 200  # and the service goes on


def test_every_audio_kind_is_reachable():
    kinds = {kind for _, _, kind in AUDIO_REASONS}
    assert kinds - {"not_audio", "too_long"} <= {b[3] for b in BAD_BODIES}


def test_body_over_the_limit_is_refused_before_decoding():
    big = clip_bytes("bonafide", 5.0)  # 160 kB, over a 0.1 MiB limit
    assert len(big) > 0.1 * MIB
    with client(max_body_mb=0.1) as c:
        announced = c.post("/v1/detect", content=big)  # Content-Length says it
        streamed = c.post("/v1/detect", content=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]))
        form = c.post("/v1/detect", files={"file": ("big.wav", big)})
        assert c.post("/v1/detect", content=clip_bytes("bonafide", 1.0)).status_code == 200
        assert metric(c, "spoofscan_windows_total") == 1  # only the small clip reached the model
    for r in (announced, streamed, form):
        assert r.status_code == 413 and r.json()["error"] == "body_too_large", r.text
    assert "transfer-encoding" not in announced.request.headers
    assert streamed.request.headers.get("transfer-encoding") == "chunked"


def test_malformed_requests():
    wav = clip_bytes("bonafide", 1.0)
    with client(max_files=2) as c:
        cases = {
            "no file in the form": (c.post("/v1/detect", data={"note": "hi"}, files={"x": (None, "y")}),
                                    422, "no_file"),
            "broken multipart": (c.post("/v1/detect", content=b"garbage before the boundary --zz\r\n",
                                        headers={"content-type": "multipart/form-data; boundary=zz"}),
                                 400, "bad_multipart"),
            "no boundary": (c.post("/v1/detect", content=b"abc", headers={"content-type": "multipart/form-data"}),
                            400, "bad_multipart"),
            "two files to /v1/detect": (c.post("/v1/detect", files=[("file", ("a.wav", wav)),
                                                                    ("file", ("b.wav", wav))]),
                                        413, "too_many_files"),
            "too many files": (c.post("/v1/detect/batch", files=[("files", (f"{i}.wav", wav)) for i in range(3)]),
                               413, "too_many_files"),
            "batch as raw body": (c.post("/v1/detect/batch", content=wav), 415, "not_multipart"),
            "bad query": (c.post("/v1/detect?timeline=perhaps", content=wav), 422, "invalid_request"),
            "bad content-length": (c.post("/v1/detect", content=wav, headers={"content-length": "-5"}),
                                   400, "bad_request"),
            "wrong method": (c.get("/v1/detect"), 405, "method_not_allowed"),
            "unknown path": (c.get("/v1/nothing"), 404, "not_found"),
            "static traversal": (c.get("/static/../../etc/passwd"), 404, "not_found"),
        }
        for what, (r, status, kind) in cases.items():
            assert (r.status_code, r.json()["error"]) == (status, kind), (what, r.text)
        assert c.get("/readyz").status_code == 200


def test_request_ids_are_kept_when_safe_and_replaced_when_not():
    with client() as c:
        kept = c.get("/healthz", headers={"x-request-id": "trace-42.a_b"})
        replaced = c.get("/healthz", headers={"x-request-id": "bad id\twith junk" + "x" * 100})
    assert kept.headers["x-request-id"] == "trace-42.a_b"
    assert replaced.headers["x-request-id"] != "bad id" and len(replaced.headers["x-request-id"]) == 16


# ---------------------------------------------------------------------------- key and address


def test_api_key_guards_every_v1_route_only():
    wav = clip_bytes("bonafide", 1.0)
    with client(api_key="s3cret-key") as c:
        for r in (c.post("/v1/detect", content=wav), c.get("/v1/model"),
                  c.post("/v1/detect/batch", files={"files": ("a.wav", wav)}),
                  c.post("/v1/detect", content=wav, headers={"x-api-key": "wrong"}),
                  c.post("/v1/detect", content=wav, headers={"authorization": "Bearer wrong"})):
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/detect", content=wav, headers={"x-api-key": "s3cret-key"}).status_code == 200
        assert c.post("/v1/detect", content=wav, headers={"authorization": "Bearer s3cret-key"}).status_code == 200
        for path in ("/", "/healthz", "/readyz", "/metrics", "/docs", "/static/app.js"):
            assert c.get(path).status_code == 200, path
        assert metric(c, "spoofscan_windows_total") == 2  # refused requests never reached the model


def test_non_loopback_address_needs_a_key_or_an_explicit_flag(capsys, monkeypatch):
    from spoofscan.cli import main

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.8.9.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    with pytest.raises(Exception, match="SPOOFSCAN_API_KEY"):
        check_bind("0.0.0.0", ServeSettings())
    check_bind("0.0.0.0", ServeSettings(api_key="k" * 16))  # a key long enough for a public address
    check_bind("0.0.0.0", ServeSettings(allow_public_without_key=True))
    check_bind("127.0.0.1", ServeSettings())
    monkeypatch.delenv("SPOOFSCAN_API_KEY", raising=False)
    assert main(["serve", "--model", "missing.onnx", "--host", "0.0.0.0"]) == 2
    assert "--allow-public-without-key" in capsys.readouterr().err
    assert "s3cret" not in repr(ServeSettings(api_key="s3cret"))
    assert ServeSettings(api_key="s").to_dict()["api_key"] == "set"


# ---------------------------------------------------------------------------- page, docs, probes


def test_page_static_files_and_offline_docs():
    with client() as c:
        page = c.get("/")
        assert page.status_code == 200 and "static/app.js" in page.text and "static/style.css" in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "http" not in csp
        assert "no speech" in page.text.lower() and "equal priors" in page.text
        for name, kind in (("app.js", "javascript"), ("style.css", "css")):
            r = c.get(f"/static/{name}")
            assert r.status_code == 200 and kind in r.headers["content-type"]
            assert "http://" not in r.text and "https://" not in r.text  # nothing from the internet
        docs = c.get("/docs")
        assert docs.status_code == 200 and "https://" not in docs.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f"/static-offline-docs/{asset}" in docs.text
            assert c.get(f"/static-offline-docs/{asset}").status_code == 200
        spec = c.get("/openapi.json").json()
        assert {"/v1/detect", "/v1/detect/batch", "/v1/model", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
        body = spec["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
        assert {"multipart/form-data", "application/octet-stream"} <= set(body)


def test_probes_model_and_metrics(tiny_checkpoint):
    det = spoofscan.load_detector(tiny_checkpoint, device="cpu")
    with client(det, model_path=tiny_checkpoint, max_seconds=60.0) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        m = c.get("/v1/model").json()
        assert m["model"]["sha256_full"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
        assert m["card"]["metrics"] == {"dev_eer": 0.25} and m["limits"]["max_seconds"] == 60.0
        assert m["model"]["window_seconds"] == 1.0 and m["model"]["backend"] == "torch"
        c.post("/v1/detect", content=clip_bytes("bonafide", 2.0))
        c.post("/v1/detect", content=b"junk")
        text = c.get("/metrics").text
        for name in ("spoofscan_requests_total", "spoofscan_request_seconds_bucket", "spoofscan_requests_in_flight",
                     "spoofscan_queue_windows", "spoofscan_pending_requests", "spoofscan_failures_total",
                     "spoofscan_batch_windows_bucket", "spoofscan_audio_seconds_total",
                     "spoofscan_model_seconds_bucket"):
            assert name in text, name
        assert metric(c, "spoofscan_requests_total", route="/v1/detect", status="200") == 1
        assert metric(c, "spoofscan_requests_total", route="/v1/detect", status="415") == 1
        assert metric(c, "spoofscan_audio_seconds_total") == 2.0 and metric(c, "spoofscan_windows_total") == 3
        c.get("/no/such/page/123")
        assert metric(c, "spoofscan_requests_total", route="other", status="404") == 1


def test_the_worker_starts_and_stops_with_the_app():
    app = create_app(BandDetector(), ServeSettings())
    with TestClient(app) as c:
        assert c.get("/readyz").status_code == 200
        batcher = app.state.serve.batcher
        assert batcher.alive
    assert not batcher.alive and not batcher._thread.is_alive()


def test_a_model_failure_is_a_500_and_the_service_goes_on():
    class Broken(BandDetector):
        broken = True

        def window_scores(self, windows):
            if self.broken:
                raise RuntimeError("boom")
            return super().window_scores(windows)

    det = Broken()
    with client(det) as c:
        bad = c.post("/v1/detect", content=clip_bytes("bonafide", 1.0))
        det.broken = False
        good = c.post("/v1/detect", content=clip_bytes("bonafide", 1.0))
    assert bad.status_code == 500 and bad.json()["error"] == "internal" and "boom" not in bad.text
    assert good.status_code == 200 and good.json()["label"] == "real"


# ---------------------------------------------------------------------------- load: queue, batching, memory


def _post_in_thread(c: TestClient, body: bytes, out: list, **kw):
    t = threading.Thread(target=lambda: out.append(c.post("/v1/detect", content=body, **kw)))
    t.start()
    return t


def _release_once_queued(c: TestClient, det, windows: int, threads: list) -> None:
    """Wait until ``windows`` windows queue behind the model call ``det`` holds, then let the
    model run and wait for the requests of ``threads``."""
    deadline = time.time() + 10
    while c.app.state.serve.batcher.queue_windows < windows and time.time() < deadline:
        time.sleep(0.01)
    det.gate.set()
    for t in threads:
        t.join(20)


def test_queue_full_is_503_with_retry_after():
    det = GatedDetector()
    with client(det, max_pending=2, retry_after=7) as c:
        held: list = []
        threads = [_post_in_thread(c, clip_bytes("bonafide", 1.0), held) for _ in range(2)]
        assert det.entered.wait(10)
        deadline = time.time() + 10
        while c.app.state.serve.pending < 2 and time.time() < deadline:
            time.sleep(0.01)
        busy = c.post("/v1/detect", content=clip_bytes("bonafide", 1.0))
        ready = c.get("/readyz")
        det.gate.set()
        for t in threads:
            t.join(10)
        after = c.post("/v1/detect", content=clip_bytes("bonafide", 1.0))
    assert busy.status_code == 503 and busy.headers["retry-after"] == "7" and busy.json()["error"] == "queue_full"
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert [r.status_code for r in held] == [200, 200] and after.status_code == 200


@pytest.mark.parametrize("cross", [True, False])
def test_windows_of_concurrent_requests_share_model_calls(cross):
    """With the model busy, short clips from 6 requests pile up; the next calls take them together
    (or, without cross-request batching, one clip per call)."""
    det = GatedDetector(batch_size=8)
    with client(det, cross_request_batching=cross) as c:
        first: list = []
        t0 = _post_in_thread(c, clip_bytes("bonafide", 1.0), first)
        assert det.entered.wait(10)  # the model is now held on the first clip
        out: list = []
        threads = [_post_in_thread(c, clip_bytes("spoof" if i % 2 else "bonafide", 1.0, seed=i), out) for i in range(6)]
        _release_once_queued(c, det, 6, threads + [t0])
        clips_per_call = c.get("/metrics").text
    assert [r.status_code for r in out + first] == [200] * 7
    assert sorted(r.json()["label"] for r in out) == ["fake"] * 3 + ["real"] * 3
    assert det.calls[0] == 1
    if cross:
        assert det.calls[1:] == [6]  # all six waiting clips in one call
    else:
        assert det.calls[1:] == [1] * 6
    assert ("spoofscan_batch_clips_bucket{le=\"1.0\"} " + ("1.0" if cross else "7.0")) in clips_per_call


def test_a_window_the_model_cannot_score_costs_only_its_own_clip():
    """Two clips in one model call, the model raising whenever the marked clip's window is in the
    batch: as in the library (Detector.score_windows), the windows are tried again one by one,
    so the good clip gets its verdict and only the marked one its 500."""
    marker = 0.25  # the bad clip is a constant: its window is easy to spot
    shared: list = []  # per model call: the marked window came with others

    class Choking(GatedDetector):
        def window_scores(self, windows):
            marked = bool(np.any(np.all(np.abs(windows - marker) < 1e-3, axis=1)))
            shared.append(marked and len(windows) > 1)
            if marked:
                raise RuntimeError("boom")
            return super().window_scores(windows)

    det = Choking(batch_size=8)
    with client(det) as c:
        first: list = []
        t0 = _post_in_thread(c, clip_bytes("bonafide", 1.0, seed=3), first)
        assert det.entered.wait(10)  # the model is now held on the first clip
        good: list = []
        bad: list = []
        threads = [_post_in_thread(c, clip_bytes("bonafide", 1.0), good),
                   _post_in_thread(c, encode(np.full(RATE_2S // 2, marker, np.float32)), bad)]
        _release_once_queued(c, det, 2, threads + [t0])
        internal = metric(c, "spoofscan_failures_total", kind="internal")
    assert any(shared)  # the two clips did share a model call
    assert first[0].status_code == 200
    assert good[0].status_code == 200 and good[0].json()["label"] == "real"
    assert bad[0].status_code == 500 and bad[0].json()["error"] == "internal" and "boom" not in bad[0].text
    assert internal == 1


def test_a_short_clip_is_not_queued_behind_long_ones():
    """Three long clips have windows waiting when a short one arrives: the next model call
    takes one window of each clip in turn, so the short clip is in it (and done)."""
    marker = 0.25  # the short clip is a constant: its window is easy to spot

    class Spot(GatedDetector):
        def window_scores(self, windows):
            spotted.append(bool(np.any(np.all(np.abs(windows - marker) < 1e-3, axis=1))))
            return super().window_scores(windows)

    spotted: list = []
    det = Spot(batch_size=4)
    with client(det, clip_windows=8) as c:
        out: list = []
        threads = [_post_in_thread(c, clip_bytes("bonafide", 30.0, seed=i), out) for i in range(3)]
        assert det.entered.wait(10)
        batcher = c.app.state.serve.batcher
        deadline = time.time() + 10
        while len(batcher._waiting) < 3 and time.time() < deadline:
            time.sleep(0.01)
        threads.append(_post_in_thread(c, encode(np.full(RATE_2S // 2, marker, np.float32)), out))
        while len(batcher._waiting) < 4 and time.time() < deadline:
            time.sleep(0.01)
        det.gate.set()
        for t in threads:
            t.join(30)
    assert [r.status_code for r in out] == [200] * 4
    assert out[0].json()["duration"] == 1.0  # the short one came back first
    assert spotted[:2] == [False, True]  # in the first call after the held one


def test_a_long_clip_is_decoded_a_few_windows_ahead_only():
    """clip_windows bounds what one upload holds in memory: never more than that waits in the
    queue, and at most a batch more is in the model."""
    seen = []

    class Watch(BandDetector):
        def window_scores(self, windows):
            seen.append((len(windows), app.state.serve.batcher.queue_windows))
            time.sleep(0.002)
            return super().window_scores(windows)

    app = create_app(Watch(batch_size=4), ServeSettings(clip_windows=6))
    with TestClient(app) as c:
        r = c.post("/v1/detect", content=clip_bytes("bonafide", 60.0))
    assert r.status_code == 200 and r.json()["windows"] == 119
    assert sum(n for n, _ in seen) == 119
    assert max(q for _, q in seen) <= 6 and max(n for n, _ in seen) <= 4
    assert max(n + q for n, q in seen) > 4  # decoding ran ahead while the model worked


# ---------------------------------------------------------------------------- client gone, slow client


def _asgi_post(app, body_parts, after_body, path="/v1/detect"):
    """Drive the app with raw ASGI messages; ``after_body`` is awaited in place of the next receive."""
    parts = list(body_parts)
    sent = []

    async def receive():
        if parts:
            body, more = parts.pop(0)
            return {"type": "http.request", "body": body, "more_body": more}
        return await after_body()

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/octet-stream")], "client": ("127.0.0.1", 5),
             "server": ("127.0.0.1", 80)}
    return app(scope, receive, send), sent


def test_client_gone_cancels_its_work(tmp_path, monkeypatch):
    """The client leaves while its 30-s clip is scored: the rest of its windows never reach the
    model, its job and its (on-disk) upload are closed, the cancel is counted."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    calls = []

    class Slow(BandDetector):
        def window_scores(self, windows):
            calls.append(len(windows))
            time.sleep(0.05)
            return super().window_scores(windows)

    app = create_app(Slow(batch_size=1), ServeSettings(clip_windows=2, spool_bytes=4096))
    body = clip_bytes("bonafide", 30.0)  # 59 windows, about 3 s of model time

    async def run():
        async with app.router.lifespan_context(app):
            gone = asyncio.Event()

            async def disconnect():
                await gone.wait()
                return {"type": "http.disconnect"}

            call, sent = _asgi_post(app, [(body, False)], disconnect)
            task = asyncio.create_task(call)
            while len(calls) < 3:
                await asyncio.sleep(0.01)
            assert _open_files_under(str(tmp_path))  # the upload is on disk while it is scored
            gone.set()
            await asyncio.wait_for(task, 10)
            scored = len(calls)
            await asyncio.sleep(0.3)  # nothing more reaches the model
            return sent, scored, len(calls)

    sent, scored, later = asyncio.run(run())
    batcher = app.state.serve.batcher
    assert later <= scored + 1 < 20  # far fewer than the clip's 59 windows
    assert sent[0]["status"] == 499
    assert batcher.queue_windows == 0 and not batcher._jobs
    assert _open_files_under(str(tmp_path)) == [] and list(tmp_path.iterdir()) == []
    assert b'kind="cancelled"} 1.0' in app.state.serve.metrics.render()


def test_a_slow_upload_times_out_with_408():
    app = create_app(BandDetector(), ServeSettings(idle_timeout=0.2, upload_timeout=5))

    async def run():
        async with app.router.lifespan_context(app):
            async def stall():
                await asyncio.sleep(60)

            call, sent = _asgi_post(app, [(b"RIFF", True)], stall)
            await asyncio.wait_for(call, 5)
            return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"] == "upload_timeout"


# ---------------------------------------------------------------------------- temporary files


def _open_files_under(folder: str) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(folder):
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to list open files")
def test_no_temporary_file_is_left_behind(tmp_path, monkeypatch):
    """Uploads over the in-memory size go to unnamed temporary files; whatever the outcome
    (verdict, bad audio, too large, too long, a batch with a bad file), none stays open and none
    appears on disk. (A client that goes away: test_client_gone_cancels_its_work.)"""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    big_real = clip_bytes("bonafide", 40.0)  # 1.3 MB: over the 64 kB spool, so on disk
    assert len(big_real) > 1_000_000
    det = GatedDetector(batch_size=4)
    det.gate.set()
    with client(det, spool_bytes=64 * 1024, max_body_mb=3, max_seconds=30.0) as c:
        # while a large upload waits for the model, its temporary file exists (so the check can see one)
        det.gate.clear()
        det.entered.clear()
        held: list = []
        t = _post_in_thread(c, clip_bytes("bonafide", 20.0), held)
        assert det.entered.wait(10)
        during = _open_files_under(str(folder))
        det.gate.set()
        t.join(10)
        assert held[0].status_code == 200 and during, "the test cannot see temporary files"

        statuses = [
            c.post("/v1/detect", files={"file": ("a.wav", clip_bytes("bonafide", 20.0))}).status_code,
            c.post("/v1/detect", content=big_real).status_code,                              # too long
            c.post("/v1/detect", content=big_real[:900_000]).status_code,                    # truncated
            c.post("/v1/detect", content=np.random.default_rng(1).bytes(500_000)).status_code,  # not audio
            c.post("/v1/detect", content=iter([big_real] * 3)).status_code,                  # over the body limit
            c.post("/v1/detect/batch", files=[
                ("files", ("a.wav", clip_bytes("bonafide", 20.0))),
                ("files", ("b.bin", np.random.default_rng(2).bytes(300_000)))]).status_code,
        ]
        assert statuses == [200, 413, 422, 415, 413, 200]
    assert _open_files_under(str(folder)) == [] and list(folder.iterdir()) == []
