"""The service on the torch-free ONNX runtime: in the test client, and as the real
``spoofscan serve`` process on a free 127.0.0.1 port, started, called and stopped."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time

import httpx2 as httpx  # starlette's test client uses httpx2 too (pyproject test extra)
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from helpers import env_without, free_port, run_without  # noqa: E402
from serve_support import clip_bytes  # noqa: E402

import spoofscan  # noqa: E402
from spoofscan.serve import ServeSettings, create_app  # noqa: E402

START_SECONDS = 90  # a cold start on a busy 2-core machine (imports, model load, warm-up)


@pytest.fixture(scope="module")
def onnx_model(tiny_onnx):
    """conftest's FP32 export of a tiny random-weight checkpoint (1-s windows), named ``tiny``."""
    return tiny_onnx["onnx"]


def test_onnx_backend_answers_what_the_library_answers(onnx_model):
    det = spoofscan.load_detector(onnx_model, threads=1)
    audio = clip_bytes("spoof", 2.7, seed=5)
    want = det.predict(audio)
    with TestClient(create_app(det, ServeSettings(), model_path=onnx_model)) as c:
        d = c.post("/v1/detect", files={"file": ("x.wav", audio)}).json()
        model = c.get("/v1/model").json()
    assert d["score"] == pytest.approx(want.score, abs=1e-5) and d["label"] == want.label
    assert [w["p_fake"] for w in d["timeline"]] == pytest.approx([w.p_fake for w in want.timeline], abs=1e-5)
    assert d["model"]["backend"] == "onnx" and d["model"]["precision"] == "fp32" and d["model"]["name"] == "tiny"
    assert model["export"]["precision"] == "fp32" and model["card"]["threshold"] == 0.5


def _start(args: list, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "spoofscan", "serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_ready(proc: subprocess.Popen, url: str) -> None:
    deadline = time.time() + START_SECONDS
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"spoofscan serve exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"spoofscan serve was not ready after {START_SECONDS} s")


@pytest.mark.server
def test_the_real_serve_process_without_torch(onnx_model, tmp_path):
    """``spoofscan serve`` with an .onnx model, torch made unimportable, an API key in the
    environment: it answers, guards /v1, scores, and stops cleanly on SIGINT and SIGTERM."""
    env = env_without(tmp_path, "torch", SPOOFSCAN_API_KEY="k-123")
    for stop in (signal.SIGINT, signal.SIGTERM):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(["--model", str(onnx_model), "--port", str(port), "--threads", "1"], env)
        try:
            _wait_ready(proc, url)
            audio = clip_bytes("bonafide", 2.2)
            assert httpx.post(url + "/v1/detect", content=audio).status_code == 401
            r = httpx.post(url + "/v1/detect", files={"file": ("clip.wav", audio)}, headers={"x-api-key": "k-123"})
            assert r.status_code == 200, r.text
            d = r.json()
            assert d["label"] in ("real", "fake") and d["windows"] == 4 and d["model"]["backend"] == "onnx"
            assert d["model"]["sha256"] == hashlib.sha256(onnx_model.read_bytes()).hexdigest()[:12]
            raw = httpx.post(url + "/v1/detect", content=audio, headers={"authorization": "Bearer k-123"}).json()
            assert raw["score"] == pytest.approx(d["score"], abs=1e-9)
            assert "static/app.js" in httpx.get(url + "/").text
            assert 'spoofscan_requests_total{route="/v1/detect",status="401"} 1.0' in httpx.get(url + "/metrics").text
            assert "server" not in httpx.get(url + "/healthz").headers  # uvicorn's banner is off
        finally:
            proc.send_signal(stop)
            try:
                out, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
        # a graceful stop: uvicorn drains, the app's lifespan stops the worker; after SIGTERM
        # uvicorn re-raises the signal once done (the exit status init systems expect)
        assert "Application shutdown complete." in out and proc.returncode in (0, -stop), (proc.returncode, out)
        assert "Traceback" not in out and "No module named 'torch'" not in out, out


def test_serve_without_the_extra_says_what_to_install(tmp_path):
    done = run_without(tmp_path, ["-m", "spoofscan", "serve", "--model", "m.onnx"], packages=("fastapi",), timeout=60)
    assert done.returncode == 2 and "pip install 'spoofscan[serve]'" in done.stderr, done.stderr
