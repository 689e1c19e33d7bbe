"""The service's limits and switches: one frozen dataclass, and the rule for binding an address."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

from ..config import Config
from ..errors import SpoofscanError

MIB = 1024 * 1024
API_KEY_ENV = "SPOOFSCAN_API_KEY"  # environment variable the CLI reads the API key from
# characters an API key needs when the service is reachable from other machines: a short key
# can be guessed by trying (16 characters of `openssl rand -hex 8` are 64 bits)
MIN_PUBLIC_KEY_CHARS = 16


@dataclass(frozen=True)
class ServeSettings(Config):
    """Limits of the web service (see :func:`spoofscan.serve.create_app`).

    max_body_mb : largest request body in MiB (413 beyond; checked on Content-Length first,
        then counted while the body streams in, before any decoding)
    max_seconds : longest accepted clip in seconds (413 beyond; None: no limit). Given to the
        detector, whose decoder refuses longer audio
    max_files : files in one ``/v1/detect/batch`` request (413 beyond)
    max_pending : requests admitted at once, from the first body byte to the answer (503 with
        ``Retry-After`` beyond; ``/readyz`` reports not ready while it is reached)
    retry_after : seconds, the ``Retry-After`` of a 503
    decode_threads : threads that decode uploads (the model has one thread of its own)
    clip_windows : windows of one clip decoded ahead of the model at most (None: the
        detector's batch size); bounds memory per clip and keeps long clips from starving
        short ones
    cross_request_batching : gather windows of all pending clips into one model call
        (False: one clip per call, the one-request-at-a-time baseline of the benchmark)
    upload_timeout : seconds the whole body may take to arrive (408 beyond)
    idle_timeout : seconds between two pieces of the body (408 beyond)
    spool_bytes : an upload is kept in memory up to this size, then in an unnamed temporary
        file (deleted by the OS when closed, even if the process dies)
    api_key : when set, every ``/v1`` route needs it (``X-API-Key`` or ``Authorization: Bearer``)
    allow_public_without_key : bind to a non-loopback address without an API key
    """

    max_body_mb: float = 100.0
    max_seconds: float | None = 900.0
    max_files: int = 16
    max_pending: int = 64
    retry_after: int = 5
    decode_threads: int = 2
    clip_windows: int | None = None
    cross_request_batching: bool = True
    upload_timeout: float = 120.0
    idle_timeout: float = 20.0
    spool_bytes: int = MIB
    api_key: str | None = field(default=None, repr=False)
    allow_public_without_key: bool = False

    def __post_init__(self):
        for name in ("max_body_mb", "upload_timeout", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise SpoofscanError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_files", "max_pending", "decode_threads", "retry_after"):
            if int(getattr(self, name)) < 1:
                raise SpoofscanError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise SpoofscanError(f"max_seconds must be > 0 or None, got {self.max_seconds}")
        if self.clip_windows is not None and self.clip_windows < 1:
            raise SpoofscanError(f"clip_windows must be >= 1 or None, got {self.clip_windows}")
        if self.api_key is not None and not self.api_key.strip():
            raise SpoofscanError(f"the API key is empty (unset {API_KEY_ENV} for no key)")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MIB)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["api_key"] = "set" if self.api_key else None  # never the key itself
        return d


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, settings: ServeSettings) -> None:
    """Refuse to listen on a non-loopback address without an API key (unless told to), or with
    a key shorter than :data:`MIN_PUBLIC_KEY_CHARS`.

    Raises
    ------
    SpoofscanError : naming the address and the ways out.
    """
    if is_loopback(host):
        return
    if settings.api_key and len(settings.api_key) < MIN_PUBLIC_KEY_CHARS:
        raise SpoofscanError(
            f"--host {host} is reachable from other machines and {API_KEY_ENV} has {len(settings.api_key)} "
            f"character(s): such a key can be guessed; give one of at least {MIN_PUBLIC_KEY_CHARS} "
            f"(e.g. openssl rand -hex 16)")
    if settings.api_key or settings.allow_public_without_key:
        return
    raise SpoofscanError(
        f"--host {host} is reachable from other machines and no API key is set: set {API_KEY_ENV} "
        f"(every /v1 route then needs it), or pass --allow-public-without-key if a proxy in front "
        f"already controls access")


def check_address(host: str, port: int) -> None:
    """Refuse a port outside 0-65535, or an address this machine cannot listen on (a name that
    does not resolve, an address it does not have, a port in use), before any work is done.

    Raises
    ------
    SpoofscanError : naming the address and the reason.
    """
    if not 0 <= port <= 65535:
        raise SpoofscanError(f"--port {port} is not a port number: give one from 1 to 65535 (0: any free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            s.bind(address)
    except OSError as e:  # socket.gaierror too
        raise SpoofscanError(f"cannot listen on {host} port {port}: {e.strerror or e}") from None
