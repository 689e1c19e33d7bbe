"""Export a checkpoint to ONNX for the torch-free runtime: FP32, INT8 (static or dynamic),
FP16, or whichever of them is fastest at equal accuracy on this machine (:mod:`spoofscan.graphs`).

The graph holds the network only (``model.forward_inputs``), its inputs named as the model
declares them (``model.inputs``: ``features``, the front end's output (batch, 1, rows,
frames), and for the hybrid model ``wave``, the window (batch, samples)), output ``logit``
(batch,), with dynamic batch and time axes. The front end stays outside the graph and is
computed by :func:`spoofscan.frontend.numpy.frontend` in the runtime: log-mel costs about 1.4 ms per 4-s
window on one core (against 2.4 ms for the INT8 network on two), needs no ONNX STFT op
(``torch.stft`` with complex output does not export), and keeps quantisation to the network.

Export path: ``torch.onnx.export(dynamo=True)`` (the torch.export-based exporter; it needs
``onnxscript``), opset :data:`OPSET`. The FP32 graph is checked against PyTorch on the numpy
front end of generated audio at two batch sizes and two clip lengths; a difference above the
tolerance is an error and nothing is written.

The other graph kinds are made from the checked FP32 graph (:mod:`spoofscan.graphs`): static
INT8 in QDQ format (per-channel int8 weights, uint8 activations), activation ranges calibrated
(min/max) on the real graph inputs of windows cut from calibration audio the same way the
detector cuts them; dynamic INT8 (for an encoder model, the one ``int8=True`` makes: only its
matrix products, which are its cost, with no calibration audio needed); FP16. Each is compared with FP32 on those windows (or, without
calibration audio, on the check windows); ``graph="auto"`` times every kind on this machine and
keeps the fastest of equal accuracy. The kind is recorded in the metadata (``graph``).

The file carries a JSON description under the ONNX metadata key ``spoofscan`` (feature
config, calibration, threshold, label map, precision, graph kind, quantisation details, export
check, original card), see :mod:`spoofscan.backends.onnx`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, load_audio
from .backends.onnx import FEATURES_INPUT, METADATA_KEY, OUTPUT_NAME, WAVE_INPUT, session_options
from .card import ONNX_FORMAT, ONNX_FORMAT_VERSION
from .errors import SpoofscanError, choice_error, first_line
from .fileio import atomic_write
from .frontend.config import FeatureConfig
from .frontend.numpy import frontend
from .frontend.windows import repeat_pad, window_starts
from .graphs import (AUTO, DYNAMIC_OPS, GRAPH_KINDS, PRECISION_OF, TIMING_BATCH, agreement, choose, cpu_name,
                     make_graph, time_graph)
from .version import __version__

OPSET = 18
TOLERANCE = 1e-4  # max |logit difference| FP32 ONNX vs PyTorch, plus RELATIVE_TOLERANCE * |logit|
RELATIVE_TOLERANCE = 1e-5
CALIBRATION_WINDOWS = 256  # default number of windows to calibrate INT8 activation ranges on
WINDOWS_PER_CLIP = 4  # at most this many windows from one calibration clip, spread over it
CHECK_SEED = 1234
COMPARISON_BATCHES = 6  # without calibration audio, a graph is compared with FP32 on this many batches of check windows
FORMATS = ("onnx",)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how it checked it.

    graph : the graph kind written (:data:`spoofscan.graphs.GRAPH_KINDS`)
    max_abs_diff : max |logit difference| of the FP32 graph against PyTorch
    int8_max_abs_diff, int8_correlation : the graph written against FP32 logits on the check
        windows (the calibration windows where given), for any kind but ``fp32``
    calibration_windows, calibration_clips, calibration_skipped : windows used, clips they came
        from, clips that could not be read
    candidates : with ``graph="auto"``, each kind's figures (see :mod:`spoofscan.graphs`)
    """

    path: str
    precision: str
    max_abs_diff: float
    tolerance: float
    size_bytes: int
    seconds: float
    graph: str = "fp32"
    int8_max_abs_diff: float | None = None
    int8_correlation: float | None = None
    calibration_windows: int = 0
    calibration_clips: int = 0
    calibration_skipped: int = 0
    candidates: tuple = ()

    def summary(self) -> str:
        lines = [f"wrote {self.path} ({self.graph}, {self.size_bytes / 1e6:.1f} MB) in {self.seconds:.1f} s",
                 f"fp32 check: max |logit diff| vs PyTorch = {self.max_abs_diff:.3g} (tolerance {self.tolerance:g})"]
        for c in self.candidates:
            lines.append(f"  {c['kind']:<13} {c['batch1_ms']:7.2f} ms per window at batch 1, "
                         f"{c[f'batch{TIMING_BATCH}_ms_per_window']:6.2f} at batch {TIMING_BATCH} (1 thread), "
                         f"correlation with fp32 {c['correlation']:.4f}" + ("  <- chosen" if c["kind"] == self.graph else ""))
        if self.graph != "fp32":
            skipped = f" ({self.calibration_skipped} unreadable clips skipped)" if self.calibration_skipped else ""
            source = (f"{self.calibration_windows} calibration windows from {self.calibration_clips} clips"
                      if self.calibration_clips else f"{self.calibration_windows} generated check windows")
            lines.append(f"{self.precision} vs fp32 on {source}: max |logit diff| = {self.int8_max_abs_diff:.3g}, "
                         f"correlation = {self.int8_correlation:.4f}{skipped}")
        return "\n".join(lines)


def export_onnx(checkpoint: str | Path, out_path: str | Path, *, int8: bool = False, graph: str | None = None,
                calibration=None, calibration_windows: int = CALIBRATION_WINDOWS, tolerance: float = TOLERANCE,
                seed: int = 0) -> ExportResult:
    """Export a checkpoint to an ONNX file that :class:`spoofscan.backends.onnx.OnnxDetector` runs.

    Parameters
    ----------
    checkpoint : a ``.safetensors`` checkpoint
    out_path : the ``.onnx`` file to write (atomically; nothing is written when a check fails)
    int8 : the same as ``graph="int8-static"``
    graph : the graph kind (:data:`spoofscan.graphs.GRAPH_KINDS`: ``fp32``, ``int8-static``,
        ``int8-dynamic``, ``fp16``) or ``auto``, the fastest of equal accuracy on this machine
        (:mod:`spoofscan.graphs`); default ``fp32`` (``int8-static`` with ``int8``)
    calibration : audio to calibrate INT8 activation ranges on (needed by ``int8-static`` and
        ``auto``), and to compare the graph with FP32 on: a data spec for
        :func:`spoofscan.datasets.load_records` (``csv:manifest.csv:dev``), or a sequence of
        records, paths, or 16 kHz float32 waveforms (numpy arrays). Use data like what the model
        will see (the dev split), both classes.
    calibration_windows : how many windows (of ``window_seconds``) to calibrate on
    tolerance : largest accepted |logit difference| FP32 ONNX vs PyTorch (plus 1e-5 relative)
    seed : which clips and windows are picked for calibration

    Raises
    ------
    SpoofscanError : unreadable checkpoint, an unknown graph kind, FP32 graph off PyTorch by more
        than the tolerance, INT8 without calibration audio, or no readable calibration clip.
    """
    import torch

    from .backends.torch import TorchDetector

    start = time.perf_counter()
    det = TorchDetector.from_checkpoint(checkpoint, device="cpu")
    model, features = det.model.eval(), det.features
    kind = _graph_kind(int8, graph, calibration, calibration_windows, model.int8)
    for module in model.modules():  # computed weights (sinc filters) become constants of the graph
        if hasattr(module, "freeze"):
            module.freeze()
    with tempfile.TemporaryDirectory(prefix="spoofscan-export-") as tmp:
        fp32_path = os.path.join(tmp, "model.onnx")
        _export_graph(model, features, fp32_path)
        fp32, diff, checks = _check_against_torch(model, features, fp32_path, tolerance)
        meta = _metadata(det.card, features, det, precision="fp32",
                         export={"opset": OPSET, "exporter": "torch.onnx.export(dynamo=True)",
                                 "torch_version": torch.__version__, "max_abs_diff_vs_torch": diff,
                                 "tolerance": tolerance,
                                 "checked_shapes": [{k: list(v.shape) for k, v in x.items()} for x in checks]})
        result = dict(max_abs_diff=diff, tolerance=tolerance, graph="fp32")
        final_path = fp32_path
        meta["graph"] = {"kind": "fp32", "chosen_by": "asked"}
        if kind != "fp32":
            final_path, graph_meta, derived = _derived_graph(kind, model, features, fp32, fp32_path, tmp,
                                                             calibration, calibration_windows, seed)
            meta.update(graph_meta)
            result.update(derived)
        _write_with_metadata(final_path, out_path, meta)
    return ExportResult(path=str(out_path), precision=meta["precision"], size_bytes=Path(out_path).stat().st_size,
                        seconds=time.perf_counter() - start, **result)


def _graph_kind(int8: bool, graph: str | None, calibration, calibration_windows: int, model_int8: str) -> str:
    """The graph kind asked for by ``int8`` and ``graph``, checked, with the calibration it needs;
    ``int8`` means the model's own scheme (``model_int8``: ``static`` or ``dynamic``)."""
    if graph is not None and graph not in GRAPH_KINDS + (AUTO,):
        raise choice_error("graph kind", graph, GRAPH_KINDS + (AUTO,))
    scheme = f"int8-{model_int8}"  # the model's own INT8: static (convolutional networks) or dynamic (encoders)
    if int8 and graph not in (None, scheme):
        raise SpoofscanError(f"int8=True means graph={scheme!r} for this model; it contradicts graph={graph!r}")
    kind = graph or (scheme if int8 else "fp32")
    if kind in ("int8-static", AUTO) and calibration is None:
        raise SpoofscanError(f"a {kind} export needs calibration audio (--calibration DATA_SPEC, "
                             f"e.g. csv:manifest.csv:dev)")
    if calibration_windows < 1:
        raise SpoofscanError(f"calibration_windows must be >= 1, got {calibration_windows}")
    return kind


def _check_against_torch(model, features: FeatureConfig, fp32_path: str, tolerance: float) -> tuple:
    """Run the FP32 graph and PyTorch on the check inputs (:func:`check_waves`); raise when they differ
    by more than ``tolerance`` (plus :data:`RELATIVE_TOLERANCE` relative).

    Returns ``(session, max |logit difference|, the check inputs)``.
    """
    import torch

    checks = [graph_inputs(model.inputs, w, features) for w in check_waves(features)]
    with torch.inference_mode():
        expected = [model.forward_inputs(*[torch.from_numpy(x[name]) for name in model.inputs]).numpy()
                    for x in checks]
    fp32 = _session(fp32_path)
    got = [_run(fp32, x) for x in checks]
    diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
    allowed = max(float((tolerance + RELATIVE_TOLERANCE * np.abs(e)).min()) for e in expected)
    if not np.isfinite(diff) or diff > allowed:
        raise SpoofscanError(f"the ONNX graph does not match PyTorch: max |logit difference| {diff:.3g} > "
                             f"tolerance {allowed:.3g}; nothing written")
    return fp32, diff, checks


def _derived_graph(kind: str, model, features: FeatureConfig, fp32, fp32_path: str, tmp: str,
                   calibration, n_windows: int, seed: int) -> tuple[str, dict, dict]:
    """Make the graph of ``kind`` (or, for ``auto``, every kind, timed) from the FP32 graph and
    compare it with the FP32 session ``fp32`` on the calibration windows (generated check windows
    without calibration audio); a graph giving non-finite logits there is an error.

    Returns its path, the metadata entries (``precision``, ``graph``, ``quantization``) and the
    :class:`ExportResult` fields of the comparison.
    """
    if calibration is not None:
        windows, clips, skipped, source = calibration_windows_from(calibration, features, n_windows, seed)
        feeds = graph_inputs(model.inputs, windows, features)
    else:
        # generated full-length windows, a few batches of them: a correlation on 3 windows says little
        windows = np.concatenate([check_waves(features, CHECK_SEED + k)[0] for k in range(COMPARISON_BATCHES)])
        feeds = graph_inputs(model.inputs, windows, features)
        clips, skipped, source = 0, 0, "generated check windows"
    reference = _run(fp32, feeds)
    timing_feeds = {k: np.concatenate([v] * -(-TIMING_BATCH // len(v)))[:TIMING_BATCH] for k, v in feeds.items()}
    candidates = []
    for candidate in (GRAPH_KINDS if kind == AUTO else (kind,)):
        path = os.path.join(tmp, f"model-{candidate}.onnx")
        make_graph(candidate, fp32_path, path, feeds, tmp, matmul_only=model.int8 == "dynamic")
        logits = _run(_session(path), feeds)
        if not np.all(np.isfinite(logits)):
            raise SpoofscanError(f"the {candidate} graph gives non-finite logits on the check windows; nothing written")
        entry = {"kind": candidate, "path": path, **agreement(reference, logits)}
        if kind == AUTO:
            entry.update(time_graph(_session(path, threads=1), timing_feeds, OUTPUT_NAME))
        candidates.append(entry)
    chosen = choose(candidates) if kind == AUTO else candidates[0]
    n = len(reference)
    described = [{k: v for k, v in c.items() if k != "path"} for c in candidates]
    graph = {"kind": chosen["kind"], "chosen_by": "asked", "compared_on": {"source": source, "windows": n}}
    if kind == AUTO:
        graph.update(chosen_by="auto: the fastest at batch 1 of equal accuracy", candidates=described,
                     timed_on={"cpu": cpu_name(), "threads": 1, "clock": "CPU time of the calling thread"})
    quantization = None
    if chosen["kind"].startswith("int8"):
        static, encoder = chosen["kind"] == "int8-static", model.int8 == "dynamic"
        quantization = {
            "format": "QDQ" if static else "dynamic",
            "weights": "int8 per-channel" if static or encoder else "uint8 per-tensor",
            "ops": list(DYNAMIC_OPS) if encoder and not static else None,
            "activations": "uint8 per-tensor" if static else "quantised at run time",
            "kept_fp32": "the nodes only the raw waveform input feeds" if WAVE_INPUT in model.inputs else None,
            "calibration_method": "minmax" if static else None, "source": source, "windows": n, "clips": clips,
            "skipped_clips": skipped, "seed": seed,
            "int8_vs_fp32": {"max_abs_diff": chosen["max_abs_diff"], "correlation": chosen["correlation"]}}
    result = dict(graph=chosen["kind"], int8_max_abs_diff=chosen["max_abs_diff"],
                  int8_correlation=chosen["correlation"], calibration_windows=n, calibration_clips=clips,
                  calibration_skipped=skipped, candidates=tuple(described) if kind == AUTO else ())
    if chosen["kind"] == "fp32":
        result.update(int8_max_abs_diff=None, int8_correlation=None)
    meta = {"precision": PRECISION_OF[chosen["kind"]], "graph": graph, "quantization": quantization}
    return chosen["path"], meta, result


# ---------------------------------------------------------------------------- graph

def _export_graph(model, features: FeatureConfig, path: str) -> None:
    """Trace ``model.forward_inputs`` to ONNX with dynamic batch and time axes."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model.forward_inputs(*inputs)

    batch = torch.export.Dim("batch", min=1)
    examples, dynamic = [], []
    for name in model.inputs:
        if name == FEATURES_INPUT:
            examples.append(torch.zeros(2, features.num_channels, features.rows,
                                        features.num_frames(features.window_samples)))
            longest = {"max": model.max_frames} if hasattr(model, "max_frames") else {}  # an encoder's position table
            dynamic.append({0: batch, 3: torch.export.Dim("frames", min=2, **longest)})
        elif name == WAVE_INPUT:
            examples.append(torch.zeros(2, features.window_samples))
            dynamic.append({0: batch, 1: torch.export.Dim("samples", min=features.n_fft)})
        else:
            raise SpoofscanError(f"cannot export a model with graph input {name!r} "
                                 f"(known: {FEATURES_INPUT}, {WAVE_INPUT})")
    quiet = logging.getLogger("torch.onnx")  # it lists torchvision ops it skips, at WARNING
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(Graph().eval(), tuple(examples), dynamo=True, input_names=list(model.inputs),
                                        output_names=[OUTPUT_NAME], dynamic_shapes={"inputs": tuple(dynamic)},
                                        opset_version=OPSET, verbose=False)
        program.save(path)
    except SpoofscanError:
        raise
    except Exception as e:
        raise SpoofscanError(f"ONNX export failed ({e.__class__.__name__}: {first_line(e)})") from e
    finally:
        quiet.setLevel(level)


def check_waves(features: FeatureConfig, seed: int = CHECK_SEED) -> list:
    """Generated noisy harmonic audio at two batch sizes and two lengths (full and half
    window), to check the graph against PyTorch on its dynamic axes.

    Returns a list of (batch, samples) float32 arrays.
    """
    rng = np.random.default_rng(seed)
    out = []
    for batch, samples in ((3, features.window_samples), (2, max(features.window_samples // 2, features.n_fft))):
        t = np.arange(samples) / features.sample_rate
        f0 = rng.uniform(90, 250, size=(batch, 1))
        harmonics = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
        wave = harmonics + 0.1 * rng.standard_normal((batch, samples))
        wave *= rng.uniform(0.05, 0.5, size=(batch, 1)) / np.abs(wave).max(axis=1, keepdims=True)
        out.append(wave.astype(np.float32))
    return out


def graph_inputs(names, waves: np.ndarray, features: FeatureConfig) -> dict:
    """The graph inputs ``names`` for windows (batch, samples), as the runtime computes them."""
    return {name: waves if name == WAVE_INPUT else frontend(waves, features) for name in names}


def _session(path: str, threads: int | None = None):
    import onnxruntime as ort

    return ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])


def _run(session, inputs: dict, batch: int = 32) -> np.ndarray:
    n = len(next(iter(inputs.values())))
    return np.concatenate([session.run([OUTPUT_NAME], {k: v[i:i + batch] for k, v in inputs.items()})[0].reshape(-1)
                           for i in range(0, n, batch)])


# ---------------------------------------------------------------------------- INT8

def calibration_windows_from(calibration, features: FeatureConfig, n_windows: int, seed: int = 0):
    """Cut calibration windows from audio, as the detector cuts clips at inference.

    Clips are shuffled (seeded) and, when they carry labels, taken alternately from each
    class; each clip gives at most :data:`WINDOWS_PER_CLIP` windows spread over its length
    (a clip shorter than a window is repeat-padded, as at inference).

    Returns
    -------
    (windows (n, window_samples) float32, clips used, clips skipped as unreadable, source description)
    """
    from .datasets import load_records

    if isinstance(calibration, str):
        source = str(calibration)
        items = load_records(source)
    else:
        items = list(calibration)
        source = f"{len(items)} clips given"
    if not items:
        raise SpoofscanError(f"no calibration clips in {source}")
    rng = np.random.default_rng(seed)
    order = [items[i] for i in rng.permutation(len(items))]
    by_label: dict = {}
    for item in order:
        by_label.setdefault(getattr(item, "label", None), []).append(item)
    queues = list(by_label.values())
    interleaved = [q[i] for i in range(max(len(q) for q in queues)) for q in queues if i < len(q)]
    win, hop = features.window_samples, features.hop_samples
    windows, clips, skipped = [], 0, 0
    for item in interleaved:
        if len(windows) >= n_windows:
            break
        try:
            if isinstance(item, np.ndarray):
                wave = np.asarray(item, dtype=np.float32).reshape(-1)
            else:
                wave = load_audio(getattr(item, "path", item))
        except SpoofscanError:
            skipped += 1
            continue
        starts = window_starts(len(wave), win, hop)
        spread = np.linspace(0, len(starts) - 1, min(WINDOWS_PER_CLIP, len(starts))).round().astype(int)
        pick = starts[np.unique(spread)]
        windows.extend(repeat_pad(wave[s:s + win], win) for s in pick[: n_windows - len(windows)])
        clips += 1
    if not windows:
        raise SpoofscanError(f"none of the {len(items)} calibration clips in {source} could be read")
    return np.stack(windows).astype(np.float32), clips, skipped, source


# ---------------------------------------------------------------------------- metadata

def _metadata(card: dict, features: FeatureConfig, det, *, precision: str, export: dict) -> dict:
    inputs = []
    for name in det.model.inputs:
        if name == FEATURES_INPUT:
            inputs.append({"name": name, "shape": ["batch", features.num_channels, features.rows, "frames"],
                           "content": f"spoofscan.frontend.numpy.frontend ({features.frontend}) of {SAMPLE_RATE} Hz "
                                      "windows with the features below"})
        else:
            inputs.append({"name": name, "shape": ["batch", "samples"], "content": f"the {SAMPLE_RATE} Hz window"})
    return {
        "format": ONNX_FORMAT,
        "format_version": ONNX_FORMAT_VERSION,
        "spoofscan_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "precision": precision,
        "inputs": inputs,
        "model": card.get("model", {}),
        "output": {"name": OUTPUT_NAME, "shape": ["batch"], "content": card.get("output", "bona fide logit")},
        "features": features.to_dict(),
        "calibration": det.calibration.to_dict(),
        "threshold": det.threshold,
        "label_map": card.get("label_map", {}),
        "export": export,
        "quantization": None,
        "card": card,
    }


def _write_with_metadata(src: str, out_path: str | Path, meta: dict) -> None:
    import onnx

    model = onnx.load(src)
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    model.producer_name, model.producer_version = "spoofscan", __version__
    atomic_write(out_path, lambda tmp: onnx.save(model, tmp))
