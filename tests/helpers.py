"""What tests of several modules share that is not audio (tests/synth.py) nor a fixture
(tests/conftest.py): the tolerance of scores computed in other batches, a free port, Python
without some packages, the CLI's one-line usage errors, and a checkpoint with an edited card."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

# Scores of one clip computed in different batches (alone, or beside other clips' windows), with
# another thread count, in another process or by another backend build differ in the last float32
# digits: the convolutions sum in another order (e.g. -0.020980820 and -0.020980809 for one clip).
# 1e-5 relative is about 80 float32 steps, far below what any change to the model or the front end
# moves a score; 1e-6 absolute covers scores near 0. Exact equality is kept where the code promises
# it: the same samples in the same batches in one process, and seeded reruns and resumes.
BATCH_RTOL, BATCH_ATOL = 1e-5, 1e-6

# Written as sitecustomize.py into a folder put first on PYTHONPATH: every Python started with
# that path refuses to import the named packages, as where they are not installed.
_BLOCKER = '''
import sys


class _Blocked:
    """Refuse to import {names}, as on a machine where they are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Blocked())
'''


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_without(folder: Path, *packages: str, **variables: str) -> dict:
    """The environment of a Python in which ``packages`` (top-level names, e.g. ``"torch"``) cannot
    be imported: a sitecustomize.py written into ``folder`` blocks them. ``variables`` are added."""
    (Path(folder) / "sitecustomize.py").write_text(_BLOCKER.format(names=tuple(packages)))
    return dict(os.environ, **variables, PYTHONPATH=os.pathsep.join([str(folder)] + [p for p in sys.path if p]))


def run_without(folder: Path, args: list, packages: tuple = ("torch",), timeout: float = 120,
                **variables: str) -> subprocess.CompletedProcess:
    """``python ARGS`` with ``packages`` blocked (see :func:`env_without`); its output as text."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env_without(folder, *packages, **variables))


def one_line_error(capsys, argv: list) -> str:
    """Run the CLI, expect a usage error: exit 2 and exactly one line on standard error; return it."""
    from spoofscan.cli import main

    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def rewrite_card(src: Path, dst: Path, card_text: str, tensors: dict | None = None) -> Path:
    """Copy a checkpoint with another card text (and optionally other tensors), as a hand edit would."""
    from safetensors.numpy import load_file, save_file

    from spoofscan.checkpoint import CARD_KEY

    save_file(tensors if tensors is not None else load_file(str(src)), str(dst), metadata={CARD_KEY: card_text})
    return dst
