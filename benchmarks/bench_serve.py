"""Load and abuse benchmark of the web service, against real uvicorn servers on 127.0.0.1.

Three parts, each against a server in its own process (the real ``spoofscan serve`` command
for 1 and 3, the library's :func:`spoofscan.serve.serve` with one setting changed for 2):

1. **Load.** ``--requests`` uploads (default 2,000) from ``--users`` concurrent Locust users
   (default 32), raw-body WAV/FLAC/Ogg/MP3 of mixed lengths, 1 s to 10 min, drawn with a fixed
   seed: requests/s, audio-seconds scored per second, p50/p95/p99 latency (all, and by
   length), 5xx count, the server's peak RSS and RSS before and after, and from ``/metrics``
   the windows and clips per model call.
2. **Batching across requests against one request at a time.** The same 32 users sending
   short clips (1-4 s: one window each, where batching across requests is all there is) to a
   server that gathers windows of every pending clip into a model call, then to one that
   takes one clip per call (``cross_request_batching=False``), everything else equal.
3. **Abuse.** More than 30 kinds of malformed or hostile upload (empty, huge, random bytes,
   truncated files of each format, wrong content types, absurd sample rates, an hour of
   audio, a WAV header claiming billions of samples, a decompression bomb, a client sending
   one byte a second, hundreds of connections held open, a burst over the admission limit,
   clients that leave mid-work...), while background users keep sending valid clips. Each
   kind's answer is recorded and checked against what it should get; then the server must
   still be live and ready, and every background request must have been answered.

The model is the ``resnet18`` preset with random (seeded) weights, exported to ONNX
(``--precision int8``, the deployment path, calibrated on generated speech-like audio; or
``fp32``): timing does not depend on the weights. Model, audio and hostile inputs are made
once into ``--work`` (git-ignored ``runs/bench-serve``) and reused.

    python benchmarks/bench_serve.py              # about 10 minutes on 2 cores
    python benchmarks/bench_serve.py --quick      # a few minutes: 300 requests, 1 long clip

Needs the ``bench`` extra (``pip install -e '.[bench]'``: the service and locust).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--help" not in sys.argv and "-h" not in sys.argv:
    # Locust drives the load with gevent, which must patch the standard library before anything
    # else imports it; the servers run in their own processes, unpatched.
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import cpu_model, speech_like, write_long_file  # noqa: E402

RATE = 16_000
SEED = 0
API_KEY = "bench-key-0123456789"
USERS = 32
REQUESTS = 2_000
COMPARE_REQUESTS = 300
BACKGROUND_USERS = 4
UPLOAD_TIMEOUT = 20.0  # s, the abuse server's --upload-timeout (the slow client meets it)
MAX_SECONDS = 600  # the server's --max-seconds: the longest valid clip; the hour and the bomb are over it
MAX_PENDING = 64
HELD_CONNECTIONS = 400  # sockets opened and left idle during the abuse
START_SECONDS = 180
CALIBRATION_CLIPS = 48

# The load: (share of requests, clip lengths in seconds). Each length has a few clips in
# different formats and rates. Long clips are few so that the run fits in about 10 minutes on
# a shared 2-core machine: 0.2 % ten-minute clips (4 of 2,000 requests) and 1.5 % of 90-180 s
# are still about a third of the audio.
MIX = ((0.86, (1, 2, 3, 4, 5, 6, 8, 10)), (0.123, (15, 20, 30, 45, 60)), (0.015, (90, 120, 180)), (0.002, (600,)))
QUICK_MIX = ((0.60, (1, 2, 3, 4, 5, 6, 8, 10)), (0.33, (15, 20, 30, 45, 60)), (0.065, (90, 120)), (0.005, (600,)))
FORMATS = (("wav", RATE, "WAV", "PCM_16"), ("flac", 44_100, "FLAC", "PCM_16"), ("ogg", 48_000, "OGG", "VORBIS"),
           ("mp3", 22_050, "MP3", "MPEG_LAYER_III"), ("wav", 8_000, "WAV", "PCM_16"))
SHORT = (1, 2, 3, 4)  # the comparison's clips: one 4-s window each


# ---------------------------------------------------------------------------- inputs


def build_model(work: Path, precision: str) -> Path:
    """The resnet18 preset (random seeded weights) exported to ONNX; made once."""
    out = work / f"resnet18-{precision}.onnx"
    if out.exists():
        return out
    import torch

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.export import export_onnx
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.models import create_model, model_preset

    ckpt = work / "resnet18.safetensors"
    if not ckpt.exists():
        torch.manual_seed(SEED)
        net = create_model(model_preset("resnet18"))
        card = make_card(FeatureConfig().to_dict(), net.cfg.to_dict(), Calibration().to_dict(),
                         train={"note": "random weights: for timing only"})
        card["name"], card["version"] = "resnet18-random", "bench"
        save_checkpoint(ckpt, net.state_dict(), card)
    rng = np.random.default_rng(SEED)
    calibration = [speech_like(rng.uniform(4, 8), rng) for _ in range(CALIBRATION_CLIPS)] if precision == "int8" else None
    print(export_onnx(ckpt, out, int8=precision == "int8", calibration=calibration).summary(), flush=True)
    return out


def encode(x: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    """16 kHz float audio resampled to ``rate`` and encoded."""
    import soundfile as sf

    from spoofscan.audio import resample

    y = np.clip(resample(x, RATE, rate) if rate != RATE else x, -1, 1)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, 1, format=fmt, subtype=subtype) as f:
        for i in range(0, len(y), rate):  # a second at a time: libsndfile's Vorbis encoder crashes
            f.write(y[i:i + rate])         # on long single writes (45 s at 48 kHz did, here)
    return buf.getvalue()


def build_pool(work: Path, lengths) -> dict:
    """{seconds: [(name, bytes)]}: clips of each length in several formats; 10-min clips as WAV."""
    folder = work / "audio"
    folder.mkdir(parents=True, exist_ok=True)
    pool = {}
    for seconds in sorted(set(lengths)):
        clips = []
        variants = FORMATS[:1] if seconds >= 600 else FORMATS if seconds <= 60 else FORMATS[:2]
        for k, (ext, rate, fmt, subtype) in enumerate(variants):
            path = folder / f"{seconds}s-{k}-{rate}.{ext}"
            if not path.exists():
                rng = np.random.default_rng([SEED, seconds, k])
                if seconds >= 600:
                    write_long_file(path, seconds, rng)
                else:
                    path.write_bytes(encode(speech_like(seconds, rng), rate, fmt, subtype))
            clips.append((path.name, path.read_bytes()))
        pool[seconds] = clips
    return pool


def plan(n: int, mix, seed: int = SEED) -> list[int]:
    """The clip length of each of ``n`` requests: a bucket by its share, then a length in it."""
    rng = np.random.default_rng(seed)
    shares = np.array([s for s, _ in mix])
    buckets = rng.choice(len(mix), size=n, p=shares / shares.sum())
    return [int(rng.choice(mix[b][1])) for b in buckets]


# ---------------------------------------------------------------------------- the server


class Server:
    """A server process on a free 127.0.0.1 port, its output in ``log``; its RSS and CPU from /proc."""

    def __init__(self, args: list[str], log: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [a.replace("{port}", str(self.port)) for a in args]
        with open(log, "w") as f:
            self.proc = subprocess.Popen(argv, env=env or os.environ.copy(), stdout=f, stderr=subprocess.STDOUT)

    def __enter__(self):
        deadline = time.time() + START_SECONDS
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if http_get(self.port, "/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit("the server did not get ready")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid)

    def memory(self) -> dict:
        """Current and peak resident set size, MiB (VmRSS, VmHWM)."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        return out

    def metrics(self) -> dict:
        """Sums and counts of the service's Prometheus histograms and counters we report."""
        text = http_get(self.port, "/metrics")[2].decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(spoofscan_\w+?)(\{[^}]*\})? ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out


def process_cpu(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """Cores used during a block by the server, by this process (Locust), and by everything else."""

    def __init__(self, server: "Server"):
        self.server = server

    def __enter__(self):
        self.start = (time.perf_counter(), machine_busy(), process_cpu(), self.server.cpu_seconds())
        return self

    def __exit__(self, *exc):
        wall, busy, own, srv = (time.perf_counter() - self.start[0], machine_busy() - self.start[1],
                                process_cpu() - self.start[2], self.server.cpu_seconds() - self.start[3])
        self.cores = {"server": srv / wall, "locust": own / wall, "other": max(0.0, busy - srv - own) / wall}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- raw HTTP


def http_get(port: int, path: str, headers: dict | None = None) -> tuple:
    return http(port, "GET", path, b"", headers)


def http(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
         timeout: float = 120) -> tuple:
    """One request on a fresh connection: (status, headers, body); status None if the server
    closed the connection without an answer."""
    head = {"Host": f"127.0.0.1:{port}", "Connection": "close", "Content-Length": str(len(body))}
    head.update(headers or {})
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request_head(method, path, head) + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s)


def request_head(method: str, path: str, headers: dict) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response(s: socket.socket) -> tuple:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return (None, {}, data)
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", -1))
        while length < 0 or len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return (status, headers, body)
    except (ConnectionResetError, socket.timeout):
        return (None, {}, data)


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "benchBOUNDARY7x") -> tuple[bytes, str]:
    """(body, content type) for parts (field, filename or None, data)."""
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(
            "latin-1", "replace") + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------------------- load with Locust


@dataclass
class LoadResult:
    requests: int = 0
    wall: float = 0.0
    statuses: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)  # (seconds of audio, latency s)
    audio_seconds: float = 0.0
    retried_503: int = 0
    stopped_by_time: bool = False


def run_load(url: str, bodies: list[tuple[float, bytes]], users: int, max_seconds: float,
             retry_busy: bool = False, stop=None) -> LoadResult:
    """Send ``bodies`` (seconds, raw bytes) in order from ``users`` Locust users, each taking the
    next body when its last answer came; stops after the last body or ``max_seconds`` (or when
    ``stop()`` is true, for background traffic that also repeats the list)."""
    import gevent
    from locust import FastHttpUser, constant, task
    from locust.env import Environment
    from locust.exception import StopUser

    result = LoadResult()
    state = {"next": 0, "active": users}
    repeat = stop is not None

    class Client(FastHttpUser):
        host = url
        wait_time = constant(0)
        network_timeout = 900.0
        connection_timeout = 60.0

        @task
        def detect(self):
            i = state["next"]
            if (not repeat and i >= len(bodies)) or (stop is not None and stop()):
                state["active"] -= 1
                raise StopUser()
            state["next"] += 1
            seconds, body = bodies[i % len(bodies)]
            for _ in range(10):
                start = time.perf_counter()
                r = self.client.post("/v1/detect?timeline=false", data=body, name=f"{seconds:g}s",
                                     headers={"X-API-Key": API_KEY, "Content-Type": "application/octet-stream"})
                latency = time.perf_counter() - start
                if r.status_code == 503 and retry_busy:
                    result.retried_503 += 1
                    gevent.sleep(float(r.headers.get("retry-after") or 1))
                    continue
                break
            result.requests += 1
            result.statuses[r.status_code] = result.statuses.get(r.status_code, 0) + 1
            result.latencies.append((seconds, latency))
            if r.status_code == 200:
                result.audio_seconds += r.json()["duration"]

    env = Environment(user_classes=[Client])
    runner = env.create_local_runner()
    start = time.perf_counter()
    runner.start(users, spawn_rate=users)
    while state["active"] > 0:
        if time.perf_counter() - start > max_seconds:
            result.stopped_by_time = True
            break
        gevent.sleep(0.1)
    result.wall = time.perf_counter() - start
    runner.quit()
    return result


def summarize(r: LoadResult) -> dict:
    lat = np.array([t for _, t in r.latencies]) if r.latencies else np.zeros(1)
    by = {}
    for name, lo, hi in (("1-10 s", 0, 10), ("15-60 s", 11, 60), ("90-180 s", 61, 180), ("10 min", 181, 1e9)):
        x = np.array([t for s, t in r.latencies if lo <= s <= hi])
        if len(x):
            by[name] = {"n": int(len(x)), "p50": float(np.percentile(x, 50)), "p95": float(np.percentile(x, 95))}
    return {"requests": r.requests, "wall_s": r.wall, "rps": r.requests / r.wall,
            "audio_s_per_s": r.audio_seconds / r.wall, "audio_s": r.audio_seconds,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)), "p99": float(np.percentile(lat, 99)),
            "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
            "5xx": sum(v for k, v in r.statuses.items() if k >= 500), "by_length": by,
            "stopped_by_time": r.stopped_by_time}


def batch_stats(before: dict, after: dict) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    calls = d.get("spoofscan_batch_windows_count", 0)
    return {"model_calls": calls, "windows": d.get("spoofscan_batch_windows_sum", 0),
            "windows_per_call": d.get("spoofscan_batch_windows_sum", 0) / max(calls, 1),
            "clips_per_call": d.get("spoofscan_batch_clips_sum", 0) / max(calls, 1),
            "model_busy_s": d.get("spoofscan_model_seconds_sum", 0)}


# ---------------------------------------------------------------------------- abuse


def wav_header(rate: int, channels: int, bits: int, data_bytes: int, fmt_tag: int = 1) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    riff = 4 + 8 + len(fmt) + 8 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", data_bytes & 0xFFFFFFFF))


def m4a_bytes(x: np.ndarray) -> bytes:
    """AAC in an MP4 container, encoded with PyAV's bundled FFmpeg."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        stream = c.add_stream("aac", rate=RATE, layout="mono")
        frame_size = 1024
        for i in range(0, len(x), frame_size):
            chunk = x[i:i + frame_size]
            if len(chunk) < frame_size:
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32), format="fltp", layout="mono")
            frame.sample_rate = RATE
            frame.pts = i
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return buf.getvalue()


def silent_flac(path: Path, hours: float) -> bytes:
    """``hours`` of digital silence as FLAC: a few hundred kB that decode to gigabytes."""
    import soundfile as sf

    if not path.exists():
        with sf.SoundFile(str(path), "w", RATE, 1, format="FLAC", subtype="PCM_16") as f:
            block = np.zeros(RATE * 60, np.float32)
            for _ in range(int(hours * 60)):
                f.write(block)
    return path.read_bytes()


def hour_of_ulaw(path: Path) -> bytes:
    """An hour of 8 kHz mu-law speech-like audio (28.8 MB: under the body limit, over the length limit)."""
    import soundfile as sf

    if not path.exists():
        rng = np.random.default_rng(SEED)
        minute = speech_like(60, rng)
        from spoofscan.audio import resample

        minute = resample(minute, RATE, 8000)
        with sf.SoundFile(str(path), "w", 8000, 1, format="WAV", subtype="ULAW") as f:
            for _ in range(60):
                f.write(minute)
    return path.read_bytes()


@dataclass
class Abuse:
    kind: str
    expect: str  # what it should get: outcomes separated by "|", e.g. "413", "4xx|200", "no answer"
    got: str = ""
    note: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every outcome got (several for the burst) is one of the expected ones."""
        allowed = self.expect.split("|")

        def fits(got: str) -> bool:
            return got in allowed or ("4xx" in allowed and got.isdigit() and 400 <= int(got) < 500)

        return all(fits(g) for g in self.got.split("|"))


def abuse_cases(work: Path, port: int, key: dict) -> list:
    """(Abuse, function returning (got, note)) for every hostile kind."""
    rng = np.random.default_rng(7)
    good = speech_like(3.0, rng)
    wav = encode(good, RATE, "WAV", "PCM_16")
    octet = {"Content-Type": "application/octet-stream", **key}

    def post(body: bytes, headers=None, path="/v1/detect"):
        status, h, b = http(port, "POST", path, body, {**octet, **(headers or {})})
        try:
            err = json.loads(b).get("error", "") if b else ""
        except ValueError:
            err = b[:60].decode("latin-1", "replace")
        return (str(status) if status else "no answer"), err

    def form(parts, path="/v1/detect", headers=None):
        body, ctype = multipart(parts)
        return post(body, {"Content-Type": ctype, **(headers or {})}, path)

    def cut(data: bytes, fraction: float = 0.5) -> bytes:
        return data[:int(len(data) * fraction)]

    clip10 = speech_like(10.0, rng)
    formats = {
        "wav": encode(clip10, RATE, "WAV", "PCM_16"), "flac": encode(clip10, RATE, "FLAC", "PCM_16"),
        "ogg-vorbis": encode(clip10, 44_100, "OGG", "VORBIS"), "ogg-opus": encode(clip10, 48_000, "OGG", "OPUS"),
        "mp3": encode(clip10, 44_100, "MP3", "MPEG_LAYER_III"), "m4a-aac": m4a_bytes(clip10),
    }
    float_nan = np.array(good)
    float_nan[1000:1100] = np.nan
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
           + b"\x00" * 4 + np.random.default_rng(1).bytes(4000))
    one_sec = (np.sin(np.arange(RATE) * 0.05) * 8000).astype("<i2").tobytes()

    def huge_announced():
        # announces 200 MB, sends 2 MB; the server answers from the header
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(request_head("POST", "/v1/detect", {"Host": "x", "Content-Length": str(200 * 2 ** 20), **octet}))
            try:
                for _ in range(32):
                    s.sendall(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            status = read_response(s)[0]
        return (str(status) if status else "no answer"), "announced 200 MiB"

    def huge_chunked():
        # no length; 150 MB streamed in chunks until the server stops it
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(request_head("POST", "/v1/detect", {"Host": "x", "Transfer-Encoding": "chunked", **octet}))
            sent = 0
            piece = b"\1" * (1 << 20)
            try:
                while sent < 150 * 2 ** 20:
                    s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    sent += len(piece)
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            status = read_response(s)[0]
        return (str(status) if status else "no answer"), f"stopped after {sent // 2 ** 20} MiB sent"

    def length_lie():
        # says 10 MB, sends 1 kB and goes away: nothing to answer, nothing left running
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(request_head("POST", "/v1/detect", {"Host": "x", "Content-Length": str(10 ** 7), **octet}) + wav[:1024])
        return "closed by client", "handled (client_gone)"

    def gone_mid_work():
        # a 3-minute clip, then the client leaves while it is being scored: the work is cancelled
        before = metric(port, 'spoofscan_failures_total{kind="cancelled"}')
        long_clip = encode(speech_like(180, rng), RATE, "WAV", "PCM_16")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(request_head("POST", "/v1/detect", {"Host": "x", "Content-Length": str(len(long_clip)), **octet})
                      + long_clip)
            time.sleep(0.3)
        for _ in range(50):
            time.sleep(0.1)
            if metric(port, 'spoofscan_failures_total{kind="cancelled"}') > before:
                return "cancelled", "the server counted it in spoofscan_failures_total{kind=cancelled}"
        return "not cancelled", ""

    def slow_body():
        # one byte a second: refused when the upload time limit is reached
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=UPLOAD_TIMEOUT + 30) as s:
            s.sendall(request_head("POST", "/v1/detect", {"Host": "x", "Content-Length": str(len(wav)), **octet}))
            status = None
            for byte in wav:
                try:
                    s.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                s.settimeout(1.0)
                try:
                    data = s.recv(65536)
                    if data:
                        status = data.split(b" ", 2)[1].decode()
                        break
                except socket.timeout:
                    pass
        return (status or "no answer"), f"after {time.perf_counter() - start:.0f} s"

    def slow_headers():
        # slowloris: a header byte a second for 25 s (uvicorn has no header timeout)
        head = request_head("POST", "/v1/detect", {"Host": "x", "Content-Length": "100", **octet})
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for byte in head[:25]:
                s.sendall(bytes([byte]))
                time.sleep(1.0)
        return "held, then closed by client", "not timed out by the server: put a proxy with a header timeout in front"

    def held_open():
        # hundreds of connections opened and left idle while valid traffic goes on
        socks = []
        for _ in range(HELD_CONNECTIONS):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for i, s in enumerate(socks[: HELD_CONNECTIONS // 2]):
            s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: x\r\n")  # half of them with a partial request
        time.sleep(20)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except OSError:
                pass
            s.close()
        return f"{HELD_CONNECTIONS} held", f"{closed} closed by the server after its keep-alive timeout"

    def burst():
        # far more concurrent uploads than max_pending: the excess gets 503 with Retry-After
        import gevent

        results = []

        def one():
            status, headers, _ = http(port, "POST", "/v1/detect", formats["wav"], octet)
            results.append((status, headers.get("retry-after")))

        gevent.joinall([gevent.spawn(one) for _ in range(3 * MAX_PENDING)])
        counts = {}
        for status, _ in results:
            counts[status] = counts.get(status, 0) + 1
        retry = all(r for s, r in results if s == 503)
        got = "|".join(str(s) for s in sorted(counts, key=str))
        return got, f"{counts}; every 503 with Retry-After: {retry}"

    big_filename = "x" * 10_000 + ".wav"
    hour = hour_of_ulaw(work / "hour-8k-ulaw.wav")
    bomb = silent_flac(work / "bomb-2h-silence.flac", 2)

    cases = [
        (Abuse("empty body", "422"), lambda: post(b"")),
        (Abuse("empty file in a form", "422"), lambda: form([("file", "a.wav", b"")])),
        (Abuse("form without a file part", "422"), lambda: form([("note", None, b"hello")])),
        (Abuse("malformed multipart", "400"), lambda: post(b"garbage --zz\r\n", {"Content-Type": "multipart/form-data; boundary=zz"})),
        (Abuse("multipart without boundary", "400"), lambda: post(wav, {"Content-Type": "multipart/form-data"})),
        (Abuse("random bytes, 1 MiB", "415"), lambda: post(np.random.default_rng(3).bytes(2 ** 20))),
        (Abuse("text file", "415"), lambda: post(b"just some words, not a recording\n" * 200, {"Content-Type": "text/plain"})),
        (Abuse("HTML page", "415"), lambda: post(b"<!doctype html><html><body>" + b"<p>hi</p>" * 500 + b"</body></html>",
                                                 {"Content-Type": "text/html"})),
        (Abuse("PNG image", "415"), lambda: post(png, {"Content-Type": "image/png"})),
        (Abuse("JSON body", "415"), lambda: post(json.dumps({"audio": "base64..."}).encode(), {"Content-Type": "application/json"})),
        (Abuse("gzip-encoded WAV (not decompressed)", "415"), lambda: post(gzip.compress(wav), {"Content-Encoding": "gzip"})),
        # an MP4 keeps its index (moov) at the end: cut off, FFmpeg cannot tell the rest from non-audio (415)
        *[(Abuse(f"truncated {name} (half)", "4xx" if name.startswith("m4a") else "422"), (lambda data=data: post(cut(data))))
          for name, data in formats.items()],
        (Abuse("WAV header claiming 4e9 bytes of samples", "422"), lambda: post(wav_header(RATE, 1, 16, 4_000_000_000) + one_sec)),
        # absurd rates: 422 from the rate check, or 413 when the header's length is judged first
        (Abuse("WAV with a 1 Hz sample rate", "422|413"), lambda: post(wav_header(1, 1, 16, len(one_sec)) + one_sec)),
        (Abuse("WAV with a 400 kHz sample rate", "422|413"), lambda: post(wav_header(400_000, 1, 16, len(one_sec)) + one_sec)),
        (Abuse("WAV with a 4,294,967,295 Hz sample rate", "4xx"), lambda: post(wav_header(2 ** 32 - 1, 1, 16, len(one_sec)) + one_sec)),
        (Abuse("WAV with 0 channels", "4xx"), lambda: post(wav_header(RATE, 0, 16, len(one_sec)) + one_sec)),
        (Abuse("WAV with 7 bits per sample", "4xx|200"), lambda: post(wav_header(RATE, 1, 7, len(one_sec)) + one_sec)),
        (Abuse("WAV of NaN samples", "422"), lambda: post(encode(float_nan, RATE, "WAV", "FLOAT"))),
        (Abuse("10 ms of audio", "422"), lambda: post(encode(good[:160], RATE, "WAV", "PCM_16"))),
        (Abuse("an hour of audio (8 kHz mu-law WAV, 28.8 MB)", "413"), lambda: post(hour)),
        (Abuse(f"decompression bomb: 2 h of silence as FLAC ({len(bomb) // 1024} kB)", "413"), lambda: post(bomb)),
        (Abuse("body over the limit, length announced (200 MiB)", "413"), huge_announced),
        (Abuse("body over the limit, chunked without a length", "413"), huge_chunked),
        (Abuse("Content-Length larger than the body, then gone", "closed by client"), length_lie),
        (Abuse("client leaves while its 3-min clip is scored", "cancelled"), gone_mid_work),
        (Abuse("no API key", "401"), lambda: post(wav, {"X-API-Key": None})),
        (Abuse("wrong API key", "401"), lambda: post(wav, {"X-API-Key": "guess"})),
        # h11 bounds a header block that is still incomplete (64 KiB); one that arrives whole is parsed
        (Abuse("100 kB header", "4xx|200"), lambda: post(wav, {"Cookie": "a" * 100_000})),
        (Abuse("2,000 headers", "4xx|200|no answer"), lambda: post(wav, {f"X-H{i}": "v" * 30 for i in range(2000)})),
        (Abuse("not HTTP at all", "400|no answer"), lambda: raw_garbage(port)),
        (Abuse("bad chunk sizes", "400|no answer"), lambda: bad_chunks(port, octet)),
        (Abuse("PUT /v1/detect", "405"), lambda: (str(http(port, "PUT", "/v1/detect", wav, octet)[0]), "")),
        (Abuse("path traversal /static/../../etc/passwd", "404"),
         lambda: (str(http(port, "GET", "/static/../../etc/passwd")[0]), "")),
        (Abuse("unknown route", "404"), lambda: (str(http(port, "GET", "/wp-admin.php")[0]), "")),
        (Abuse("junk query parameter", "422"), lambda: post(wav, path="/v1/detect?timeline=maybe")),
        (Abuse("batch of 50 files (limit 16)", "413"), lambda: form([("files", f"{i}.wav", wav) for i in range(50)], "/v1/detect/batch")),
        (Abuse("batch mixing good and broken files", "200"),
         lambda: form([("files", "good.wav", wav), ("files", "bad.bin", b"\0" * 999), ("files", "cut.flac", cut(formats["flac"]))],
                      "/v1/detect/batch")),
        (Abuse("10,000-character file name", "400|200"), lambda: form([("file", big_filename, wav)])),
        (Abuse("file name with control characters", "200"), lambda: form([("file", "a\x01b\x7f\u202e.wav", wav)])),
        (Abuse("X-Request-ID with junk", "200"), lambda: post(wav, {"X-Request-ID": "<script>" * 20})),
        (Abuse(f"burst of {3 * MAX_PENDING} concurrent uploads (max_pending {MAX_PENDING})", "200|503"), burst),
    ]
    slow = [
        (Abuse("one byte a second", "408"), slow_body),
        (Abuse("slowloris: a header byte a second for 25 s", "held, then closed by client"), slow_headers),
        (Abuse(f"{HELD_CONNECTIONS} connections opened and held idle for 20 s", f"{HELD_CONNECTIONS} held"), held_open),
    ]
    return cases, slow


def raw_garbage(port: int):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xff" * 200 + b"\r\n\r\n")  # a TLS hello
        status = read_response(s)[0]
    return (str(status) if status else "no answer"), "a TLS handshake sent to plain HTTP"


def bad_chunks(port: int, headers: dict):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request_head("POST", "/v1/detect", {"Host": "x", "Transfer-Encoding": "chunked", **headers})
                  + b"zz\r\nhello\r\n0\r\n\r\n")
        status = read_response(s)[0]
    return (str(status) if status else "no answer"), ""


def metric(port: int, name: str) -> float:
    for line in http_get(port, "/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def run_abuse(server: Server, work: Path, background_bodies: list) -> dict:
    import gevent

    key = {"X-API-Key": API_KEY}
    cases, slow = abuse_cases(work, server.port, key)
    done = {"flag": False}
    background = gevent.spawn(run_load, server.url, background_bodies, BACKGROUND_USERS, 3600,
                              retry_busy=True, stop=lambda: done["flag"])

    def run(case):
        abuse, fn = case
        start = time.perf_counter()
        try:
            abuse.got, abuse.note = fn()
        except Exception as e:  # a failure of the bench itself is recorded, not hidden
            abuse.got, abuse.note = "bench error", f"{type(e).__name__}: {e}"
        abuse.seconds = time.perf_counter() - start
        return abuse

    slow_jobs = [gevent.spawn(run, case) for case in slow]
    results = [run(case) for case in cases]
    gevent.joinall(slow_jobs)
    results += [job.value for job in slow_jobs]
    done["flag"] = True
    bg = background.get()
    health = {"healthz": http_get(server.port, "/healthz")[0], "readyz": http_get(server.port, "/readyz")[0]}
    status, _, body = http(server.port, "POST", "/v1/detect", encode(speech_like(5, np.random.default_rng(9)), RATE, "WAV", "PCM_16"),
                           {"Content-Type": "application/octet-stream", **key})
    health["valid request after"] = status
    return {"cases": [vars(a) | {"ok": a.ok} for a in results], "background": summarize(bg),
            "background_retried_503": bg.retried_503, "health": health}


# ---------------------------------------------------------------------------- main


def serve_cli(model: Path, threads: int) -> list[str]:
    return [sys.executable, "-m", "spoofscan", "serve", "--model", str(model), "--port", "{port}", "--threads", str(threads),
            "--max-pending", str(MAX_PENDING), "--upload-timeout", str(UPLOAD_TIMEOUT), "--max-seconds", str(MAX_SECONDS),
            "--log-level", "warning"]


SERVE_LIBRARY = """
import sys
import spoofscan
from spoofscan.serve import ServeSettings, serve
det = spoofscan.load_detector(sys.argv[1], threads=int(sys.argv[3]))
serve(det, ServeSettings(cross_request_batching=sys.argv[4] == "1", max_pending={max_pending}, api_key="{key}"),
      port=int(sys.argv[2]), model_path=sys.argv[1], log_level="warning")
""".format(max_pending=MAX_PENDING, key=API_KEY)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="300 requests, one 10-minute clip, 200 per comparison side")
    ap.add_argument("--requests", type=int, help=f"load requests (default {REQUESTS})")
    ap.add_argument("--users", type=int, default=USERS)
    ap.add_argument("--compare-requests", type=int, help=f"requests per side of the batching comparison ({COMPARE_REQUESTS})")
    ap.add_argument("--max-minutes", type=float, default=20.0, help="time bound of the load part (it ends at its count first)")
    ap.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    ap.add_argument("--threads", type=int, default=1,
                    help="the server's --threads (ONNX Runtime and log-mel); 1 leaves the other core to decoding and Locust")
    ap.add_argument("--work", default="runs/bench-serve", help="model, audio and results (made once, reused)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: load, compare, abuse")
    args = ap.parse_args()
    requests = args.requests or (300 if args.quick else REQUESTS)
    compare = args.compare_requests or (200 if args.quick else COMPARE_REQUESTS)
    mix = QUICK_MIX if args.quick else MIX
    skip = set(filter(None, args.skip.split(",")))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    model = build_model(work, args.precision)
    lengths = plan(requests, mix)
    pool = build_pool(work, [s for _, ls in mix for s in ls])
    rng = np.random.default_rng(SEED + 1)
    load_bodies = [(s, pool[s][int(rng.integers(len(pool[s])))][1]) for s in lengths]
    short_pool = build_pool(work, SHORT)
    short = []
    for s in plan(compare, ((1.0, SHORT),), seed=SEED + 2):
        short.append((s, short_pool[s][int(rng.integers(len(short_pool[s])))][1]))
    print(f"inputs ready in {time.perf_counter() - t0:.0f} s: {requests} load requests, "
          f"{sum(lengths) / 60:.0f} min of audio", flush=True)
    env = dict(os.environ, SPOOFSCAN_API_KEY=API_KEY)
    out = {"machine": cpu_model(), "cores": os.cpu_count(), "precision": args.precision, "threads": args.threads,
           "users": args.users, "mix": [list(m) for m in mix], "date": time.strftime("%Y-%m-%d")}

    if not {"load", "abuse"} <= skip:
        with Server(serve_cli(model, args.threads), work / "server-cli.log", env) as srv:
            warm = [(s, b) for s, b in load_bodies if s <= 10][:20]
            run_load(srv.url, warm, 4, 120)
            out["rss_before_mib"] = srv.memory()["VmRSS"]
            if "load" not in skip:
                m0 = srv.metrics()
                with CpuShare(srv) as cpu:
                    r = run_load(srv.url, load_bodies, args.users, 60 * args.max_minutes)
                out["load"] = summarize(r) | batch_stats(m0, srv.metrics()) | {"cores": cpu.cores}
                mem = srv.memory()
                out["rss_after_load_mib"], out["peak_rss_after_load_mib"] = mem["VmRSS"], mem["VmHWM"]
                time.sleep(5)
                out["rss_idle_mib"] = srv.memory()["VmRSS"]
                print(json.dumps(out["load"], indent=1), flush=True)
            if "abuse" not in skip:
                background = [(s, b) for s, b in load_bodies if s <= 10][:40]
                out["abuse"] = run_abuse(srv, work, background)
                mem = srv.memory()
                out["rss_after_abuse_mib"], out["peak_rss_mib"] = mem["VmRSS"], mem["VmHWM"]
                out["failures_by_kind"] = {k.split('"')[1]: v for k, v in srv.metrics().items()
                                           if k.startswith("spoofscan_failures_total{")}
    if "compare" not in skip:
        out["compare"] = {}
        for cross in (True, False):
            argv = [sys.executable, "-c", SERVE_LIBRARY, str(model), "{port}", str(args.threads), "1" if cross else "0"]
            with Server(argv, work / f"server-cross-{int(cross)}.log") as srv:
                run_load(srv.url, short[:20], 4, 120)
                m0 = srv.metrics()
                with CpuShare(srv) as cpu:
                    r = run_load(srv.url, short, args.users, 60 * args.max_minutes)
                out["compare"]["across requests" if cross else "one request at a time"] = (
                    summarize(r) | batch_stats(m0, srv.metrics()) | {"cores": cpu.cores})
    out["total_minutes"] = (time.perf_counter() - t0) / 60
    (work / "results.json").write_text(json.dumps(out, indent=1))
    print_report(out)


def print_report(out: dict) -> None:
    print(f"\n{out['machine']}, {out['cores']} cores; ResNet-18 ONNX {out['precision'].upper()}, server --threads "
          f"{out['threads']}; {out['users']} Locust users on the same machine; {out['total_minutes']:.1f} min in all\n")
    if "load" in out:
        L = out["load"]
        print("| requests | wall | requests/s | audio-s scored per s | p50 | p95 | p99 | 5xx | statuses | "
              "windows per model call | clips per call | RSS before / after / idle | peak RSS |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {L['requests']} | {L['wall_s']:.0f} s | {L['rps']:.1f} | {L['audio_s_per_s']:.0f} | {L['p50']:.2f} s | "
              f"{L['p95']:.2f} s | {L['p99']:.2f} s | {L['5xx']} | {L['statuses']} | {L['windows_per_call']:.1f} | "
              f"{L['clips_per_call']:.1f} | {out['rss_before_mib']:.0f} / {out['rss_after_load_mib']:.0f} / "
              f"{out['rss_idle_mib']:.0f} MiB | {out['peak_rss_after_load_mib']:.0f} MiB |")
        print(f"\ncores used during the load: {', '.join(f'{k} {v:.2f}' for k, v in L['cores'].items())}")
        print("\n| clip length | requests | p50 | p95 |\n|---|---|---|---|")
        for name, b in L["by_length"].items():
            print(f"| {name} | {b['n']} | {b['p50']:.2f} s | {b['p95']:.2f} s |")
    if "compare" in out:
        print("\n| short clips (1-4 s), 32 users | requests | requests/s | audio-s per s | p50 | p95 | windows per call | "
              "clips per call | 5xx | cores: server / locust / other |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, c in out["compare"].items():
            cores = c["cores"]
            print(f"| {name} | {c['requests']} | {c['rps']:.1f} | {c['audio_s_per_s']:.0f} | {c['p50']:.3f} s | {c['p95']:.3f} s | "
                  f"{c['windows_per_call']:.1f} | {c['clips_per_call']:.1f} | {c['5xx']} | "
                  f"{cores['server']:.2f} / {cores['locust']:.2f} / {cores['other']:.2f} |")
        a, b = out["compare"]["across requests"], out["compare"]["one request at a time"]
        print(f"\nbatching across requests: {a['rps'] / b['rps']:.2f}x the requests/s of one request at a time")
    if "abuse" in out:
        A = out["abuse"]
        print("\n| # | upload | expected | got | time | note |\n|---|---|---|---|---|---|")
        for i, c in enumerate(A["cases"], 1):
            mark = "" if c["ok"] else " **UNEXPECTED**"
            print(f"| {i} | {c['kind']} | {c['expect']} | {c['got']}{mark} | {c['seconds']:.1f} s | {c['note']} |")
        bg = A["background"]
        print(f"\nbackground during the abuse: {bg['requests']} valid requests, statuses {bg['statuses']} "
              f"({A['background_retried_503']} 503s retried after Retry-After), p50 {bg['p50']:.2f} s, p95 {bg['p95']:.2f} s")
        print(f"after: {A['health']}; RSS {out['rss_after_abuse_mib']:.0f} MiB, peak {out['peak_rss_mib']:.0f} MiB; "
              f"failures by kind {out['failures_by_kind']}")
        print(f"abuse kinds: {len(A['cases'])}, as expected: {sum(c['ok'] for c in A['cases'])}")


if __name__ == "__main__":
    main()
