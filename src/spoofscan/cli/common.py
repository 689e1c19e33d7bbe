"""What several subcommands share: the flags that choose how a model runs, and loading it."""

from __future__ import annotations

# predict's default length limit, in seconds: 4 hours is longer than the recordings people check
# (calls, interviews, meetings, podcasts) and still refuses a day-long capture, or a header
# announcing one, at once instead of decoding and scoring it for tens of minutes.
PREDICT_MAX_SECONDS = 4 * 3600.0


def seconds(text: str) -> float | None:
    """The type of ``--max-seconds`` flags: a number of seconds, ``0`` for no limit (None); a
    negative or NaN value is left for the decoder's check, which names it."""
    value = float(text)
    return None if value == 0 else value


def add_detector_args(p) -> None:
    """The flags that choose how a model runs (predict, evaluate, robustness, serve)."""
    from .. import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="torch (PyTorch checkpoint), onnx (exported model, ONNX Runtime, no torch needed) "
                        "or auto: by the model file's suffix (default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (mps: torch backend only)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (ONNX Runtime and its log-mel, or torch.set_num_threads); default: all cores")
    p.add_argument("--hop-seconds", type=float, default=None,
                   help="score a window every this many seconds instead of the model's own hop (a finer hop: more "
                        "windows, a finer timeline and partly fake runs, more time); the window length is the model's")


def load_detector_from_args(args, **kwargs):
    """The detector that :func:`add_detector_args`' flags ask for (threads go to either backend)."""
    from dataclasses import replace

    from .. import load_detector

    det = load_detector(args.model, device=args.device, backend=args.backend, batch_size=args.batch_size,
                        threads=args.threads, **kwargs)
    if args.hop_seconds is not None:  # FeatureConfig checks it against the window
        det.features = replace(det.features, hop_seconds=args.hop_seconds)
    return det
