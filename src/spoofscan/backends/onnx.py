"""The torch-free runtime: an exported ``.onnx`` model scored with ONNX Runtime and numpy.

This file never imports torch. An exported file (see :mod:`spoofscan.export`) holds the
network only, with dynamic batch and time axes. Its graph inputs are named by what they
hold, and the runtime feeds whichever the graph declares:

- ``features`` (batch, 1, rows, frames) float32: the front end's output (log-mel, linear
  log-spectrogram or LFCC, as the stored feature config says), computed here by
  :func:`spoofscan.frontend.numpy.frontend`, the numpy twin of the training front end (files exported
  before version 2 call it ``logmel``);
- ``wave`` (batch, samples) float32: the window's 16 kHz waveform (the ``hybrid`` model).

The output ``logit`` (batch,) is higher for bona fide. So the runtime needs ONNX Runtime,
numpy and the audio decoders, nothing else, and a new architecture needs no change here.

Everything the runtime needs besides the weights travels inside the file, as JSON under the
ONNX metadata key ``spoofscan``: feature config, calibration, threshold, label map, precision
(``fp32``/``int8``/``fp16``), the graph kind (:mod:`spoofscan.graphs`) and how it was
quantised, and the original checkpoint card.

    >>> import spoofscan
    >>> det = spoofscan.load_detector("model-int8.onnx", threads=2)
    >>> r = det.predict("clip.wav")
    >>> r.score, r.p_fake, r.label, len(r.timeline)
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..calibration import Calibration
from ..card import feature_config, parse_json, validate_onnx_metadata
from ..checkpoint import MAX_ABS_WEIGHT
from ..detector import Detector, check_threads
from ..devices import CUDA_DEVICES, parse_device
from ..errors import SpoofscanError, first_line
from ..frontend.config import FeatureConfig
from ..frontend.numpy import frontend, span_frontend
from ..frontend.spans import WindowSpan

METADATA_KEY = "spoofscan"  # ONNX metadata_props key of the JSON description
FEATURES_INPUT = "features"  # (batch, 1, rows, frames) float32, the front end's output
LEGACY_FEATURES_INPUT = "logmel"  # the same, in files of format 1
WAVE_INPUT = "wave"  # (batch, samples) float32, the 16 kHz window
GRAPH_INPUTS = (FEATURES_INPUT, LEGACY_FEATURES_INPUT, WAVE_INPUT)
OUTPUT_NAME = "logit"  # (batch,) float32, higher = more bona fide
# Windows per numpy log-mel call. One at a time measured fastest here (1.3 ms per 4-s window
# against 2.4-2.6 ms in calls of 4 to 32): the (batch, frames, n_fft) intermediates of a
# larger call no longer fit the cache and are re-mapped from the OS on every call.
FEATURE_CHUNK = 1
# Threads numpy's BLAS may use for the mel projection. One: with more, its threads fight ONNX
# Runtime's for the cores, and on 2 cores a 0.4 ms product took 8-15 ms (scheduler waits).
FEATURE_BLAS_THREADS = 1
# Windows scored once at load, before any real input. ONNX Runtime's first run is slow (kernel
# choice, memory arena), and on glibc freeing one batch-sized buffer raises malloc's trim
# threshold, so the log-mel temporaries are reused instead of being handed back to the OS and
# faulted in again on every window (measured: 2,400 page faults, +3 to +8 ms per 4-s window).
WARMUP_WINDOWS = 32


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """numpy's BLAS thread pool, found once (it scans the loaded libraries)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def providers_for(device: str = "cpu") -> list:
    """ONNX Runtime execution providers for a device name.

    ``cpu`` -> CPU; ``cuda`` or ``cuda:N`` -> CUDA (GPU N) then CPU, an error when this
    ONNX Runtime build has no CUDA provider; ``auto`` -> CUDA when available, else CPU.
    """
    import onnxruntime as ort

    base, index = parse_device(device, CUDA_DEVICES, "device for an ONNX model")
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if base == "cuda" and not has_cuda:
        raise SpoofscanError(f"device {device!r} asked for, but this onnxruntime has no CUDAExecutionProvider "
                             f"(it has: {', '.join(available)}); install onnxruntime-gpu or use --device cpu")
    if base == "cuda" or (base == "auto" and has_cuda):
        return [("CUDAExecutionProvider", {"device_id": index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_options(threads: int | None = None):
    """ONNX Runtime session options: ``threads`` intra-op threads (None: one per physical core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    # workers spin inside a run (fast hand-offs) but stop when it returns: the numpy log-mel of
    # the next windows needs those cores
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    threads = check_threads(threads)
    if threads is not None:
        opts.intra_op_num_threads = threads
    return opts


def parse_metadata(text: str | None, where: str) -> dict:
    """Check and decode the JSON description stored under :data:`METADATA_KEY`
    (:func:`spoofscan.card.validate_onnx_metadata`)."""
    if text is None:
        raise SpoofscanError(f"{where}: an ONNX file without spoofscan metadata "
                             f"(make one with: spoofscan export CHECKPOINT --format onnx OUT.onnx)")
    return validate_onnx_metadata(parse_json(text, where, "spoofscan metadata"), where)


def _load_onnx(path: str | Path, where: str):
    """The ``onnx`` ModelProto of a file (weights included), or a SpoofscanError."""
    import onnx

    if not Path(path).is_file():
        raise SpoofscanError(f"{where}: no such file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise SpoofscanError(f"{where}: not an ONNX file ({e.__class__.__name__})") from None


def read_metadata(path: str | Path) -> dict:
    """The JSON description of an exported model, read with the ``onnx`` package (no session)."""
    where = f"ONNX model {str(path)!r}"
    model = _load_onnx(path, where)
    props = {p.key: p.value for p in model.metadata_props}
    return parse_metadata(props.get(METADATA_KEY), where)


def check_weights(model, where: str) -> None:
    """Refuse a graph whose floating-point weights (initializers and constants: the FP32
    weights, the INT8 scales) are NaN, infinite or beyond :data:`~spoofscan.checkpoint.MAX_ABS_WEIGHT`."""
    from onnx import numpy_helper

    tensors = [(t.name, t) for t in model.graph.initializer]
    tensors += [(node.name or node.output[0], attr.t) for node in model.graph.node if node.op_type == "Constant"
                for attr in node.attribute if attr.name == "value"]
    for name, proto in tensors:
        try:
            array = numpy_helper.to_array(proto)
        except Exception as e:
            raise SpoofscanError(f"{where}: weight {name!r} cannot be read ({e.__class__.__name__})") from None
        if array.dtype.kind == "f" and array.size:
            peak = float(np.max(np.abs(array)))
            if not peak <= MAX_ABS_WEIGHT:  # NaN fails too
                what = "NaN or infinite values" if not np.isfinite(array).all() else f"values up to {peak:.3g}"
                raise SpoofscanError(f"{where}: weight {name!r} holds {what} (a trained network stays within "
                                     f"±{MAX_ABS_WEIGHT:g}): the file is broken")


class OnnxDetector(Detector):
    """Scores windows with an exported model: numpy log-mel, then an ONNX Runtime session.

    Parameters
    ----------
    session : an ``onnxruntime.InferenceSession`` of an exported model
    features, calibration : as stored in the model's metadata
    metadata : the model's JSON description (``precision``, ``card``...)
    kwargs : ``threshold``, ``batch_size``, ``max_seconds``... (see :class:`Detector`)
    """

    def __init__(self, session, features: FeatureConfig, calibration: Calibration, *,
                 metadata: dict | None = None, feature_threads: int = 1, **kwargs):
        metadata = metadata or {}
        kwargs.setdefault("card", metadata.get("card"))
        super().__init__(features, calibration, **kwargs)
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]
        self.metadata = metadata
        self.precision = metadata.get("precision", "fp32")
        # log-mel runs before the network, never beside it: it may use the same cores
        self.feature_threads = max(1, int(feature_threads))
        self._pool = ThreadPoolExecutor(self.feature_threads) if self.feature_threads > 1 else None

    @classmethod
    def from_file(cls, path: str | Path, *, threads: int | None = None, device: str = "cpu",
                  warmup: bool = True, **kwargs) -> "OnnxDetector":
        """Load an exported model.

        Parameters
        ----------
        path : ``.onnx`` file written by :func:`spoofscan.export.export_onnx`
        threads : ONNX Runtime intra-op threads (None: one per physical core), and the threads
            the numpy log-mel is split over (None: one per logical core)
        device : ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (see :func:`providers_for`)
        warmup : score one batch of silent windows at load (see :data:`WARMUP_WINDOWS`)
        kwargs : ``batch_size`` (windows per run, default 32), ``max_seconds``, ``threshold``
            (default: the one stored in the model)...
        """
        import onnxruntime as ort

        where = f"ONNX model {str(path)!r}"
        options, providers = session_options(threads), providers_for(device)
        model = _load_onnx(path, where)  # read once: metadata and weights are checked before ONNX Runtime runs it
        meta = parse_metadata({p.key: p.value for p in model.metadata_props}.get(METADATA_KEY), where)
        features = feature_config(meta, where)
        check_weights(model, where)
        try:
            session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
        except Exception as e:
            raise SpoofscanError(f"{where}: ONNX Runtime cannot load it ({first_line(e)})") from None
        del model
        inputs = {i.name: i.shape for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]
        unknown = sorted(set(inputs) - set(GRAPH_INPUTS))
        if unknown or not inputs or OUTPUT_NAME not in outputs:
            raise SpoofscanError(f"{where}: graph inputs {sorted(inputs)} and outputs {outputs}: this runtime feeds "
                                 f"only {', '.join(GRAPH_INPUTS)} and reads {OUTPUT_NAME!r}")
        for name in (FEATURES_INPUT, LEGACY_FEATURES_INPUT):
            expected = [features.num_channels, features.rows]
            if name in inputs and (len(inputs[name]) != 4 or inputs[name][1:3] != expected):
                raise SpoofscanError(f"{where}: graph input {name!r} {inputs[name]} does not take "
                                     f"(batch, {features.num_channels}, {features.rows}, frames) as its metadata says")
        kwargs.setdefault("threshold", meta["threshold"])
        det = cls(session, features, Calibration.from_dict(meta["calibration"]), metadata=meta,
                  feature_threads=threads or os.cpu_count() or 1, **kwargs)
        if warmup:
            det.window_scores(np.zeros((WARMUP_WINDOWS, features.window_samples), np.float32))
        return det

    @property
    def threads(self) -> int:
        """The threads the front end is split over (ONNX Runtime's own are set in the session)."""
        return self.feature_threads

    def front_end(self, windows: np.ndarray) -> np.ndarray:
        """(batch, samples) float32 16 kHz -> (batch, channels, rows, frames) float32, the ``features`` input."""
        windows = np.asarray(windows, dtype=np.float32)
        frames = self.features.num_frames(windows.shape[1])
        out = np.empty((len(windows), self.features.num_channels, self.features.rows, frames), dtype=np.float32)
        with _blas_controller().limit(limits=FEATURE_BLAS_THREADS, user_api="blas"):
            for i in range(0, len(windows), FEATURE_CHUNK):
                out[i:i + FEATURE_CHUNK] = frontend(windows[i:i + FEATURE_CHUNK], self.features,
                                                    pool=self._pool, parts=self.feature_threads)
        return out

    def span_front_end(self, spans: list[WindowSpan]) -> np.ndarray:
        """The ``features`` input of the windows of runs of contiguous audio, (windows, channels,
        rows, frames) float32: the frames that overlapping windows share computed once
        (:func:`spoofscan.frontend.numpy.span_frontend`)."""
        with _blas_controller().limit(limits=FEATURE_BLAS_THREADS, user_api="blas"):
            return np.concatenate([span_frontend(span, self.features, pool=self._pool, parts=self.feature_threads)
                                   for span in spans])

    def graph_inputs(self, windows: np.ndarray) -> dict:
        """The graph's inputs for a batch of windows (batch, samples): ``{name: array}``."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        feeds = {}
        for name in self.input_names:
            feeds[name] = windows if name == WAVE_INPUT else self.front_end(windows)
        return feeds

    def logits(self, feeds: dict) -> np.ndarray:
        """Run the network on :meth:`graph_inputs` -> (batch,) float32 logits."""
        out = self.session.run([OUTPUT_NAME], feeds)[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        """(batch, samples) -> (batch,) logits; NaN for a window whose features are not finite
        (the network is not run on it: INT8 would turn NaN input into a finite, meaningless logit)."""
        return self._scores(self.graph_inputs(windows))

    def span_scores(self, spans: list[WindowSpan]) -> np.ndarray:
        """The windows of runs of contiguous audio -> (windows,) logits, as :meth:`window_scores`
        gives them (within float32 rounding), their shared frames computed once."""
        feeds = {}
        for name in self.input_names:
            if name == WAVE_INPUT:
                feeds[name] = np.concatenate([span.windows() for span in spans]).astype(np.float32, copy=False)
            else:
                feeds[name] = self.span_front_end(spans)
        return self._scores(feeds)

    def _scores(self, feeds: dict) -> np.ndarray:
        """Logits of the graph inputs ``feeds``, NaN for a window whose features are not finite."""
        n = len(next(iter(feeds.values())))
        bad = np.zeros(n, dtype=bool)
        for name in (FEATURES_INPUT, LEGACY_FEATURES_INPUT):
            if name in feeds:
                bad = ~np.isfinite(feeds[name]).reshape(n, -1).all(axis=1)
                feeds[name][bad] = 0.0
        scores = self.logits(feeds)
        scores[bad] = np.nan
        return scores
