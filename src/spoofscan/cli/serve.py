"""`spoofscan serve`: the web service and page."""

from __future__ import annotations

import os

from ..errors import SpoofscanError
from .common import add_detector_args, load_detector_from_args, seconds

SERVE_MODULES = ("fastapi", "fastapi_offline", "uvicorn", "multipart", "python_multipart", "prometheus_client")


def add_serve(sub):
    from ..serve.settings import API_KEY_ENV, ServeSettings

    d = ServeSettings()
    p = sub.add_parser("serve", help="a web service and page: POST /v1/detect, the page at /, /metrics, /docs",
                       description=f"Serve a model over HTTP (FastAPI + uvicorn). With {API_KEY_ENV} set in the "
                                   f"environment, every /v1 route needs that key.")
    p.add_argument("--model", "-m", required=True,
                   help="checkpoint (.safetensors) or exported model (.onnx; no torch needed)")
    add_detector_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on, 1-65535 (default 8000; 0: any free port)")
    p.add_argument("--max-seconds", type=seconds, default=d.max_seconds,
                   help=f"longest clip accepted, in seconds of decoded audio (default {d.max_seconds:g}; 0: no limit)")
    p.add_argument("--max-upload-mb", type=float, default=d.max_body_mb,
                   help=f"largest request body in MiB (default {d.max_body_mb:g})")
    p.add_argument("--max-files", type=int, default=d.max_files,
                   help=f"files per batch request (default {d.max_files})")
    p.add_argument("--max-pending", type=int, default=d.max_pending,
                   help=f"requests in hand at once; beyond, 503 with Retry-After (default {d.max_pending})")
    p.add_argument("--decode-threads", type=int, default=d.decode_threads,
                   help=f"threads decoding uploads (default {d.decode_threads})")
    p.add_argument("--upload-timeout", type=float, default=d.upload_timeout,
                   help=f"seconds a request body may take to arrive; slower uploads get 408 "
                        f"(default {d.upload_timeout:g})")
    p.add_argument("--allow-public-without-key", action="store_true",
                   help=f"listen on a non-loopback --host without {API_KEY_ENV} "
                        f"(only behind a proxy that controls access)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args) -> int:
    from ..serve.settings import API_KEY_ENV, ServeSettings, check_address, check_bind

    settings = ServeSettings(max_body_mb=args.max_upload_mb, max_seconds=args.max_seconds, max_files=args.max_files,
                             max_pending=args.max_pending, decode_threads=args.decode_threads,
                             upload_timeout=args.upload_timeout,
                             api_key=os.environ.get(API_KEY_ENV) or None,
                             allow_public_without_key=args.allow_public_without_key)
    check_bind(args.host, settings)  # before the model loads: a refusal should be instant
    check_address(args.host, args.port)
    try:
        import importlib

        importlib.import_module("spoofscan.serve.app")  # FastAPI and friends: the serve extra
        from ..serve import serve
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in SERVE_MODULES:
            raise SpoofscanError(f"serve needs {e.name!r}, which is not installed: "
                                 f"pip install 'spoofscan[serve]'") from None
        raise
    detector = load_detector_from_args(args, max_seconds=args.max_seconds)
    serve(detector, settings, host=args.host, port=args.port, model_path=args.model, log_level=args.log_level)
    return 0
