"""``/openapi.json`` against real answers: every route's answers, good and bad, carry a status
the document lists for that route and a body its schema for that status accepts, and every
status the document lists is met (but a 500 that only a bug gives). A client generated from the
document reads every answer the service sends."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from serve_support import BandDetector, GatedDetector, clip_bytes  # noqa: E402
from synth import encode, synth_clip  # noqa: E402

from spoofscan.serve import ServeSettings, create_app  # noqa: E402

KEY = "k" * 20
AUTH = {"x-api-key": KEY}
BOUNDARY = "b0undary"
ONLY_A_BUG = {("/v1/model", "get", 500), ("/v1/detect/batch", "post", 500)}  # no request makes them


# ---------------------------------------------------------------------------- a JSON Schema check


def check(spec: dict, schema: dict, value, where: str = "$") -> None:
    """Assert that ``value`` matches ``schema`` (the subset of JSON Schema pydantic writes), with
    one rule stricter than JSON Schema's: an object schema that lists ``properties`` and says
    nothing of ``additionalProperties`` admits no other key, so the document names every field."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return check(spec, spec["components"]["schemas"][name], value, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            failures = []
            for option in schema[key]:
                try:
                    return check(spec, option, value, where)
                except AssertionError as e:
                    failures.append(str(e))
            raise AssertionError(f"{where}: matches none of {key}: {failures}")
    types = schema.get("type")
    if types is not None:
        kinds = {"string": str, "boolean": bool, "object": dict, "array": list, "null": type(None),
                 "integer": int, "number": (int, float)}
        allowed = types if isinstance(types, list) else [types]
        ok = any(isinstance(value, kinds[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in allowed)
        assert ok, f"{where}: {value!r} is not {types}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} is not {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, dict) and ("properties" in schema or "additionalProperties" in schema):
        props = schema.get("properties", {})
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: lacks {sorted(missing)}"
        extra = schema.get("additionalProperties", False if props else True)
        for key, item in value.items():
            if key in props:
                check(spec, props[key], item, f"{where}.{key}")
            elif isinstance(extra, dict):
                check(spec, extra, item, f"{where}.{key}")
            else:
                assert extra, f"{where}: {key!r} is not in the document"
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(spec, schema["items"], item, f"{where}[{i}]")


def test_the_checker_catches_what_it_should():
    spec = {"components": {"schemas": {"A": {"type": "object", "properties": {"x": {"type": "integer"}},
                                             "required": ["x"]}}}}
    a = {"$ref": "#/components/schemas/A"}
    check(spec, a, {"x": 1})
    for bad in ({}, {"x": "1"}, {"x": 1, "y": 2}, {"x": True}, []):
        with pytest.raises(AssertionError):
            check(spec, a, bad)
    check(spec, {"anyOf": [{"type": "number"}, {"type": "null"}]}, None)
    with pytest.raises(AssertionError):
        check(spec, {"type": "array", "items": a}, [{"x": 1}, {"x": None}])


# ---------------------------------------------------------------------------- real answers


class Seen:
    """Real answers checked against the document, and which (path, method, status) they met."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.met: set = set()

    def __call__(self, path: str, method: str, status: int, headers, body: bytes) -> None:
        operation = self.spec["paths"][path][method]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method.upper()} {path} answered {status}, which the document does not list"
        content_type = headers.get("content-type", "").split(";")[0]
        assert content_type in documented.get("content", {}), (path, status, content_type, documented)
        schema = documented["content"][content_type].get("schema", {})
        assert schema, f"{method.upper()} {path} {status}: the document gives no schema"
        value = json.loads(body) if content_type == "application/json" else body.decode()
        check(self.spec, schema, value, f"{method.upper()} {path} {status}")
        self.met.add((path, method, status))

    def response(self, path: str, method: str, r) -> None:
        self(path, method, r.status_code, r.headers, r.content)


def multipart(*parts: tuple, close: bool = True) -> tuple[bytes, dict]:
    """A multipart body of ``(field, filename, data)`` parts; ``close=False`` leaves out the closing boundary."""
    body = b""
    for field, filename, data in parts:
        name = f'; filename="{filename}"' if filename else ""
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"{name}\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    if close:
        body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}", **AUTH}


def _answers_of_an_ordinary_service(seen: Seen) -> None:
    good, bad = clip_bytes("bonafide", 2.0), clip_bytes("bonafide", 2.0)[:3000]
    mixed = encode(np.concatenate([synth_clip(label, seconds, np.random.default_rng(90 + i)) for i, (label, seconds)
                                   in enumerate((("bonafide", 1.2), ("spoof", 2.4), ("bonafide", 1.2)))]))  # partly fake
    settings = ServeSettings(api_key=KEY, max_body_mb=0.5, max_seconds=5.0, max_files=2)
    with TestClient(create_app(BandDetector(), settings)) as c:
        for path in ("/healthz", "/readyz", "/metrics"):
            seen.response(path, "get", c.get(path))
        seen.response("/v1/model", "get", c.get("/v1/model", headers=AUTH))
        seen.response("/v1/model", "get", c.get("/v1/model"))
        for path in ("/v1/detect", "/v1/detect/batch"):
            for request in (
                dict(content=multipart(("files", "a.wav", good))[0], headers=multipart()[1]),  # 200
                dict(content=multipart(("file", "mixed.wav", mixed))[0], headers=multipart()[1]),  # 200 partly fake
                dict(content=multipart(("file", "a.wav", good))[0], headers=multipart()[1],
                     params={"timeline": "false"}),
                dict(content=multipart(("files", "a.wav", good), ("files", "b.wav", bad))[0], headers=multipart()[1]),
                dict(content=multipart(("file", "a.wav", good), close=False)[0], headers=multipart()[1]),  # 400
                dict(content=good, headers={"content-type": "application/octet-stream"}),  # 401 / 415 (batch)
                dict(content=good, headers={"x-api-key": "wrong-key"}),  # 401
                dict(content=b"x" * 600_000, headers=AUTH),  # 413 body_too_large
                dict(content=multipart(*[("files", f"{i}.wav", good) for i in range(3)])[0],
                     headers=multipart()[1]),  # 413 too_many_files
                dict(content=multipart(("file", "long.wav", clip_bytes("bonafide", 6.0)))[0],
                     headers=multipart()[1]),  # 413 too_long (detect), a 200 with the file's error (batch)
                dict(content=multipart(("file", "notes.txt", b"a shopping list, not a recording\n" * 9))[0],
                     headers=multipart()[1]),  # 415 not_audio
                dict(content=multipart(("file", "cut.wav", bad))[0], headers=multipart()[1]),  # 422 truncated
                dict(content=multipart(("name", None, b"just a field"))[0], headers=multipart()[1]),  # 422 no_file
                dict(content=good, headers=AUTH, params={"timeline": "maybe"}),  # 422 invalid_request
            ):
                seen.response(path, "post", c.post(path, **request))


def _answers_of_a_failing_model(seen: Seen) -> None:
    class Broken(BandDetector):
        def window_scores(self, windows):
            raise RuntimeError("the model failed")

    with TestClient(create_app(Broken(), ServeSettings())) as c:
        seen.response("/v1/detect", "post", c.post("/v1/detect", content=clip_bytes("bonafide", 1.0)))  # 500
        seen.response("/v1/detect/batch", "post",  # 200, the file's error within
                      c.post("/v1/detect/batch", files={"files": ("a.wav", clip_bytes("bonafide", 1.0))}))


def _answers_of_a_saturated_service(seen: Seen) -> None:
    det = GatedDetector()
    with TestClient(create_app(det, ServeSettings(max_pending=1))) as c:
        held: list = []
        worker = threading.Thread(target=lambda: held.append(c.post("/v1/detect", content=clip_bytes("bonafide", 1.0))))
        worker.start()
        try:
            assert det.entered.wait(10)
            deadline = time.time() + 10
            while c.app.state.serve.pending < 1 and time.time() < deadline:
                time.sleep(0.01)
            seen.response("/readyz", "get", c.get("/readyz"))  # 503
            seen.response("/v1/detect", "post", c.post("/v1/detect", content=clip_bytes("bonafide", 1.0)))  # 503
            seen.response("/v1/detect/batch", "post",
                          c.post("/v1/detect/batch", files={"files": ("a.wav", clip_bytes("bonafide", 1.0))}))
        finally:
            det.gate.set()
            worker.join(20)
    seen.response("/v1/detect", "post", held[0])


def _answers_to_a_stalled_upload(seen: Seen) -> None:
    """408: the body stops coming (raw ASGI: a test client would wait for the whole body first)."""
    app = create_app(BandDetector(), ServeSettings(idle_timeout=0.2, upload_timeout=5))

    async def post(path: str, content_type: bytes):
        sent: list = []
        start = multipart(("files", "a.wav", b"RIFF"), close=False)[0][:-2] if b"multipart" in content_type else b"RIFF"
        parts = [{"type": "http.request", "body": start, "more_body": True}]

        async def receive():
            if parts:
                return parts.pop(0)
            await asyncio.sleep(60)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
                 "headers": [(b"content-type", content_type)], "client": ("127.0.0.1", 5),
                 "server": ("127.0.0.1", 80)}
        await asyncio.wait_for(app(scope, receive, send), 5)
        headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])

    async def both():
        async with app.router.lifespan_context(app):
            return (await post("/v1/detect", b"application/octet-stream"),
                    await post("/v1/detect/batch", f"multipart/form-data; boundary={BOUNDARY}".encode()))

    one, batch = asyncio.run(both())
    seen("/v1/detect", "post", *one)
    seen("/v1/detect/batch", "post", *batch)


def test_every_answer_is_the_one_the_document_describes():
    with TestClient(create_app(BandDetector(), ServeSettings())) as c:
        spec = c.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422, which the service never sends
    seen = Seen(spec)
    _answers_of_an_ordinary_service(seen)
    _answers_of_a_failing_model(seen)
    _answers_of_a_saturated_service(seen)
    _answers_to_a_stalled_upload(seen)
    documented = {(path, method, int(status)) for path, ops in spec["paths"].items() for method, op in ops.items()
                  for status in op["responses"]}
    assert documented - seen.met == ONLY_A_BUG


def test_a_batch_entry_is_a_verdict_or_that_files_error():
    """The 200 of a batch holds both kinds of entry, each as the document says."""
    with TestClient(create_app(BandDetector(), ServeSettings())) as c:
        spec = c.get("/openapi.json").json()
        r = c.post("/v1/detect/batch", files=[("files", ("a.wav", clip_bytes("spoof", 2.0))),
                                              ("files", ("b.wav", encode(np.zeros(800, np.float32))))])
    d = r.json()
    assert [e["ok"] for e in d["results"]] == [True, False] and d["results"][1]["status"] == 422
    Seen(spec).response("/v1/detect/batch", "post", r)
