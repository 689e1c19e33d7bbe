"""What the service answers when it cannot score: one error type with an HTTP status and a kind.

Every refusal is JSON ``{"ok": false, "error": KIND, "detail": MESSAGE, "request_id": ...}``
with the status below; ``KIND`` is a stable machine-readable word (also the ``kind`` label of
the ``spoofscan_failures_total`` metric), ``detail`` says what was wrong in words (for bad
audio, the decoder's own reason).
"""

from __future__ import annotations

from ..errors import AudioError, SpoofscanError


class ServeError(Exception):
    """A request or file the service refuses: HTTP ``status``, ``kind`` and a message."""

    def __init__(self, status: int, kind: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = headers or {}


# Decoder reasons (the start of AudioError.reason, see spoofscan.audio) -> (status, kind).
# 413 for audio longer than the limit (like a body over the size limit: too much to take);
# 415 when the bytes are not audio the decoders know; 422 for audio that is broken or unusable.
AUDIO_REASONS = (
    ("too long", 413, "too_long"),
    ("not audio", 415, "not_audio"),
    ("cannot read audio", 415, "not_audio"),
    ("empty", 422, "empty"),
    ("no audio samples", 422, "empty"),
    ("truncated", 422, "truncated"),
    ("too short", 422, "too_short"),
    ("sample rate", 422, "bad_sample_rate"),
    ("contains NaN", 422, "not_finite"),
)
DEFAULT_AUDIO = (422, "bad_audio")


def audio_error(e: SpoofscanError) -> ServeError:
    """The HTTP answer to a decoding error: status and kind from the decoder's reason, which is kept."""
    reason = e.reason if isinstance(e, AudioError) else str(e)
    for prefix, status, kind in AUDIO_REASONS:
        if reason.startswith(prefix):
            return ServeError(status, kind, str(e))
    return ServeError(*DEFAULT_AUDIO, str(e))
