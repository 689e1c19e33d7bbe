"""Writing files safely: outputs appear whole or not at all, and never replace an input.

Every file spoofscan writes (checkpoints, exported models, score files, reports, plots,
``predict --output``) goes through :func:`atomic_write` or :func:`atomic_open`: the data is
written to a temporary file beside the target and renamed over it at the end, so a crash,
a full disk or Ctrl-C never leaves half a file, and the target is untouched until then.
:func:`refuse_overwrite` is called before any work with the inputs of a command, so that an
output path naming one of them (``predict IN.flac -o IN.flac``) is an error, not data loss.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .errors import SpoofscanError


def _temp_beside(path: Path) -> str:
    """A new empty temporary file in ``path``'s folder (created if missing); its name."""
    if path.is_dir():
        raise SpoofscanError(f"output {str(path)!r} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise SpoofscanError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    os.close(fd)
    return tmp


def _publish(tmp: str, path: Path) -> None:
    """Give the temporary file the usual permissions and rename it over ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        raise SpoofscanError(f"cannot write {str(path)!r}: {e.strerror or e}") from None


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: a crash never leaves half a file.

    Missing parent folders are created. An ``OSError`` (permission, no space, a folder in
    the way) becomes a :class:`SpoofscanError` naming the path.
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        try:
            write(tmp)
        except OSError as e:
            raise SpoofscanError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator:
    """``open()`` a temporary file beside ``path``; it replaces ``path`` when the block ends
    without an exception, and is removed otherwise (``path`` is then left as it was)."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file: the same inode when both exist (hard links,
    symbolic links, ``./x`` and ``x``), else the same absolute path after resolving links."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        return os.path.abspath(a) == os.path.abspath(b)


def refuse_overwrite(outputs: Iterable[str | Path], inputs: Iterable[str | Path], what: str = "output") -> None:
    """Raise :class:`SpoofscanError` when an output path is one of the inputs (or a folder).

    Parameters
    ----------
    outputs : the files a command is about to write
    inputs : every file it reads (audio, model, score and protocol files)
    what : how to name the output in the message (``--output``, ``--out``...)
    """
    inputs = [i for i in inputs if i is not None]
    for out in outputs:
        if Path(out).is_dir():
            raise SpoofscanError(f"{what} {str(out)!r} is a folder; give a file name")
        for given in inputs:
            if same_file(out, given):
                raise SpoofscanError(f"{what} {str(out)!r} is also an input ({str(given)!r}); "
                                     f"writing it would destroy that input: choose another path")


def default_cache_dir() -> Path:
    """Where spoofscan keeps what it fetches or builds once (Debian packages, trained vocoders,
    encoder weights): ``$SPOOFSCAN_CACHE``, else ``$XDG_CACHE_HOME/spoofscan``, else ``~/.cache/spoofscan``."""
    if os.environ.get("SPOOFSCAN_CACHE"):
        return Path(os.environ["SPOOFSCAN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spoofscan"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, hex, read ``chunk`` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
