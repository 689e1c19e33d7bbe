"""The service on the torch-free ONNX runtime: in the test client, and as the real
``spoofscan serve`` process on a free 127.0.0.1 port, started, called and stopped."""

from __future__ import annotations

import hashlib
import inspect
import os
import signal
import subprocess
import sys
import time

import httpx2 as httpx  # starlette's test client uses httpx2 too (pyproject test extra)
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from serve_support import clip_bytes, free_port  # noqa: E402

import spoofscan  # noqa: E402
from spoofscan.serve import ServeSettings, create_app  # noqa: E402

START_SECONDS = 90  # a cold start on a busy 2-core machine (imports, model load, warm-up)
BLOCK_TORCH = '''
import sys

class _NoTorch:
    """Refuse to import torch, as on a deployment installed without the torch extra."""
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: a torch-free deployment)", name=name)
        return None

sys.meta_path.insert(0, _NoTorch())
'''


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    """An FP32 export of a tiny random-weight checkpoint (1-s windows) with a named card."""
    import torch

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.export import export_onnx
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.models import create_model, model_preset

    root = tmp_path_factory.mktemp("serve-onnx")
    torch.manual_seed(2)
    features = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)
    # models that own their front end take its features; before that change, the config alone
    takes_features = "features" in inspect.signature(create_model).parameters
    net = create_model(model_preset("resnet10-mini"), features) if takes_features else create_model(model_preset("resnet10-mini"))
    card = make_card(features.to_dict(), net.cfg.to_dict(), Calibration(a=2.0, b=-0.1).to_dict(), threshold=0.5)
    save_checkpoint(root / "tiny.safetensors", net.state_dict(), card)
    export_onnx(root / "tiny.safetensors", root / "tiny.onnx")
    return root / "tiny.onnx"


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


def test_the_real_serve_process_without_torch(onnx_model, tmp_path):
    """``spoofscan serve`` with an .onnx model, torch made unimportable, an API key in the
    environment: it answers, guards /v1, scores, and stops cleanly on SIGINT and SIGTERM."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, SPOOFSCAN_API_KEY="k-123",
               PYTHONPATH=os.pathsep.join([str(tmp_path)] + [p for p in sys.path if p]))
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
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH.replace('"torch"', '"fastapi"').replace("torch.", "fastapi."))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path)] + [p for p in sys.path if p]))
    done = subprocess.run([sys.executable, "-m", "spoofscan", "serve", "--model", "m.onnx"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "pip install 'spoofscan[serve]'" in done.stderr, done.stderr
