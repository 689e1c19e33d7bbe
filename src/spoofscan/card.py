"""One schema for what travels with a model: the checkpoint card and the ONNX metadata.

A checkpoint (``.safetensors``) carries a JSON *card*; an exported model (``.onnx``) carries
a JSON *metadata* description that holds, among the rest, the original card. Both backends,
``spoofscan info`` and export read them through this module, and nothing else reads them:

- :func:`parse_json` reads the text with a size limit (no MemoryError, no deep recursion);
- :func:`validate_card` / :func:`validate_onnx_metadata` check the envelope with pydantic
  (format and version, label map, finite calibration, threshold in [0, 1], types), then
  build the ``features`` section with :meth:`FeatureConfig.from_dict
  <spoofscan.frontend.config.FeatureConfig.from_dict>`, which is strict and carries the size limits;
- :func:`model_config` builds the ``model`` section with ``ModelConfig.from_dict`` (it needs
  torch, so the torch backend and export call it; ``info`` and the ONNX runtime check only
  that the section is a mapping).

The ``features`` and ``model`` sections are deliberately not spelled out here: their
dataclasses are the one definition of their fields, so a field added there needs no edit
here. Every problem raises :class:`~spoofscan.errors.SpoofscanError` naming the file, the
field and what is wrong: ``checkpoint 'x.safetensors': card field 'calibration.a': Input
should be a finite number (got nan)``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SpoofscanError
from .labels import LABEL_INDEX

FORMAT = "spoofscan-checkpoint"
FORMAT_VERSION = 1
ONNX_FORMAT = "spoofscan-onnx"
ONNX_FORMAT_VERSION = 2  # 2: graph inputs named by what they hold (features, wave); the model config beside them
PRECISIONS = ("fp32", "int8", "fp16")  # the number format of the graph (graph kinds: spoofscan.graphs)

MAX_JSON_CHARS = 4_000_000  # a card is a few kB; this bounds memory and parse time
MAX_NAME_CHARS = 200  # version strings, dates, precision names

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
ShortText = Annotated[str, Field(max_length=MAX_NAME_CHARS)]


class _Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    a: FiniteFloat
    b: FiniteFloat


class _Common(BaseModel):
    """What both the card and the ONNX metadata hold. Unknown top-level keys are kept (a
    newer writer may add a summary); the format version guards changes of meaning."""

    model_config = ConfigDict(extra="allow", strict=True)

    spoofscan_version: ShortText
    created: Optional[ShortText] = None
    features: dict
    calibration: _Calibration
    threshold: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    label_map: dict[str, int]

    @field_validator("label_map")
    @classmethod
    def _one_convention(cls, value: dict) -> dict:
        if value != LABEL_INDEX:
            raise ValueError(f"must be {LABEL_INDEX} (the network's one output is the bona fide logit), got {value}")
        return value


class _Card(_Common):
    format: Literal[FORMAT]  # type: ignore[valid-type]
    format_version: Annotated[int, Field(ge=1, le=FORMAT_VERSION)]
    model: dict
    output: Optional[Annotated[str, Field(max_length=1000)]] = None
    train: dict = {}
    metrics: dict = {}


class _OnnxMetadata(_Common):
    format: Literal[ONNX_FORMAT]  # type: ignore[valid-type]
    format_version: Annotated[int, Field(ge=1, le=ONNX_FORMAT_VERSION)]
    precision: Literal[PRECISIONS]  # type: ignore[valid-type]
    card: Optional[dict] = None
    input: Optional[dict] = None  # format 1: the one log-mel input
    inputs: Optional[list[dict]] = None  # format 2: every graph input
    model: Optional[dict] = None  # format 2: the model config (arch...)
    output: Optional[dict] = None
    export: Optional[dict] = None
    quantization: Optional[dict] = None
    graph: Optional[dict] = None  # the graph kind, and with "auto" every kind's timing (spoofscan.graphs)


def parse_json(text: Any, where: str, what: str = "card") -> Any:
    """Decode JSON text with a size limit; any problem is a SpoofscanError naming ``where``."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpoofscanError(f"{where}: its {what} is not UTF-8 text ({e.reason})") from None
    if not isinstance(text, str):
        raise SpoofscanError(f"{where}: its {what} is not text (a {type(text).__name__})")
    if len(text) > MAX_JSON_CHARS:
        raise SpoofscanError(f"{where}: its {what} is {len(text):,} characters, more than the "
                             f"{MAX_JSON_CHARS:,} a card can hold")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SpoofscanError(f"{where}: its {what} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise SpoofscanError(f"{where}: its {what} is JSON nested too deeply") from None


def validate_card(card: Any, where: str) -> dict:
    """Check a checkpoint card (see the module docstring); returns it unchanged.

    Raises
    ------
    SpoofscanError : naming ``where``, the field and the problem.
    """
    _check(_Card, card, where, FORMAT, FORMAT_VERSION)
    feature_config(card, where)
    return card


def validate_onnx_metadata(meta: Any, where: str) -> dict:
    """Check the JSON description of an exported model, and the checkpoint card inside it."""
    _check(_OnnxMetadata, meta, where, ONNX_FORMAT, ONNX_FORMAT_VERSION)
    features = feature_config(meta, where)
    if meta.get("card") is not None:
        validate_card(meta["card"], f"{where} (the checkpoint card inside it)")
        if feature_config(meta["card"], where) != features:
            raise SpoofscanError(f"{where}: the features of its metadata and of the checkpoint card inside it disagree")
    return meta


def feature_config(card: dict, where: str):
    """The :class:`~spoofscan.frontend.config.FeatureConfig` of a card's ``features`` section, strictly built."""
    from .frontend.config import FeatureConfig

    return _build(FeatureConfig, card.get("features"), where, "features")


def model_config(card: dict, where: str):
    """The ``ModelConfig`` of a card's ``model`` section, strictly built (imports torch)."""
    from .models import ModelConfig

    return _build(ModelConfig, card.get("model"), where, "model")


def _build(cls, section: Any, where: str, field: str):
    if not isinstance(section, dict):
        raise SpoofscanError(f"{where}: card field {field!r}: expected a mapping, got {_show(section)}")
    try:
        return cls.from_dict(section)
    except SpoofscanError as e:
        raise SpoofscanError(f"{where}: card field {field!r}: {e}") from None
    except (TypeError, ValueError, OverflowError) as e:
        raise SpoofscanError(f"{where}: card field {field!r}: {type(e).__name__}: {e}") from None


def _check(schema, data: Any, where: str, fmt: str, version: int) -> None:
    if not isinstance(data, dict):
        raise SpoofscanError(f"{where}: the card must be a JSON mapping, got {_show(data)}")
    if data.get("format") != fmt or not isinstance(data.get("format_version"), int) \
            or isinstance(data.get("format_version"), bool) or data["format_version"] > version:
        raise SpoofscanError(f"{where}: format {_show(data.get('format'))} v{_show(data.get('format_version'))} "
                             f"(this spoofscan reads {fmt} up to v{version})")
    try:
        schema.model_validate(data)
    except ValidationError as e:
        problems = e.errors()
        shown = "; ".join(_problem(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise SpoofscanError(f"{where}: {shown}{more}") from None


def _problem(p: dict) -> str:
    loc = ".".join(str(part) for part in p["loc"])
    if p["type"] == "missing":
        return f"card field {loc!r} is missing"
    return f"card field {loc!r}: {p['msg']} (got {_show(p.get('input'))})"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
