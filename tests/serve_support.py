"""What the web-service tests share: a detector that tells synth.py's classes apart without a
network, a model whose calls can be held, a clip as WAV bytes."""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
from synth import encode, synth_clip

from spoofscan.calibration import Calibration
from spoofscan.detector import Detector
from spoofscan.frontend.config import FeatureConfig

RATE = 16_000
FEATURES = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)  # 1-s windows: little audio per test
HIGH_BAND_HZ = 3200.0


class BandDetector(Detector):
    """Scores a window by the share of its energy above 3.2 kHz (the "spoof" clips of
    tests/synth.py have their noise low-passed at 3 kHz): real -> about +1.8, fake -> about -2.4.

    It goes through the whole Detector machinery (decoding, windows, speech gate, calibration,
    finish); only the network is replaced.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("batch_size", 8)
        super().__init__(FEATURES, Calibration(a=2.0, b=0.0), card={"name": "band-ratio", "version": "test-1"},
                         **kwargs)
        self.calls: list[int] = []  # windows per window_scores call

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        self.calls.append(len(windows))
        spec = np.abs(np.fft.rfft(windows, axis=1)) ** 2
        freqs = np.fft.rfftfreq(windows.shape[1], 1 / RATE)
        total = spec.sum(axis=1)
        ratio = spec[:, freqs >= HIGH_BAND_HZ].sum(axis=1) / np.maximum(total, 1e-30)
        scores = np.log10(ratio + 1e-9) + 3.0
        return scores.astype(np.float32)


class GatedDetector(BandDetector):
    """A BandDetector whose model calls wait until ``gate`` is set; ``entered`` is set at each call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def window_scores(self, windows):
        self.entered.set()
        self.gate.wait(timeout=30)
        return super().window_scores(windows)


def clip_bytes(label: str, seconds: float, seed: int = 0) -> bytes:
    """A synth.py clip (``bonafide`` or ``spoof``) as 16-bit WAV bytes."""
    return encode(synth_clip(label, seconds, np.random.default_rng(seed)))


@contextlib.contextmanager
def served(app):
    """``app`` on a free 127.0.0.1 port, served by uvicorn in a thread: yields its base URL."""
    import uvicorn
    from helpers import free_port

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
