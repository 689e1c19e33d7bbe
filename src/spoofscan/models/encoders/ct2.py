"""Read a CTranslate2 ``model.bin`` (the weights of a faster-whisper model folder) with numpy alone.

The format, little-endian throughout::

    u32 binary version (1..6; this reader knows every one of them)
    string spec name, u32 spec revision                                (version >= 2)
    u32 number of variables, then for each:
        string name, u8 rank, rank x u32 dims, u8 dtype, u32 size, the bytes
        (size is a byte count from version 4, an element count before)
    u32 number of aliases, then (alias, target) string pairs          (version >= 3)

A string is a u16 length that counts a final NUL, then the bytes. Dtypes: 0 float32, 1 int8,
2 int16, 3 int32, 4 float16, 5 bfloat16. Variables are stored sorted by name (``decoder/``
before ``encoder/``). Floating-point variables are returned as float32.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable

import numpy as np

from ...errors import SpoofscanError

BINARY_VERSIONS = range(1, 7)  # 6 is what CTranslate2 4.x writes
BFLOAT16 = 5
DTYPES = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"), 4: np.dtype("<f2"),
          BFLOAT16: np.dtype("<u2")}  # bfloat16: the high half of a float32, read as uint16
MAX_RANK = 8
MAX_VARIABLES = 1 << 20  # CTranslate2 models have hundreds to a few thousand


@dataclass(frozen=True)
class Ct2Model:
    """What :func:`read_ct2_model` read: the header and the (selected) variables.

    ``variables`` maps a name (``encoder/conv1/weight``) to its array, floating point as float32,
    an alias under its own name too (the same array as its target). ``names`` lists every
    variable in the file, loaded or not.
    """

    path: str
    binary_version: int
    spec: str
    revision: int
    variables: dict = field(repr=False)
    aliases: dict = field(repr=False)
    names: tuple = field(repr=False)


class _Reader:
    """Reads the little-endian fields of ``f``; a short read is a "truncated" error naming the file."""

    def __init__(self, f: BinaryIO, path: str, size: int):
        self.f, self.path, self.size = f, path, size

    def error(self, what: str) -> SpoofscanError:
        return SpoofscanError(f"{self.path}: not a readable CTranslate2 model.bin: {what}")

    def take(self, n: int, what: str) -> bytes:
        at = self.f.tell()
        if at + n > self.size:
            raise self.error(f"truncated: {what} needs {n} bytes at offset {at}, the file has {self.size}")
        return self.f.read(n)

    def u(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        raw = self.take(self.u("H", what), what)
        if not raw.endswith(b"\0"):
            raise self.error(f"{what} is not a NUL-terminated string")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"{what} is not UTF-8 ({raw[:40]!r})") from None


def read_ct2_model(path: str | os.PathLike, prefix: str = "", *, required: Iterable[str] = ()) -> Ct2Model:
    """Parse a CTranslate2 ``model.bin`` and load the variables whose names start with ``prefix``
    (all by default; the others are skipped without being read).

    ``required``: names that must be present (after aliases), else a :class:`SpoofscanError` names
    the missing ones. Every malformed file (truncated, not this format, a newer binary version,
    sizes that disagree with the shapes) is a :class:`SpoofscanError` naming the file and the fault.
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            model = _parse(_Reader(f, path, size), prefix)
    except OSError as e:
        raise SpoofscanError(f"cannot read CTranslate2 model {path!r}: {e.strerror or e}") from None
    missing = [name for name in required if name not in model.variables]
    if missing:
        raise SpoofscanError(f"{path}: {len(missing)} variable(s) missing from this {model.spec or 'model'}: "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return model


def _parse(r: _Reader, prefix: str) -> Ct2Model:
    version = r.u("I", "the binary version")
    if version not in BINARY_VERSIONS:
        known = f"{BINARY_VERSIONS.start}..{BINARY_VERSIONS.stop - 1}"
        raise r.error(f"binary version {version} (this reader knows {known})")
    spec, revision = ("", 1) if version < 2 else (r.string("the spec name"), r.u("I", "the spec revision"))
    count = r.u("I", "the variable count")
    if count > MAX_VARIABLES:
        raise r.error(f"{count} variables (at most {MAX_VARIABLES})")
    variables, names = {}, []
    for index in range(count):
        name = r.string(f"the name of variable {index}")
        array = _variable(r, name, version, load=name.startswith(prefix))
        names.append(name)
        if array is not None:
            variables[name] = array
    aliases = {}
    if version >= 3:
        for index in range(r.u("I", "the alias count")):
            alias = r.string(f"alias {index}")
            aliases[alias] = r.string(f"the target of alias {alias!r}")
    for alias, target in aliases.items():
        if alias.startswith(prefix) and target in variables:
            variables[alias] = variables[target]
    return Ct2Model(r.path, version, spec, revision, variables, aliases, tuple(names))


def _variable(r: _Reader, name: str, version: int, load: bool) -> np.ndarray | None:
    """One variable's header and bytes (skipped unless ``load``): its array, float32 if floating point."""
    rank = r.u("B", f"the rank of {name!r}")
    if rank > MAX_RANK:
        raise r.error(f"variable {name!r} has rank {rank} (at most {MAX_RANK})")
    shape = struct.unpack(f"<{rank}I", r.take(4 * rank, f"the shape of {name!r}"))
    code = r.u("B", f"the dtype of {name!r}")
    if code not in DTYPES:
        raise r.error(f"variable {name!r} has dtype code {code} (known: {', '.join(map(str, DTYPES))})")
    dtype = DTYPES[code]
    size = r.u("I", f"the size of {name!r}") * (1 if version >= 4 else dtype.itemsize)
    if size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise r.error(f"variable {name!r} holds {size} bytes, its shape {list(shape)} of {dtype.name} needs "
                      f"{int(np.prod(shape, dtype=np.int64)) * dtype.itemsize}")
    if not load:
        if r.f.tell() + size > r.size:
            r.take(size, f"variable {name!r}")  # raises: truncated
        r.f.seek(size, os.SEEK_CUR)
        return None
    array = np.frombuffer(r.take(size, f"variable {name!r}"), dtype=dtype).reshape(shape)
    if code == BFLOAT16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float32) if array.dtype.kind == "f" else array.copy()
