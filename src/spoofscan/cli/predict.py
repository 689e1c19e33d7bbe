"""`spoofscan predict` (score files) and `spoofscan info` (print a model card)."""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
from pathlib import Path

from ..errors import SpoofscanError
from .common import PREDICT_MAX_SECONDS, add_detector_args, load_detector_from_args, seconds


def add_predict(sub):
    p = sub.add_parser("predict", help="score audio files: real or fake, with a timeline for long clips")
    p.add_argument("inputs", nargs="+", help="files, folders (searched recursively) or glob patterns")
    p.add_argument("--model", "-m", required=True, help="checkpoint (.safetensors) or exported model (.onnx)")
    p.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")
    p.add_argument("--timeline", action="store_true", help="print the per-window timeline (table and csv: one row per window)")
    p.add_argument("--segments", action="store_true",
                   help="print the runs of fake windows that make a clip partly fake (table and csv: one row per "
                        "run, jsonl: a segments list)")
    p.add_argument("--rttm", metavar="FILE",
                   help="also write the runs of fake windows as RTTM, one line per run: "
                        "SPEAKER <file name without extension> 1 <start> <duration> <NA> <NA> spoof <NA> <NA>")
    add_detector_args(p)
    p.add_argument("--max-seconds", type=seconds, default=PREDICT_MAX_SECONDS,
                   help=f"refuse files longer than this many seconds of decoded audio (default "
                        f"{PREDICT_MAX_SECONDS:g}, 4 hours: longer than the recordings people check, short of a "
                        f"day-long capture that would be scored for tens of minutes; 0: no limit)")
    p.add_argument("--output", "-o", default="-", help="write results here instead of standard output")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    from ..audio import expand_inputs
    from ..fileio import atomic_open, refuse_overwrite

    files = expand_inputs(args.inputs)
    if not files:
        raise SpoofscanError(f"no audio files found in {args.inputs}")
    to_file = args.output != "-"
    outputs = {"--output": args.output if to_file else None, "--rttm": args.rttm}
    for flag, path in outputs.items():  # before any work: no output may be an input, the model or the other output
        if path is not None:
            refuse_overwrite([path], [args.model, *files, *(p for f, p in outputs.items() if f != flag)], flag)
    det = load_detector_from_args(args, max_seconds=args.max_seconds)
    with contextlib.ExitStack() as stack:  # each file appears, whole, at the end
        out = stack.enter_context(atomic_open(args.output, "w", newline="")) if to_file else sys.stdout
        rttm = stack.enter_context(atomic_open(args.rttm, "w")) if args.rttm else None
        failed = _write_predictions(det, files, args, out, rttm)
    if failed:
        print(f"{failed} of {len(files)} file(s) could not be scored", file=sys.stderr)
    return 1 if failed else 0


CSV_COLUMNS = ["file", "label", "p_fake", "score", "duration", "speech", "padded", "start", "end", "error"]


def _write_predictions(det, files: list, args, out, rttm=None) -> int:
    """Score ``files`` and write one row each (``--format``), and their runs of fake windows to
    ``rttm`` when given; returns how many failed.

    A clip without speech is written with the label ``no speech``: empty p_fake and score
    cells in CSV, ``-`` in the table, ``null`` in JSON; a window without speech likewise.
    """
    failed = 0
    writer = None
    if args.format == "table":
        out.write(f"{'label':<11} {'p_fake':>6} {'score':>8} {'seconds':>8} {'speech':>6}  file\n")
    for r in det.predict_many(files):
        failed += not r.ok
        if rttm is not None and r.ok:
            rttm.writelines(rttm_lines(r))
        if args.format == "jsonl":
            out.write(json.dumps(r.to_dict(timeline=args.timeline, segments=args.segments), allow_nan=False) + "\n")
        elif args.format == "csv":
            if writer is None:
                writer = csv.writer(out)
                writer.writerow(CSV_COLUMNS)
            if not r.ok:
                writer.writerow([r.source, "error", "", "", "", "", "", "", "", r.error])
                continue
            writer.writerow([r.source, r.label, _num(r.p_fake, ".4f", ""), _num(r.score, ".4f", ""), r.duration,
                             f"{r.speech:.3f}", str(r.padded).lower(), "", "", ""])
            for w in (r.timeline if args.timeline else ()):
                writer.writerow([r.source, "window", _num(w.p_fake, ".4f", ""), _num(w.score, ".4f", ""), "",
                                 f"{w.speech:.3f}", "", w.start, w.end, ""])
            for g in (r.segments if args.segments else ()):
                writer.writerow([r.source, "segment", f"{g.p_fake:.4f}", "", "", "", "", g.start, g.end, ""])
        else:
            _write_table_rows(r, args, out)
        out.flush()
    return failed


def _write_table_rows(r, args, out) -> None:
    """The table's row for one clip, then its windows (``--timeline``) and runs (``--segments``)."""
    if not r.ok:
        out.write(f"{'ERROR':<11} {'':>6} {'':>8} {'':>8} {'':>6}  {r.source}: {r.error}\n")
        return
    note = " (padded: far shorter than one window)" if r.padded else ""
    out.write(f"{r.label:<11} {_num(r.p_fake, '6.3f', '-'):>6} {_num(r.score, '8.3f', '-'):>8} "
              f"{r.duration:8.2f} {r.speech:6.2f}  {r.source}{note}\n")
    for w in (r.timeline if args.timeline else ()):
        out.write(f"{'':<11} {_num(w.p_fake, '6.3f', '-'):>6} {_num(w.score, '8.3f', '-'):>8} {'':>8} "
                  f"{w.speech:6.2f}    {w.start:7.2f}-{w.end:.2f} s\n")
    for g in (r.segments if args.segments else ()):
        out.write(f"{'  segment':<11} {g.p_fake:6.3f} {'':>8} {'':>8} {'':>6}    {g.start:7.2f}-{g.end:.2f} s "
                  f"({g.windows} windows)\n")


def rttm_lines(prediction) -> list[str]:
    """RTTM lines for a prediction's runs of fake windows, one per run:
    ``SPEAKER <file name without extension, blanks as _> 1 <start s> <duration s> <NA> <NA> spoof <NA> <NA>``
    (the segment-level RTTM that PartialSpoof and WeDefense tools read; 3 decimals)."""
    uri = re.sub(r"\s+", "_", Path(prediction.source).stem) or "_"
    return [f"SPEAKER {uri} 1 {g.start:.3f} {g.end - g.start:.3f} <NA> <NA> spoof <NA> <NA>\n"
            for g in prediction.segments]


def _num(value, spec: str, missing: str) -> str:
    """A number formatted with ``spec``, or ``missing`` for None (no speech, no verdict)."""
    return missing if value is None else format(value, spec)


def add_info(sub):
    p = sub.add_parser("info", help="print a checkpoint's card (configs, calibration, training data, metrics)")
    p.add_argument("checkpoint", help="a .safetensors checkpoint or an exported .onnx model")
    p.add_argument("--json", action="store_true", help="the whole card as JSON")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args) -> int:
    """Print a card, validated (:mod:`spoofscan.card`): a malformed one is a one-line error."""
    if Path(args.checkpoint).suffix.lower() == ".onnx":
        from ..backends.onnx import read_metadata

        meta = read_metadata(args.checkpoint)
        if args.json:
            print(json.dumps(meta, indent=2))
            return 0
        card = meta.get("card") or meta
        print(f"{args.checkpoint}: ONNX model, {meta['precision']}, exported from this checkpoint:")
        _print_graph(meta.get("graph"))
    else:
        from ..checkpoint import read_card

        card = read_card(args.checkpoint)
        if args.json:
            print(json.dumps(card, indent=2))
            return 0
    print(f"{args.checkpoint}: {card['format']} v{card['format_version']}, spoofscan {card['spoofscan_version']}, "
          f"created {card.get('created', '?')}")
    if isinstance(card.get("model"), dict):  # every field, whatever the architecture
        print("model      " + " ".join(f"{k}={tuple(v) if isinstance(v, list) else v}" for k, v in card["model"].items()))
    f = card["features"]
    frontend = f.get("frontend", "logmel")
    rows = f"{f['n_mels']} bands" + (f" -> {f.get('n_lfcc')} coefficients + deltas" if frontend == "lfcc" else "")
    channels = tuple(f.get("channels", ("logmag",)))
    if channels != ("logmag",):
        rows += f", channels {'+'.join(channels)}"
    print(f"features   {frontend} {rows} {f['fmin']:g}-{f['fmax']:g} Hz, n_fft={f['n_fft']} win={f['win_length']} "
          f"hop={f['hop_length']}, normalize={f['normalize']}, windows {f['window_seconds']:g} s every {f['hop_seconds']:g} s")
    encoder = card.get("encoder")
    if isinstance(encoder, dict):  # an encoder model: which weights it started from
        print("encoder    " + " ".join(f"{k}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in encoder.items()))
    c = card["calibration"]
    print(f"calibration llr = {c['a']:.4f} * score + {c['b']:.4f}; label fake when p_fake >= {card['threshold']}")
    for key in ("train", "metrics"):
        section = card.get(key)
        for k, v in (section.items() if isinstance(section, dict) else ()):
            print(f"{key:<10} {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    return 0


def _print_graph(graph) -> None:
    """The graph kind of an exported model and, when ``auto`` chose it, each kind's timing."""
    if not isinstance(graph, dict):
        return
    print(f"graph      {graph.get('kind')} ({graph.get('chosen_by')})")
    timed = graph.get("timed_on") or {}
    for c in graph.get("candidates") or ():
        batched = [(k, v) for k, v in c.items() if k.endswith("_ms_per_window")]
        times = f"{c.get('batch1_ms', float('nan')):.2f} ms per window at batch 1" + "".join(
            f", {v:.2f} at batch {k[len('batch'):-len('_ms_per_window')]}" for k, v in batched)
        print(f"           {c.get('kind')}: {times}, correlation with fp32 {c.get('correlation', float('nan')):.4f}")
    if timed:
        print(f"           (timed on {timed.get('cpu', '?')}, {timed.get('threads', '?')} thread, {timed.get('clock', '')})")
