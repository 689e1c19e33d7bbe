"""Writing files safely: outputs appear whole or not at all, and never replace an input.

Every file spoofscan writes (checkpoints, exported models, score files, reports, plots,
``predict --output``) goes through :func:`atomic_write` or :func:`atomic_open`: the data is
written to a temporary file beside the target and renamed over it at the end, so a crash,
a full disk or Ctrl-C never leaves half a file, and the target is untouched until then. Only
regular files are replaced so: a device or a pipe is written straight into, a symbolic link
is followed to its file, anything else is refused (:func:`output_target`).
:func:`refuse_overwrite` is called before any work with the inputs of a command, so that an
output path naming one of them (``predict IN.flac -o IN.flac``) is an error, not data loss.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .errors import SpoofscanError

# A write that fails with one of these is the output's fault (disk full, file too large, quota,
# read-only file system, an I/O error), never a bug: one line naming the output, not a traceback.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS})


def output_target(path: str | Path) -> tuple[Path, bool]:
    """Where writing ``path`` goes, and whether straight into it (no temporary file, no rename).

    A regular file, or a name that does not exist yet, is replaced by renaming a temporary file
    over it; through a symbolic link, the file the link leads to is (the link is kept). A
    character device or a pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is written straight
    into: renaming over it would replace the device with a file. Anything else (a folder, a
    block device, a socket) is refused.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:  # a link loop, a folder that cannot be searched
        raise SpoofscanError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    if mode is None or stat.S_ISREG(mode):
        return (Path(os.path.realpath(path)) if os.path.islink(path) else path), False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return path, True
    what = "a folder; give a file name" if stat.S_ISDIR(mode) else \
        "not a regular file, a character device or a pipe: spoofscan writes nothing else"
    raise SpoofscanError(f"output {str(path)!r} is {what}")


@contextlib.contextmanager
def _write_errors(path: Path, errnos=WRITE_ERRNOS) -> Iterator[None]:
    """Turn a failed write (an ``OSError`` with one of ``errnos``, None: any) into a
    :class:`SpoofscanError` naming ``path``."""
    try:
        yield
    except OSError as e:
        if errnos is not None and e.errno not in errnos:
            raise
        raise SpoofscanError(f"cannot write {str(path)!r}: {e.strerror or e}") from None


def _temp_beside(path: Path) -> str:
    """A new empty temporary file in ``path``'s folder (created if missing); its name."""
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

    Missing parent folders are created. A device or a pipe is written straight into
    (:func:`output_target`). An ``OSError`` (permission, no space, a folder in the way)
    becomes a :class:`SpoofscanError` naming the path; ``path`` is then left as it was.
    """
    target, in_place = output_target(path)
    if in_place:
        with _write_errors(target, errnos=None):
            write(str(target))
        return
    tmp = _temp_beside(target)
    try:
        with _write_errors(Path(path), errnos=None):
            write(tmp)
        _publish(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator:
    """``open()`` a temporary file beside ``path``; it replaces ``path`` when the block ends
    without an exception, and is removed otherwise (``path`` is then left as it was).

    A device or a pipe is opened and written straight into (:func:`output_target`). A write
    that fails for want of room or rights (:data:`WRITE_ERRNOS`), in the block or when the
    file is closed, is a :class:`SpoofscanError` naming ``path``.
    """
    target, in_place = output_target(path)
    if in_place:
        with _write_errors(target, errnos=None):
            f = open(target, mode, **kwargs)
        with _write_errors(target), f:
            yield f
        return
    tmp = _temp_beside(target)
    try:
        with _write_errors(Path(path)), open(tmp, mode, **kwargs) as f:
            yield f
        _publish(tmp, target)
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
