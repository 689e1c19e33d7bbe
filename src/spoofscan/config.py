"""Frozen dataclass configs: built from dicts strictly, read from YAML, TOML or JSON files."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from .errors import SpoofscanError, choice_error, first_line

CONFIG_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


class Config:
    """Base of the frozen dataclass configs that travel in checkpoints and run folders:
    ``to_dict()`` for JSON, and a strict ``from_dict()`` (see :func:`config_from_dict`).

    What a file or a caller writes (lists, preset names, nested mappings) becomes field values in
    :meth:`field_values`, which ``from_dict`` calls; the constructor's ``__post_init__`` only checks.
    """

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        return config_from_dict(cls, d)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """The field values for the mapping ``d`` (known keys only). Lists are already tuples;
        subclasses turn preset names and nested mappings into configs here."""
        return d


def config_from_dict(cls, d: dict):
    """Build a frozen dataclass from a dict, refusing unknown keys (names them and the valid ones).

    Lists become tuples so configs read back from JSON compare equal to the originals; then the
    class's :meth:`Config.field_values` turns the rest into field values.
    """
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise SpoofscanError(f"unknown {cls.__name__} field(s) {unknown} (valid: {', '.join(names)})")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    if hasattr(cls, "field_values"):
        values = cls.field_values(values)
    return cls(**values)


def load_config(cls, path: str | Path | None = None, **overrides):
    """A ``cls`` config from a YAML, TOML or JSON file, with keyword overrides (``None`` values ignored;
    a mapping given for a mapping of the file, such as ``features``, is merged into it key by key)."""
    d: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SpoofscanError(f"config file {str(path)!r}: no such file")
        suffix = path.suffix.lower()
        if suffix not in CONFIG_SUFFIXES:
            raise choice_error("config file type", path.suffix, CONFIG_SUFFIXES)
        d = _parse_config_file(path, suffix)
        if not isinstance(d, dict):
            raise SpoofscanError(f"config file {str(path)!r}: expected a mapping of {cls.__name__} fields")
    return cls.from_dict(merge_mappings(d, {k: v for k, v in overrides.items() if v is not None}))


def _parse_config_file(path: Path, suffix: str):
    """The contents of a YAML, TOML or JSON file; a file that is not UTF-8 text or does not
    parse is a :class:`SpoofscanError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpoofscanError(f"config file {str(path)!r}: not UTF-8 text ({e.reason})") from None
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpoofscanError(f"config file {str(path)!r}: not valid TOML ({e})") from None
    if suffix == ".json":  # not through YAML: PyYAML reads JSON's 1e-06 as a string
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise SpoofscanError(f"config file {str(path)!r}: not valid JSON ({e})") from None
    import yaml

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise SpoofscanError(f"config file {str(path)!r}: not valid YAML ({first_line(e)})") from None


def merge_mappings(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied: a mapping given for a mapping is merged key by key, any
    other value replaces (a new dict; the arguments are left as they are)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge_mappings(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out
