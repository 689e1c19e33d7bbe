"""The web service: ``POST /v1/detect`` and a page at ``/``, over any loaded detector.

Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart, prometheus-client,
fastapi-offline). From the command line: ``spoofscan serve --model MODEL``. From Python::

    import spoofscan
    from spoofscan.serve import ServeSettings, create_app

    det = spoofscan.load_detector("model.onnx", threads=2)
    app = create_app(det, ServeSettings(max_seconds=600), model_path="model.onnx")
    # run it with any ASGI server: uvicorn.run(app, host="127.0.0.1", port=8000)

Importing this package is light (the CLI reads :class:`ServeSettings` for its defaults);
FastAPI is imported when :func:`create_app` or :func:`serve` is first used.
"""

from __future__ import annotations

from .settings import API_KEY_ENV, ServeSettings, check_bind, is_loopback

KEEP_ALIVE_SECONDS = 5  # idle keep-alive connections are closed after this
MAX_HEADER_BYTES = 64 * 1024  # request line and headers larger than this are refused (h11)


def create_app(detector, settings: ServeSettings | None = None, *, model_path=None):
    """The FastAPI app over a loaded detector: see :func:`spoofscan.serve.app.create_app`."""
    from .app import create_app as _create_app

    return _create_app(detector, settings, model_path=model_path)


def serve(detector, settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000,
          model_path=None, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted (refuses a public address without a key)."""
    import uvicorn

    check_bind(host, settings)
    app = create_app(detector, settings, model_path=model_path)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                h11_max_incomplete_event_size=MAX_HEADER_BYTES, server_header=False)


__all__ = ["API_KEY_ENV", "ServeSettings", "check_bind", "create_app", "is_loopback", "serve"]
