"""Export a checkpoint to ONNX for the torch-free runtime, in FP32 or static INT8.

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

INT8: static quantisation in QDQ format with per-channel int8 weights and uint8 activations
(ONNX Runtime's U8S8, the fast path on x86 with VNNI), activation ranges calibrated (min/max)
on the real graph inputs of windows cut from calibration audio the same way the detector cuts
them. Dynamic quantisation is not offered for convolutional networks: its ConvInteger kernels
are slower than FP32 here. A network whose ``int8`` is ``dynamic`` (the ``encoder`` model, whose
cost is the transformer's matrix products) gets dynamic quantisation of its MatMul and Gemm nodes
with constant weights instead (:data:`DYNAMIC_OPS`: int8 per-channel weights, uint8 activations
whose ranges are measured on every run, so no calibration audio is needed); its convolutions,
about 5 % of Whisper base's multiply-adds on a 4-s window, stay FP32.

The file carries a JSON description under the ONNX metadata key ``spoofscan`` (feature
config, calibration, threshold, label map, precision, quantisation details, export check,
original card), see :mod:`spoofscan.backends.onnx`.

The module is long (about 480 lines): the graph, its check against PyTorch and the two INT8
schemes share the check inputs, the sessions and the agreement measure, and read best together.
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
from .errors import SpoofscanError, first_line
from .fileio import atomic_write
from .frontend.config import FeatureConfig
from .frontend.numpy import frontend
from .frontend.windows import repeat_pad, window_starts
from .version import __version__

OPSET = 18
TOLERANCE = 1e-4  # max |logit difference| FP32 ONNX vs PyTorch, plus RELATIVE_TOLERANCE * |logit|
RELATIVE_TOLERANCE = 1e-5
CALIBRATION_WINDOWS = 256  # default number of windows to calibrate INT8 activation ranges on
WINDOWS_PER_CLIP = 4  # at most this many windows from one calibration clip, spread over it
# Windows per calibration run. The min/max calibrator keeps only each tensor's min and max per
# run, so memory does not grow with the number of windows. (Not CalibMaxIntermediateOutputs:
# in onnxruntime 1.32 it drops the collected ranges instead of merging them.)
CALIBRATION_BATCH = 8
CHECK_SEED = 1234
FORMATS = ("onnx",)
DYNAMIC_OPS = ("MatMul", "Gemm")  # what dynamic INT8 quantises (weights constant: attention's own products stay FP32)
AGREEMENT_BATCHES = 6  # without calibration audio, dynamic INT8 is compared with FP32 on this many check batches


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how it checked it.

    max_abs_diff : max |logit difference| of the FP32 graph against PyTorch
    int8_max_abs_diff, int8_correlation : INT8 against FP32 logits on the calibration windows
    calibration_windows, calibration_clips, calibration_skipped : windows used, clips they came
        from, clips that could not be read
    """

    path: str
    precision: str
    max_abs_diff: float
    tolerance: float
    size_bytes: int
    seconds: float
    int8_max_abs_diff: float | None = None
    int8_correlation: float | None = None
    calibration_windows: int = 0
    calibration_clips: int = 0
    calibration_skipped: int = 0

    def summary(self) -> str:
        lines = [f"wrote {self.path} ({self.precision}, {self.size_bytes / 1e6:.1f} MB) in {self.seconds:.1f} s",
                 f"fp32 check: max |logit diff| vs PyTorch = {self.max_abs_diff:.3g} (tolerance {self.tolerance:g})"]
        if self.precision == "int8":
            skipped = f" ({self.calibration_skipped} unreadable clips skipped)" if self.calibration_skipped else ""
            source = f"{self.calibration_clips} clips" if self.calibration_clips else "generated audio"
            lines.append(f"int8 vs fp32 on {self.calibration_windows} calibration windows from "
                         f"{source}: max |logit diff| = {self.int8_max_abs_diff:.3g}, "
                         f"correlation = {self.int8_correlation:.4f}{skipped}")
        return "\n".join(lines)


def export_onnx(checkpoint: str | Path, out_path: str | Path, *, int8: bool = False, calibration=None,
                calibration_windows: int = CALIBRATION_WINDOWS, tolerance: float = TOLERANCE,
                seed: int = 0) -> ExportResult:
    """Export a checkpoint to an ONNX file that :class:`spoofscan.backends.onnx.OnnxDetector` runs.

    Parameters
    ----------
    checkpoint : a ``.safetensors`` checkpoint
    out_path : the ``.onnx`` file to write (atomically; nothing is written when a check fails)
    int8 : quantise to INT8: statically (QDQ, per-channel weights; needs ``calibration``), or
        dynamically for a network whose ``int8`` is ``dynamic`` (``calibration`` then only serves
        the INT8-against-FP32 comparison)
    calibration : audio to calibrate activation ranges on: a data spec for
        :func:`spoofscan.datasets.load_records` (``csv:manifest.csv:dev``), or a sequence of
        records, paths, or 16 kHz float32 waveforms (numpy arrays). Use data like what the model
        will see (the dev split), both classes.
    calibration_windows : how many windows (of ``window_seconds``) to calibrate on
    tolerance : largest accepted |logit difference| FP32 ONNX vs PyTorch (plus 1e-5 relative)
    seed : which clips and windows are picked for calibration

    Raises
    ------
    SpoofscanError : unreadable checkpoint, FP32 graph off PyTorch by more than the tolerance,
        INT8 without calibration audio, or no readable calibration clip.
    """
    import torch

    from .backends.torch import TorchDetector

    start = time.perf_counter()
    if calibration_windows < 1:
        raise SpoofscanError(f"calibration_windows must be >= 1, got {calibration_windows}")
    det = TorchDetector.from_checkpoint(checkpoint, device="cpu")
    model, features = det.model.eval(), det.features
    dynamic = int8 and model.int8 == "dynamic"
    if int8 and not dynamic and calibration is None:
        raise SpoofscanError("INT8 export needs calibration audio (--calibration DATA_SPEC, e.g. csv:manifest.csv:dev)")
    for module in model.modules():  # computed weights (sinc filters) become constants of the graph
        if hasattr(module, "freeze"):
            module.freeze()
    with tempfile.TemporaryDirectory(prefix="spoofscan-export-") as tmp:
        fp32_path = os.path.join(tmp, "model.onnx")
        _export_graph(model, features, fp32_path)
        fp32, diff, checks = _check_against_torch(model, features, fp32_path, tolerance)
        meta = _metadata(det.card, features, det, precision="int8" if int8 else "fp32",
                         export={"opset": OPSET, "exporter": "torch.onnx.export(dynamo=True)",
                                 "torch_version": torch.__version__, "max_abs_diff_vs_torch": diff,
                                 "tolerance": tolerance,
                                 "checked_shapes": [{k: list(v.shape) for k, v in x.items()} for x in checks]})
        result = dict(max_abs_diff=diff, tolerance=tolerance)
        final_path = fp32_path
        if int8:
            final_path = os.path.join(tmp, "model-int8.onnx")
            quantize = _quantize_dynamic_checked if dynamic else _quantize_checked
            meta["quantization"], int8_result = quantize(model, features, fp32, fp32_path, final_path, tmp,
                                                         calibration, calibration_windows, seed)
            result.update(int8_result)
        _write_with_metadata(final_path, out_path, meta)
    return ExportResult(path=str(out_path), precision=meta["precision"], size_bytes=Path(out_path).stat().st_size,
                        seconds=time.perf_counter() - start, **result)


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


def _quantize_checked(model, features: FeatureConfig, fp32, fp32_path: str, int8_path: str, tmp: str,
                      calibration, n_windows: int, seed: int) -> tuple[dict, dict]:
    """Quantise the FP32 graph to ``int8_path``, calibrated on windows of ``calibration``, and
    compare it with the FP32 session ``fp32`` on them (non-finite INT8 logits are an error).

    Returns the metadata's ``quantization`` entry and the INT8 fields of :class:`ExportResult`.
    """
    windows, clips, skipped, source = calibration_windows_from(calibration, features, n_windows, seed)
    feats = graph_inputs(model.inputs, windows, features)
    _quantize(fp32_path, int8_path, feats, tmp)
    qdiff, corr = _int8_agreement(fp32, int8_path, feats)
    quantization = {
        "format": "QDQ", "weights": "int8 per-channel", "activations": "uint8 per-tensor",
        "kept_fp32": "the nodes only the raw waveform input feeds" if WAVE_INPUT in model.inputs else None,
        "calibration_method": "minmax", "source": source, "windows": len(windows), "clips": clips,
        "skipped_clips": skipped, "seed": seed,
        "int8_vs_fp32": {"max_abs_diff": qdiff, "correlation": corr}}
    result = dict(int8_max_abs_diff=qdiff, int8_correlation=corr, calibration_windows=len(windows),
                  calibration_clips=clips, calibration_skipped=skipped)
    return quantization, result


def _quantize_dynamic_checked(model, features: FeatureConfig, fp32, fp32_path: str, int8_path: str, tmp: str,
                              calibration, n_windows: int, seed: int) -> tuple[dict, dict]:
    """Dynamic INT8 of the :data:`DYNAMIC_OPS` nodes, compared with FP32 on windows of ``calibration``
    when given (else on generated check audio); the same returns as :func:`_quantize_checked`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if calibration is not None:
        windows, clips, skipped, source = calibration_windows_from(calibration, features, n_windows, seed)
    else:
        windows = np.concatenate([check_waves(features, CHECK_SEED + k)[0] for k in range(AGREEMENT_BATCHES)])
        clips, skipped, source = 0, 0, "generated check audio (no calibration audio given)"
    quantize_dynamic(_prepared(fp32_path, tmp, symbolic=False), int8_path, op_types_to_quantize=list(DYNAMIC_OPS),
                     per_channel=True, weight_type=QuantType.QInt8)
    qdiff, corr = _int8_agreement(fp32, int8_path, graph_inputs(model.inputs, windows, features))
    quantization = {
        "format": "dynamic", "ops": list(DYNAMIC_OPS), "weights": "int8 per-channel",
        "activations": "uint8 per-tensor, ranges measured on every run", "kept_fp32": "every other node (convolutions, "
        "attention's products of activations, normalisations)", "source": source, "windows": len(windows),
        "clips": clips, "skipped_clips": skipped, "seed": seed,
        "int8_vs_fp32": {"max_abs_diff": qdiff, "correlation": corr}}
    result = dict(int8_max_abs_diff=qdiff, int8_correlation=corr, calibration_windows=len(windows),
                  calibration_clips=clips, calibration_skipped=skipped)
    return quantization, result


def _int8_agreement(fp32, int8_path: str, feats: dict) -> tuple[float, float]:
    """Max |logit difference| and correlation of the INT8 graph against the FP32 session on ``feats``;
    non-finite INT8 logits are an error."""
    ref = _run(fp32, feats)
    q = _run(_session(int8_path), feats)
    if not np.all(np.isfinite(q)):
        raise SpoofscanError("the INT8 model gives non-finite logits on the calibration windows; nothing written")
    corr = float(np.corrcoef(ref, q)[0, 1]) if len(q) > 1 and np.std(ref) > 0 and np.std(q) > 0 else float("nan")
    return float(np.abs(q - ref).max()), corr


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


def _session(path: str):
    import onnxruntime as ort

    return ort.InferenceSession(path, session_options(), providers=["CPUExecutionProvider"])


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


def _quantize(fp32_path: str, out_path: str, feats: dict, tmp: str) -> None:
    """Static QDQ quantisation of ``fp32_path`` with activation ranges from the graph inputs ``feats``."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            n = len(next(iter(feats.values())))
            self.batches = iter([{k: v[i:i + CALIBRATION_BATCH] for k, v in feats.items()}
                                 for i in range(0, n, CALIBRATION_BATCH)])

        def get_next(self):
            return next(self.batches, None)

    prepared = _prepared(fp32_path, tmp)
    quantize_static(prepared, out_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=waveform_only_nodes(prepared))


def _prepared(fp32_path: str, tmp: str, symbolic: bool = True) -> str:
    """The FP32 graph after ONNX Runtime's pre-processing for quantisation (shape inference, clean-up), in ``tmp``.

    ``symbolic=False`` skips its symbolic shape inference, which gives up on the encoder's graph (the cut
    position table) and then leaves a ``sym_shape_infer_temp.onnx`` in the working folder.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = os.path.join(tmp, "model-prepared.onnx")
    try:
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=not symbolic)
    except Exception:  # its symbolic shape inference has no rule for some reductions (ReduceMax, opset 18)
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
    return prepared


def waveform_only_nodes(path: str) -> list[str]:
    """Names of the nodes of an ONNX graph that only the raw ``wave`` input feeds.

    They stay FP32 in the INT8 export: the hybrid model's waveform branch (sinc filters, 1-D
    convolutions, pooling over 64,000 samples) gained no speed from INT8 in ONNX Runtime's
    quantised 1-D operators and lost accuracy (INT8/FP32 logit correlation 0.984 against 0.993
    with the branch kept in FP32, measured on a trained ``small-hybrid``). A graph without a
    ``wave`` input gives an empty list.
    """
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    sources = {i.name: {i.name} for i in graph.input}
    names = []
    for node in graph.node:  # ONNX graphs are topologically sorted
        feeds = set().union(*(sources.get(name, set()) for name in node.input))
        for name in node.output:
            sources[name] = feeds
        if feeds == {WAVE_INPUT}:
            names.append(node.name)
    return names


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
