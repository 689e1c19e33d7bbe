"""The service's answers as pydantic models: what ``/openapi.json`` says each route answers.

They document; they do not serialise (the routes build their JSON with :mod:`.results`, and a
test holds real answers, good and bad, against this document). Every refusal, whatever its
status, is an :class:`ErrorAnswer`; :func:`error_responses` names the kinds each status carries.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, Field


class ModelIdentity(BaseModel):
    """The model that answered, repeated in every verdict."""

    name: str = Field(description="the checkpoint card's name, else the model file's name")
    version: str | None = Field(description="the card's version, else its creation time")
    sha256: str | None = Field(description="the first 12 hex digits of the model file's SHA-256")
    backend: str = Field(description="onnx or torch")
    precision: str = Field(description="fp32 or int8")


class Window(BaseModel):
    """One window of the timeline (``score`` and ``p_fake`` null when it holds no speech)."""

    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    score: float | None = Field(description="the model's score, higher = more bona fide")
    p_fake: float | None = Field(description="calibrated probability of fake at equal priors")
    speech: float | None = Field(description="share of the window that holds speech, 0..1")


class Segment(BaseModel):
    """A run of consecutive windows that score fake (the segment rule: spoofscan.segments)."""

    start: float = Field(description="seconds: where the run's first window's share of the clip starts")
    end: float = Field(description="seconds: where the run's last window's share of the clip ends")
    p_fake: float | None = Field(description="mean calibrated p_fake of the run's windows")


class Verdict(BaseModel):
    """The verdict on one file."""

    ok: Literal[True]
    request_id: str = Field(description="also the X-Request-ID header")
    file: str = Field(description="the file's name as uploaded (control characters removed, 200 at most)")
    label: Literal["real", "fake", "partly fake", "no speech"] = Field(
        description="fake when p_fake >= threshold; else partly fake when a run of windows scores fake "
                    "(see segments); else real; no speech when too little speech was found")
    p_fake: float | None = Field(description="calibrated probability that the clip is fake, at equal priors "
                                             "(a 50/50 mix of real and fake); null when no speech was found")
    score: float | None = Field(description="the model's score, higher = more bona fide; null without speech")
    speech: float | None = Field(description="share of the clip that holds speech, 0..1")
    padded: bool = Field(description="the clip was shorter than half a window and repeated to fill it")
    duration: float | None = Field(description="seconds")
    threshold: float | None = Field(description="the label is fake when p_fake >= threshold")
    windows: int
    segments: list[Segment] = Field(description="the runs of fake windows, in order; empty when there is none")
    model: ModelIdentity
    processing_ms: float
    timeline: list[Window] | None = Field(None, description="per-window verdicts; left out with ?timeline=false")


class ErrorAnswer(BaseModel):
    """Every refusal: a stable machine-readable ``error`` kind and a ``detail`` in words."""

    ok: Literal[False]
    error: str = Field(description="the kind of refusal, e.g. not_audio, truncated, too_long, queue_full")
    detail: str = Field(description="what was wrong, in words (for bad audio, the decoder's reason)")
    request_id: str | None = Field(description="also the X-Request-ID header")


class FileError(BaseModel):
    """A file of a batch that could not be scored (the others are)."""

    ok: Literal[False]
    error: str = Field(description="as ErrorAnswer.error")
    detail: str
    file: str
    status: int = Field(description="the HTTP status this file alone would have got")


class BatchAnswer(BaseModel):
    """One entry per file, in order: a verdict or that file's error."""

    ok: Literal[True]
    request_id: str
    files: int
    failed: int
    model: ModelIdentity
    processing_ms: float
    results: list[Union[Verdict, FileError]]


class ModelInfo(ModelIdentity):
    """Who answers, in full."""

    sha256_full: str | None
    file: str | None
    window_seconds: float
    hop_seconds: float
    sample_rate: int
    threshold: float
    trained_with: str | None = Field(description="the spoofscan version that trained the model")
    spoofscan_version: str


class Limits(BaseModel):
    max_body_mb: float
    max_seconds: float | None = Field(description="longest clip accepted; null: no limit")
    max_files: int = Field(description="files per batch request")


class ModelAnswer(BaseModel):
    model: ModelInfo
    card: dict[str, Any] | None = Field(description="the checkpoint card")
    export: dict[str, Any] | None = Field(description="for an exported model, its ONNX metadata besides the card")
    limits: Limits


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    reason: str
    model: str
    pending: int = Field(description="detection requests in hand")
    max_pending: int
    queue_windows: int = Field(description="windows waiting for the model")


ERROR_KINDS = {  # status -> the error kinds it carries, and when
    400: "`bad_multipart` (a multipart body that cannot be read or is cut short), `bad_request`",
    401: "`unauthorized`: the API key is missing or wrong",
    408: "`upload_timeout`: the body took longer than the upload timeout, or stalled",
    413: "`body_too_large` (over the body limit), `too_long` (audio over the length limit), `too_many_files`",
    415: "`not_audio`: the bytes are no audio format the decoders read; `not_multipart` (batch)",
    422: "`empty`, `truncated`, `too_short`, `bad_sample_rate`, `not_finite`, `bad_audio`: the audio is broken "
         "or unusable; `no_file`: the form holds no file; `invalid_request`: a query parameter is wrong",
    500: "`internal`: a bug (the server log has it)",
    503: "`queue_full`: too many requests in hand; try again after `Retry-After` seconds",
}


def error_responses(*statuses: int) -> dict:
    """The ``responses`` of a route for these error statuses: each an :class:`ErrorAnswer`."""
    return {status: {"model": ErrorAnswer, "description": ERROR_KINDS[status]} for status in statuses}
