"""The routes, at module level: the page, the probes and ``/v1``. Each gets its app's
:class:`~spoofscan.serve.state.ServiceState` through ``Depends(get_state)``;
:func:`spoofscan.serve.app.create_app` includes the routers."""

from __future__ import annotations

import asyncio
import hmac
import time

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .errors import ServeError
from .results import error_json, prediction_json, short_model
from .schemas import BatchAnswer, Health, ModelAnswer, Readiness, Verdict, error_responses
from .settings import API_KEY_ENV
from .state import ServiceState, get_state
from .uploads import read_uploads

# The page loads nothing but its own files; audio it shows is a local blob.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

# ---------------------------------------------------------------------------- page and probes

page = APIRouter()
probes = APIRouter()


@page.get("/", include_in_schema=False)
async def index(state: ServiceState = Depends(get_state)):
    return HTMLResponse(state.page, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})


@probes.get("/healthz", tags=["probes"], summary="Liveness: the process answers",
            responses={200: {"model": Health, "description": "the process answers"}})
async def healthz():
    return {"status": "ok"}


@probes.get("/readyz", tags=["probes"], summary="Readiness: model loaded, worker running, not saturated",
            responses={200: {"model": Readiness, "description": "ready"},
                       503: {"model": Readiness, "description": "not ready: `reason` says why"}})
async def readyz(state: ServiceState = Depends(get_state)):
    ok, reason = state.ready()
    body = {"ready": ok, "reason": reason, "model": state.model["name"], "pending": state.pending,
            "max_pending": state.settings.max_pending, "queue_windows": state.batcher.queue_windows}
    return JSONResponse(body, status_code=200 if ok else 503)


@probes.get("/metrics", tags=["probes"], summary="Prometheus metrics",
            responses={200: {"description": "Prometheus text exposition format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def prometheus_metrics(state: ServiceState = Depends(get_state)):
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


# ---------------------------------------------------------------------------- /v1

key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description=f"the server's {API_KEY_ENV}")
bearer = HTTPBearer(auto_error=False, description=f"the server's {API_KEY_ENV}")


async def require_key(key: str | None = Depends(key_header),
                      token: HTTPAuthorizationCredentials | None = Depends(bearer),
                      state: ServiceState = Depends(get_state)):
    """Refuse (401) a ``/v1`` request without the server's API key, when one is set."""
    api_key = state.settings.api_key
    if not api_key:
        return
    given = key or (token.credentials if token else None)
    if not given:
        raise ServeError(401, "unauthorized", "this service needs an API key: send it as X-API-Key: KEY or "
                         "Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        raise ServeError(401, "unauthorized", "wrong API key: it is not the key this service was started with",
                         {"WWW-Authenticate": "Bearer"})


v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["detection"])

UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary", "description": "the audio file"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
DETECT_ERRORS = (400, 401, 408, 413, 415, 422, 500, 503)
BATCH_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}


@v1.get("/model", summary="The model: name, version, hash, card; the service's limits",
        responses={200: {"model": ModelAnswer, "description": "the model and the limits"}, **error_responses(401, 500)})
async def model(state: ServiceState = Depends(get_state)):
    detector, settings = state.detector, state.settings
    meta = getattr(detector, "metadata", None) or {}
    return {"model": state.model, "card": detector.card,
            "export": {k: v for k, v in meta.items() if k != "card"} or None,
            "limits": {"max_body_mb": settings.max_body_mb, "max_seconds": settings.max_seconds,
                       "max_files": settings.max_files}}


@v1.post("/detect", summary="Score one audio file", openapi_extra=UPLOAD_BODY,
         responses={200: {"model": Verdict, "description": "the verdict"}, **error_responses(*DETECT_ERRORS)},
         description="Send the file as multipart (`curl -F file=@clip.wav`) or as the raw body "
                     "(`curl --data-binary @clip.wav`). Errors: 413 body or audio too long, 415 not audio, "
                     "422 broken audio, 408 upload too slow, 503 busy (with Retry-After), 401 API key.")
async def detect(request: Request,
                 timeline: bool = Query(True, description="include the per-window timeline"),
                 filename: str | None = Query(None, description="name of a raw-body upload (echoed back)"),
                 state: ServiceState = Depends(get_state)):
    start = time.perf_counter()
    async with state.admit():
        files, receive = await read_uploads(request, state.settings, max_files=1, filename=filename)
        (name, result), = await _score(state, files, receive)
    if isinstance(result, ServeError):
        raise result
    return _verdict(request, state, name, result, timeline, start)


@v1.post("/detect/batch", summary="Score several audio files, each on its own", openapi_extra=BATCH_BODY,
         responses={200: {"model": BatchAnswer, "description": "one entry per file, in order"},
                    **error_responses(*DETECT_ERRORS)},
         description="Multipart with one part per file (`curl -F files=@a.wav -F files=@b.mp3`). The answer "
                     "is 200 with one entry per file, in order: a verdict, or `ok: false` with that file's "
                     "`status`, `error` and `detail`.")
async def detect_batch(request: Request, timeline: bool = Query(True, description="include the timelines"),
                       state: ServiceState = Depends(get_state)):
    start = time.perf_counter()
    async with state.admit():
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ServeError(415, "not_multipart", "send the files as multipart/form-data "
                             "(curl -F files=@a.wav -F files=@b.wav)")
        files, receive = await read_uploads(request, state.settings, max_files=state.settings.max_files)
        scored = await _score(state, files, receive)
    results = []
    for name, result in scored:
        if isinstance(result, ServeError):
            state.metrics.failures.labels(result.kind).inc()
            results.append(error_json(result.kind, result.detail, file=name, status=result.status))
        else:
            try:
                results.append(_verdict(request, state, name, result, timeline, start))
            except ServeError as e:
                state.metrics.failures.labels(e.kind).inc()
                results.append(error_json(e.kind, e.detail, file=name, status=e.status))
    return {"ok": True, "request_id": request.state.request_id, "files": len(results),
            "failed": sum(not r["ok"] for r in results), "model": short_model(state.model),
            "processing_ms": round(1000 * (time.perf_counter() - start), 1), "results": results}


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
