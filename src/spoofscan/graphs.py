"""The kinds of graph an ONNX export can hold, how each is made from the FP32 graph, and how
``auto`` chooses among them by timing them on the exporting machine.

- ``fp32``: the exported network; ONNX Runtime applies its graph optimisations at load
  (``ORT_ENABLE_ALL``: fusions, the NCHWc layout).
- ``int8-static``: static quantisation in QDQ format, per-channel int8 weights and uint8
  activations (ONNX Runtime's U8S8, the fast path on x86 with VNNI), activation ranges
  calibrated (min/max) on the real graph inputs of calibration windows. Nodes that only the raw
  ``wave`` input feeds stay FP32, and so does the stem when the features have several channels
  (:func:`int8_fp32_nodes`).
- ``int8-dynamic``: 8-bit weights (uint8: ONNX Runtime's ConvInteger is slow with int8 ones),
  activations quantised at run time, the same nodes kept FP32 as ``int8-static``; needs no
  calibration audio. For an encoder model (whose
  ``int8`` is ``dynamic``: its cost is the transformer's matrix products, its convolutions are
  about 5 % of Whisper base's multiply-adds on a 4-s window) only the :data:`DYNAMIC_OPS` nodes
  with constant weights are quantised, int8 per-channel; everything else stays FP32.
- ``fp16``: float16 weights and activations, float32 inputs and outputs; ONNX Runtime's CPU
  provider runs it in FP16 only where it has FP16 kernels for the CPU, else through casts.

Whether a cheaper graph pays depends on the network and the CPU: quantised convolutions with
few channels gain less. Measured on an AMD EPYC (Zen 5, AVX-512 VNNI and FP16), one thread,
``resnet18-half`` on 2-s windows, per window at batch 1 (batch 32): fp32 3.5 (3.2) ms,
int8-static 1.6 (1.3) ms, int8-dynamic 4.9 (5.3) ms, fp16 3.9 (3.9) ms (docs/BENCHMARKS.md).

``auto`` makes every kind, keeps those of *equal accuracy*, whose logits on the check windows
follow FP32's with a correlation of at least :data:`MIN_CORRELATION`, times each on this
machine (:func:`time_graph`) and keeps the fastest per window at batch 1, the batch a
``predict()`` of a clip of a few seconds runs. Every candidate's figures go into the exported
model's metadata (``graph``), which ``spoofscan info`` shows.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

GRAPH_KINDS = ("fp32", "int8-static", "int8-dynamic", "fp16")
AUTO = "auto"
PRECISION_OF = {"fp32": "fp32", "int8-static": "int8", "int8-dynamic": "int8", "fp16": "fp16"}
MIN_CORRELATION = 0.999  # logits of a candidate against FP32's on the check windows, to count as equal accuracy
TIMING_RUNS = 20  # timed runs per candidate at batch 1, after TIMING_WARMUP; a tenth as many at TIMING_BATCH
TIMING_WARMUP = 3
TIMING_BATCH = 32
# Windows per calibration run. The min/max calibrator keeps only each tensor's min and max per
# run, so memory does not grow with the number of windows. (Not CalibMaxIntermediateOutputs:
# in onnxruntime 1.32 it drops the collected ranges instead of merging them.)
CALIBRATION_BATCH = 8
DYNAMIC_OPS = ("MatMul", "Gemm")  # an encoder's dynamic INT8 (weights constant: attention's own products stay FP32)
WAVE_INPUT = "wave"  # the graph input holding the raw window (spoofscan.backends.onnx.WAVE_INPUT)
FEATURES_INPUT = "features"  # the graph input holding the front end's output, (batch, channels, rows, frames)


def make_graph(kind: str, fp32_path: str, out_path: str, feeds: dict, tmp: str, matmul_only: bool = False) -> None:
    """Write the graph of ``kind`` (one of :data:`GRAPH_KINDS`) made from the FP32 graph at
    ``fp32_path`` to ``out_path``; ``feeds`` (graph input name -> array) calibrates ``int8-static``;
    ``matmul_only``: ``int8-dynamic`` quantises only the :data:`DYNAMIC_OPS` (an encoder model)."""
    if kind == "fp32":
        Path(out_path).write_bytes(Path(fp32_path).read_bytes())
    elif kind == "int8-static":
        quantize_static_int8(fp32_path, out_path, feeds, tmp)
    elif kind == "int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        if matmul_only:
            # reduce_range (7-bit weights): on x86 CPUs without VNNI (AVX2 only, as many are) onnxruntime's integer
            # products saturate with 8-bit per-channel weights; a graph exported on any machine must run on those
            quantize_dynamic(_prepared(fp32_path, tmp, symbolic=False), out_path,
                             op_types_to_quantize=list(DYNAMIC_OPS), per_channel=True, reduce_range=True,
                             weight_type=QuantType.QInt8)
            return
        prepared = _prepared(fp32_path, tmp)
        # uint8 weights: ConvInteger with int8 weights took 18.5 ms per window against 4.9 (resnet18-half)
        quantize_dynamic(prepared, out_path, weight_type=QuantType.QUInt8, nodes_to_exclude=int8_fp32_nodes(prepared))
    elif kind == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = onnx.load(fp32_path)
        onnx.save(convert_float_to_float16(model, keep_io_types=True, node_block_list=waveform_only_nodes(model.graph)),
                  out_path)
    else:
        from .errors import choice_error

        raise choice_error("graph kind", kind, GRAPH_KINDS)


def quantize_static_int8(fp32_path: str, out_path: str, feeds: dict, tmp: str) -> None:
    """Static QDQ quantisation of ``fp32_path`` with activation ranges from the graph inputs ``feeds``."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            n = len(next(iter(feeds.values())))
            self.batches = iter([{k: v[i:i + CALIBRATION_BATCH] for k, v in feeds.items()}
                                 for i in range(0, n, CALIBRATION_BATCH)])

        def get_next(self):
            return next(self.batches, None)

    prepared = _prepared(fp32_path, tmp)
    quantize_static(prepared, out_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=int8_fp32_nodes(prepared))


def int8_fp32_nodes(path: str) -> list[str]:
    """Names of the nodes of the ONNX graph at ``path`` that an INT8 graph (static or dynamic) keeps
    in FP32: :func:`waveform_only_nodes` and :func:`stem_nodes`."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    return waveform_only_nodes(graph) + stem_nodes(graph)


def stem_nodes(graph) -> list[str]:
    """Names of the convolutions of an ONNX graph (``onnx.GraphProto``) that read its ``features``
    input directly (the stem), when that input has several channels (the phase channels); else none.

    One uint8 range per tensor cannot hold log-magnitude and the heavy-tailed group delay and
    frequency deviation together. Quantised, the stem cost a trained ``quick`` model with the phase
    channels most of what they gain on fake families left out of training (static INT8:
    leave-family-out EER 36.4 % against 31.1 % in FP32, mean of four cross folds and two seeds);
    with the stem in FP32 the INT8 graph matches FP32 (docs/GENERALIZATION.md).
    """
    features = next((i for i in graph.input if i.name == FEATURES_INPUT), None)
    dims = features.type.tensor_type.shape.dim if features is not None else []
    if len(dims) < 2 or dims[1].dim_value <= 1:
        return []
    return [node.name for node in graph.node if node.op_type == "Conv" and FEATURES_INPUT in node.input]


def _prepared(fp32_path: str, tmp: str, symbolic: bool = True) -> str:
    """The FP32 graph after ONNX Runtime's pre-processing for quantisation (shape inference, clean-up), made once.

    ``symbolic=False`` skips its symbolic shape inference, which gives up on an encoder's graph (the
    cut position table) and then leaves a ``sym_shape_infer_temp.onnx`` in the working folder.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = os.path.join(tmp, "model-prepared.onnx" if symbolic else "model-prepared-nosym.onnx")
    if not os.path.exists(prepared):
        try:
            quant_pre_process(fp32_path, prepared, skip_symbolic_shape=not symbolic)
        except Exception:  # its symbolic shape inference has no rule for some reductions (ReduceMax, opset 18)
            quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
    return prepared


def waveform_only_nodes(graph) -> list[str]:
    """Names of the nodes of an ONNX graph (``onnx.GraphProto``) that only the raw ``wave`` input feeds.

    They stay FP32 in every cheaper graph kind: the hybrid model's waveform branch (sinc filters,
    1-D convolutions, pooling over 64,000 samples) gained no speed from INT8 in ONNX Runtime's
    quantised 1-D operators and lost accuracy (INT8/FP32 logit correlation 0.984 against 0.993
    with the branch kept in FP32, measured on a trained ``small-hybrid``). A graph without a
    ``wave`` input gives an empty list.
    """
    sources = {i.name: {i.name} for i in graph.input}
    names = []
    for node in graph.node:  # ONNX graphs are topologically sorted
        feeds = set().union(*(sources.get(name, set()) for name in node.input))
        for name in node.output:
            sources[name] = feeds
        if feeds == {WAVE_INPUT}:
            names.append(node.name)
    return names


def time_graph(session, feeds: dict, output: str) -> dict:
    """Milliseconds per window of ``session`` on ``feeds`` (at least :data:`TIMING_BATCH`
    windows): the median over :data:`TIMING_RUNS` runs at batch 1 and over a tenth as many at
    batch :data:`TIMING_BATCH`, divided by the batch. CPU time of the calling thread: with one
    intra-op thread ONNX Runtime runs in it, and CPU time does not count the waits that other
    processes on a shared machine cause."""
    one = {k: v[:1] for k, v in feeds.items()}
    batch = {k: v[:TIMING_BATCH] for k, v in feeds.items()}
    n = len(next(iter(batch.values())))

    def ms(inputs: dict, runs: int) -> float:
        for _ in range(TIMING_WARMUP):
            session.run([output], inputs)
        times = []
        for _ in range(runs):
            start = time.thread_time()
            session.run([output], inputs)
            times.append(time.thread_time() - start)
        return float(np.median(times) * 1000)

    return {"batch1_ms": round(ms(one, TIMING_RUNS), 3),
            f"batch{n}_ms_per_window": round(ms(batch, max(2, TIMING_RUNS // 10)) / n, 3)}


def agreement(reference: np.ndarray, logits: np.ndarray) -> dict:
    """How a candidate's logits follow FP32's: max |difference| and correlation (NaN when either is constant)."""
    constant = len(logits) < 2 or np.std(reference) == 0 or np.std(logits) == 0
    corr = float("nan") if constant else float(np.corrcoef(reference, logits)[0, 1])
    return {"max_abs_diff": float(np.abs(logits - reference).max()), "correlation": corr}


def choose(candidates: list[dict]) -> dict:
    """The fastest at batch 1 of the candidates of equal accuracy (``fp32`` always is)."""
    equal = [c for c in candidates if c["kind"] == "fp32" or c["correlation"] >= MIN_CORRELATION]
    return min(equal, key=lambda c: c["batch1_ms"])


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), for the timing's record."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
