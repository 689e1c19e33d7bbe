"""The FastAPI app: :func:`create_app` wires the routes, API key, admission, request ids and metrics.

Routes (``/v1`` ones need the API key when one is set; see :mod:`spoofscan.serve.routes`):

    GET  /                   the page (static/index.html; app.js, style.css under /static)
    GET  /healthz            liveness: the process answers
    GET  /readyz             readiness: model loaded, worker alive, not saturated (else 503)
    GET  /metrics            Prometheus text
    GET  /docs               OpenAPI (Swagger UI, served by the app: nothing from the internet)
    GET  /v1/model           the model's identity, card and the service's limits
    POST /v1/detect          one file: multipart (any file part) or the raw body
    POST /v1/detect/batch    several files (multipart), each answered or failed on its own

The event loop only moves bytes: decoding runs in the batcher's decode threads and the model
in its one thread (:mod:`spoofscan.serve.batcher`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..version import __version__
from .errors import ServeError
from .prometheus import Metrics
from .results import error_json
from .routes import page, probes, v1
from .settings import ServeSettings
from .state import STATIC_DIR, ServiceState

log = logging.getLogger("spoofscan.serve")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STATUS_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
                 422: "invalid_request"}

DESCRIPTION = """Tell real human speech from fake speech (text-to-speech, voice conversion, vocoded copies).

`POST /v1/detect` with an audio file (multipart, or the raw body) answers `label` (`real`, `fake`,
`partly fake` or `no speech`), `p_fake` (the probability that the clip is fake, calibrated at equal
priors: for a 50/50 mix of real and fake), `score` (higher = more bona fide), the clip's duration,
the `segments` (runs of windows that score fake, in seconds) and a timeline of per-window verdicts. When `SPOOFSCAN_API_KEY` is set on the server, send it as
`X-API-Key` or `Authorization: Bearer ...`.
"""


def create_app(detector, settings: ServeSettings | None = None, *, model_path=None) -> FastAPI:
    """The web service over a loaded detector (either backend).

    Parameters
    ----------
    detector : :class:`~spoofscan.detector.Detector` from :func:`spoofscan.load_detector`. Its
        ``max_seconds`` is set to ``settings.max_seconds`` (the decoder refuses longer audio).
    settings : limits and switches (default :class:`ServeSettings`)
    model_path : the model file, for its hash and name in every answer

    The inference worker starts and stops with the app's lifespan (uvicorn runs it; with
    Starlette's TestClient use ``with TestClient(app):``).
    """
    settings = settings or ServeSettings()
    detector.max_seconds = settings.max_seconds
    state = ServiceState(detector, settings, model_path)

    @asynccontextmanager
    async def lifespan(app):
        state.batcher.start()
        try:
            yield
        finally:
            state.batcher.stop()

    app = FastAPIOffline(title="spoofscan", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                         redoc_url=None)
    app.state.serve = state
    app.add_middleware(RequestMiddleware, metrics=state.metrics)
    app.add_exception_handler(ServeError, _serve_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(page)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(probes)
    app.include_router(v1)
    return app


class RequestMiddleware:
    """Pure ASGI (so uploads stream untouched): a request id, metrics and safe headers on every answer."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        head = scope["method"] == "HEAD"
        if head:  # HEAD is GET without the body (FastAPI's routes answer only the methods they name)
            scope = {**scope, "method": "GET"}
        status = 500
        start = time.perf_counter()

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
            elif head:
                message = {**message, "body": b""}  # the headers, Content-Length included, stay GET's
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.in_flight.dec()
            route = _route_label(scope)
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def _route_label(scope) -> str:
    """The route template (never the raw path: scanners would make a label per URL)."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path
    return "/static" if scope.get("path", "").startswith("/static/") else "other"


# ---------------------------------------------------------------------------- errors: JSON like every answer


def _error_response(request: Request, e: ServeError) -> JSONResponse:
    request.app.state.serve.metrics.failures.labels(e.kind).inc()
    body = error_json(e.kind, e.detail, request_id=request.state.request_id)
    return JSONResponse(body, status_code=e.status, headers=e.headers)


async def _serve_error(request: Request, e: ServeError):
    return _error_response(request, e)


async def _http_error(request: Request, e: StarletteHTTPException):
    kind = _STATUS_KINDS.get(e.status_code, "http_error")
    return _error_response(request, ServeError(e.status_code, kind, str(e.detail), dict(e.headers or {})))


async def _internal_error(request: Request, e: Exception):
    """A bug: a JSON 500 without its details (uvicorn logs it)."""
    request.app.state.serve.metrics.failures.labels("internal").inc()
    body = error_json("internal", "unexpected server error (see the server log)",
                      request_id=getattr(request.state, "request_id", None))
    return JSONResponse(body, status_code=500)


async def _validation_error(request: Request, e: RequestValidationError):
    detail = "; ".join(f"{'.'.join(map(str, err.get('loc', ())))}: {err.get('msg')}" for err in e.errors())
    return _error_response(request, ServeError(422, "invalid_request", detail))
