"""Reading uploads: multipart or a raw body, within the size and time limits, before any decoding.

The body is counted while it streams in (a wrapper around the ASGI ``receive``), so a body
over ``max_body_mb`` is refused (413) as soon as it passes the limit, whether or not it
announced its length; a body that arrives too slowly is refused too (408). Each file is
spooled: kept in memory up to ``spool_bytes``, then in an unnamed temporary file
(:class:`tempfile.SpooledTemporaryFile`, which Starlette's multipart parser uses as well), so
no temporary file has a name on disk that could be left behind, whatever happens.
"""

from __future__ import annotations

import asyncio
import re
import time
from tempfile import SpooledTemporaryFile
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser, parse_options_header  # the parser's own
from starlette.requests import ClientDisconnect, Request

from .errors import ServeError
from .settings import MIB, ServeSettings

MAX_NAME_CHARS = 200  # a file name longer than this is cut (it is only echoed back)
MAX_FORM_FIELDS = 32  # non-file form fields accepted in a multipart body
MAX_FIELD_BYTES = 64 * 1024  # size of one non-file form field
DEFAULT_NAME = "upload"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(name: str | None) -> str:
    """A file name fit to echo in JSON and logs: no control characters, at most 200 characters."""
    name = _CONTROL.sub("", name or "").strip()
    return name[:MAX_NAME_CHARS] or DEFAULT_NAME


class LimitedReceive:
    """An ASGI ``receive`` that enforces the body's size and time limits.

    Raises :class:`ServeError` 413 (``body_too_large``) past ``max_bytes``, 408
    (``upload_timeout``) when the whole body takes longer than ``total`` seconds or a piece
    takes longer than ``idle`` seconds. Once the body is complete it passes messages through
    untouched (the service then waits on it for the client's disconnect).
    """

    def __init__(self, receive, max_bytes: int, total: float, idle: float):
        self.receive = receive
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + total
        self.total = total
        self.idle = idle
        self.received = 0
        self.complete = False

    async def __call__(self):
        if self.complete:
            return await self.receive()
        left = self.deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(self.receive(), min(self.idle, max(left, 0.0)))
        except asyncio.TimeoutError:
            raise ServeError(408, "upload_timeout",
                             f"the upload took too long (limits: {self.total:g} s in all, {self.idle:g} s "
                             f"between two pieces); {self.received} bytes arrived") from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise ServeError(413, "body_too_large", f"the request body is over the limit of "
                                 f"{self.max_bytes / MIB:g} MiB")
            if not message.get("more_body", False):
                self.complete = True
        return message


def check_length(request: Request, settings: ServeSettings) -> None:
    """Refuse a body whose announced length is over the limit before reading any of it."""
    value = request.headers.get("content-length")
    if value is None:
        return
    if not value.isdigit():
        raise ServeError(400, "bad_request", f"Content-Length {value[:40]!r} is not a number")
    if int(value) > settings.max_body_bytes:
        raise ServeError(413, "body_too_large", f"the request body ({int(value) / MIB:.1f} MiB) is over the limit "
                         f"of {settings.max_body_mb:g} MiB")


async def read_uploads(request: Request, settings: ServeSettings, *, max_files: int,
                       filename: str | None = None) -> tuple[list[tuple[str, object]], LimitedReceive]:
    """The files of a request: ``[(name, file)]``, each file a seekable binary stream at offset 0.

    multipart/form-data: every file part (any field name; ``file`` or ``files`` by
    convention), at most ``max_files`` (413 beyond). Any other content type: the raw body is
    the file, named by ``filename`` (a query parameter) or ``upload``. The caller owns the
    files and must close them. Also returns the limited ``receive``, to watch for the
    client's disconnect once the body is in.
    """
    check_length(request, settings)
    receive = LimitedReceive(request.receive, settings.max_body_bytes, settings.upload_timeout, settings.idle_timeout)
    limited = Request(request.scope, receive)
    content_type = request.headers.get("content-type", "").lower()
    try:
        if content_type.startswith("multipart/form-data"):
            return await _read_form(limited, max_files), receive
        # any other type is the file itself: clients label raw bodies anyhow (curl --data-binary says
        # application/x-www-form-urlencoded), and the decoder, not the label, tells what the bytes are
        return [(clean_name(filename), await _read_raw(limited, settings))], receive
    except ClientDisconnect:
        raise ServeError(499, "client_gone", "the client went away during the upload") from None


async def _read_raw(request: Request, settings: ServeSettings):
    spool = SpooledTemporaryFile(max_size=settings.spool_bytes)
    try:
        async for chunk in request.stream():
            if spool._rolled:  # on disk now: write from a thread, not the event loop
                await asyncio.to_thread(spool.write, chunk)
            else:
                spool.write(chunk)
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


class _UploadParser(MultiPartParser):
    """Starlette's multipart parser, taking for a file every part that carries one, and noting
    whether the body reached its closing boundary (:attr:`complete`).

    A file part is one with a ``filename``, one with only the RFC 5987 form ``filename*=``
    (which the parser alone reads as a text field, limited to 64 KiB), or one named ``file``
    or ``files`` without a file name (``curl -F 'file=<clip.wav'`` sends the file so).
    """

    complete = False

    def on_headers_finished(self) -> None:
        disposition = self._current_part.content_disposition or b""
        _, options = parse_options_header(disposition)
        if b"filename" not in options:
            name = _extended_filename(disposition)
            if name is None and options.get(b"name", b"").decode("latin-1") in FILE_FIELDS:
                name = ""
            if name is not None:  # told to the parser as the plain parameter it reads
                quoted = name.replace("\\", "\\\\").replace('"', '\\"').encode(self._charset or "utf-8", "replace")
                self._current_part.content_disposition = disposition + b'; filename="' + quoted + b'"'
        super().on_headers_finished()

    def on_end(self) -> None:
        self.complete = True


FILE_FIELDS = ("file", "files")  # the names of file parts the documentation gives
_EXTENDED_FILENAME = re.compile(rb"""(?:^|;)\s*filename\*\s*=\s*([^;]*)""", re.IGNORECASE)


def _extended_filename(disposition: bytes) -> str | None:
    """The RFC 5987 ``filename*=CHARSET'LANG'PERCENT-ENCODED`` of a Content-Disposition, decoded; None without one."""
    m = _EXTENDED_FILENAME.search(disposition)
    if not m:
        return None
    charset, _, rest = m.group(1).strip().strip(b'"').decode("latin-1").partition("'")
    encoded = rest.partition("'")[2]
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset
        return unquote(encoded, encoding="latin-1")


async def _read_form(request: Request, max_files: int):
    parser = _UploadParser(request.headers, request.stream(), max_files=max_files, max_fields=MAX_FORM_FIELDS,
                           max_part_size=MAX_FIELD_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        message = str(e.message)
        if message.startswith("Too many files"):
            raise ServeError(413, "too_many_files", f"more than {max_files} file(s) in one request"
                             + ("" if max_files > 1 else " (send several files to /v1/detect/batch)")) from None
        if message.startswith("Part exceeded maximum size"):
            message = (f"a form field over {MAX_FIELD_BYTES // 1024} KiB: a part that carries audio needs a file "
                       f"name (curl -F file=@clip.wav) or the name file or files")
        raise ServeError(400, "bad_multipart", f"the multipart body cannot be read: {message}") from None
    files = [(clean_name(v.filename), v.file) for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not parser.complete:
        for _, file in files:
            file.close()
        raise ServeError(400, "bad_multipart", "the multipart body ends before its closing boundary: it was cut "
                         "short (send the whole body, or the file as the raw body)")
    if not files:
        raise ServeError(422, "no_file", "the form holds no file: send the audio as a file part, "
                         "e.g. curl -F file=@clip.wav")
    return files
