"""The FastAPI app: routes, API key, admission, request ids and metrics around them.

Routes (``/v1`` ones need the API key when one is set):

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

import asyncio
import hmac
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .batcher import Batcher
from .errors import ServeError
from .prometheus import Metrics
from .results import error_json, model_info, prediction_json, short_model
from .settings import API_KEY_ENV, ServeSettings
from .uploads import read_uploads

log = logging.getLogger("spoofscan.serve")

STATIC_DIR = Path(__file__).parent / "static"
# The page loads nothing but its own files; audio it shows is a local blob.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STATUS_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
                 422: "invalid_request"}

DESCRIPTION = """Tell real human speech from fake speech (text-to-speech, voice conversion, vocoded copies).

`POST /v1/detect` with an audio file (multipart, or the raw body) answers `label` (`real`, `fake`
or `no speech`), `p_fake` (the probability that the clip is fake, calibrated at equal priors: for
a 50/50 mix of real and fake), `score` (higher = more bona fide), the clip's duration and a
timeline of per-window verdicts. When `SPOOFSCAN_API_KEY` is set on the server, send it as
`X-API-Key` or `Authorization: Bearer ...`.
"""


class ServiceState:
    """What the routes share: detector, settings, metrics, the batcher and the admission count."""

    def __init__(self, detector, settings: ServeSettings, model_path=None):
        self.detector = detector
        self.settings = settings
        self.metrics = Metrics()
        self.batcher = Batcher(detector, settings, self.metrics)
        self.model = model_info(detector, model_path)
        self.pending = 0  # detection requests admitted (touched on the event loop only)
        self.metrics.pending.set_function(lambda: self.pending)

    @asynccontextmanager
    async def admit(self):
        """Hold one of ``max_pending`` places for a detection request, or refuse it (503)."""
        if self.pending >= self.settings.max_pending:
            raise ServeError(503, "queue_full", f"the server is busy ({self.pending} requests in hand, the limit); "
                             f"try again in {self.settings.retry_after} s",
                             {"Retry-After": str(self.settings.retry_after)})
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    def ready(self) -> tuple[bool, str]:
        if not self.batcher.alive:
            return False, "the inference worker is not running"
        if self.pending >= self.settings.max_pending:
            return False, "saturated: max_pending requests in hand"
        return True, "ready"


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
        status = 500
        start = time.perf_counter()

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
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


def _error_response(request: Request, e: ServeError, metrics: Metrics) -> JSONResponse:
    metrics.failures.labels(e.kind).inc()
    body = error_json(e.kind, e.detail, request_id=request.state.request_id)
    return JSONResponse(body, status_code=e.status, headers=e.headers)


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
    metrics = state.metrics

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
    app.add_middleware(RequestMiddleware, metrics=metrics)

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, e: ServeError):
        return _error_response(request, e, metrics)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        kind = _STATUS_KINDS.get(e.status_code, "http_error")
        return _error_response(request, ServeError(e.status_code, kind, str(e.detail), dict(e.headers or {})), metrics)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):  # a bug: JSON like every answer (uvicorn logs it)
        metrics.failures.labels("internal").inc()
        body = error_json("internal", "unexpected server error (see the server log)",
                          request_id=getattr(request.state, "request_id", None))
        return JSONResponse(body, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        detail = "; ".join(f"{'.'.join(map(str, err.get('loc', ())))}: {err.get('msg')}" for err in e.errors())
        return _error_response(request, ServeError(422, "invalid_request", detail), metrics)

    # ------------------------------------------------------------------ page and probes

    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", tags=["probes"], summary="Liveness: the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], summary="Readiness: model loaded, worker running, not saturated")
    async def readyz():
        ok, reason = state.ready()
        body = {"ready": ok, "reason": reason, "model": state.model["name"], "pending": state.pending,
                "max_pending": settings.max_pending, "queue_windows": state.batcher.queue_windows}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["probes"], summary="Prometheus metrics")
    async def prometheus_metrics():
        return Response(metrics.render(), media_type=metrics.content_type)

    # ------------------------------------------------------------------ /v1

    key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description=f"the server's {API_KEY_ENV}")
    bearer = HTTPBearer(auto_error=False, description=f"the server's {API_KEY_ENV}")

    async def require_key(key: str | None = Depends(key_header),
                          token: HTTPAuthorizationCredentials | None = Depends(bearer)):
        if not settings.api_key:
            return
        given = key or (token.credentials if token else None)
        if not given or not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise ServeError(401, "unauthorized", "missing or wrong API key (send X-API-Key: KEY or "
                             "Authorization: Bearer KEY)", {"WWW-Authenticate": "Bearer"})

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["detection"])

    @v1.get("/model", summary="The model: name, version, hash, card; the service's limits")
    async def model():
        meta = getattr(detector, "metadata", None) or {}
        return {"model": state.model, "card": detector.card,
                "export": {k: v for k, v in meta.items() if k != "card"} or None,
                "limits": {"max_body_mb": settings.max_body_mb, "max_seconds": settings.max_seconds,
                           "max_files": settings.max_files}}

    upload_body = {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary", "description": "the audio file"}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
    batch_body = {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}

    @v1.post("/detect", summary="Score one audio file", openapi_extra=upload_body,
             description="Send the file as multipart (`curl -F file=@clip.wav`) or as the raw body "
                         "(`curl --data-binary @clip.wav`). Errors: 413 body or audio too long, 415 not audio, "
                         "422 broken audio, 408 upload too slow, 503 busy (with Retry-After), 401 API key.")
    async def detect(request: Request,
                     timeline: bool = Query(True, description="include the per-window timeline"),
                     filename: str | None = Query(None, description="name of a raw-body upload (echoed back)")):
        start = time.perf_counter()
        async with state.admit():
            files, receive = await read_uploads(request, settings, max_files=1, filename=filename)
            (name, result), = await _score(state, files, receive)
        if isinstance(result, ServeError):
            raise result
        return _verdict(request, state, name, result, timeline, start)

    @v1.post("/detect/batch", summary="Score several audio files, each on its own", openapi_extra=batch_body,
             description="Multipart with one part per file (`curl -F files=@a.wav -F files=@b.mp3`). The answer "
                         "is 200 with one entry per file, in order: a verdict, or `ok: false` with that file's "
                         "`status`, `error` and `detail`.")
    async def detect_batch(request: Request, timeline: bool = Query(True, description="include the timelines")):
        start = time.perf_counter()
        async with state.admit():
            if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
                raise ServeError(415, "not_multipart", "send the files as multipart/form-data "
                                 "(curl -F files=@a.wav -F files=@b.wav)")
            files, receive = await read_uploads(request, settings, max_files=settings.max_files)
            scored = await _score(state, files, receive)
        results = []
        for name, result in scored:
            if isinstance(result, ServeError):
                metrics.failures.labels(result.kind).inc()
                results.append(error_json(result.kind, result.detail, file=name, status=result.status))
            else:
                try:
                    results.append(_verdict(request, state, name, result, timeline, start))
                except ServeError as e:
                    metrics.failures.labels(e.kind).inc()
                    results.append(error_json(e.kind, e.detail, file=name, status=e.status))
        return {"ok": True, "request_id": request.state.request_id, "files": len(results),
                "failed": sum(not r["ok"] for r in results), "model": short_model(state.model),
                "processing_ms": round(1000 * (time.perf_counter() - start), 1), "results": results}

    app.include_router(v1)
    return app


def _verdict(request: Request, state: ServiceState, name: str, result, timeline: bool, start: float) -> dict:
    """The JSON of one scored clip."""
    if not getattr(result, "ok", True):  # a Failure from the detector
        raise ServeError(422, "bad_audio", f"{result.source}: {result.error}")
    state.metrics.clips.labels(result.label).inc()
    verdict = prediction_json(result, file=name, threshold=state.detector.threshold, timeline=timeline)
    lines = verdict.pop("timeline", None)
    body = {"ok": True, "request_id": request.state.request_id, **verdict, "model": short_model(state.model),
            "processing_ms": round(1000 * (time.perf_counter() - start), 1)}
    if lines is not None:
        body["timeline"] = lines  # last: the long part
    return body


async def _score(state: ServiceState, files: list, receive) -> list:
    """Score uploaded files through the batcher: ``[(name, Prediction or ServeError)]`` in order.

    The files are handed over to the batcher's jobs (which close them); while they are
    scored, the client's disconnect is watched and cancels them (their windows leave the
    queue, their decoding stops).
    """
    jobs, handed = [], 0
    try:
        for name, file in files:
            jobs.append(state.batcher.submit(file, name))
            handed += 1
    except BaseException:
        for _, file in files[handed:]:
            file.close()
        for job in jobs:
            state.batcher.cancel(job)
        raise
    waiting = {job.future for job in jobs}
    gone = asyncio.ensure_future(_client_gone(receive))
    try:
        while waiting:
            done, _ = await asyncio.wait(waiting | {gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                raise ServeError(499, "client_gone", "the client went away; its work was cancelled")
            waiting -= done
        return [(name, job.future.result()) for (name, _), job in zip(files, jobs)]
    finally:
        gone.cancel()
        cancelled = sum(state.batcher.cancel(job) for job in jobs)
        if cancelled:
            state.metrics.failures.labels("cancelled").inc(cancelled)


async def _client_gone(receive) -> None:
    """Return when the client disconnects (the body has been read: only that message can come)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
