"""What several subcommands share: the flags that choose how a model runs, and loading it."""

from __future__ import annotations


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


def load_detector_from_args(args, **kwargs):
    """The detector that :func:`add_detector_args`' flags ask for (threads go to either backend)."""
    from .. import load_detector

    return load_detector(args.model, device=args.device, backend=args.backend, batch_size=args.batch_size,
                         threads=args.threads, **kwargs)
