"""The ``spoofscan`` command: a thin layer over the library.

Each subcommand parses its flags, calls one library function and prints. Errors the
project raises on purpose (:class:`~spoofscan.errors.SpoofscanError`) are printed as one
line and exit with status 2; no traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import SpoofscanError, missing_extra
from ..fileio import WRITE_ERRNOS
from ..version import __version__
from .corpus import add_corpus, add_quickstart
from .evaluate import add_evaluate, add_robustness
from .predict import add_info, add_predict
from .serve import add_serve
from .train import add_export, add_train, add_vocoder


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spoofscan", description="Tell real human speech from fake speech.")
    parser.add_argument("--version", action="version", version=f"spoofscan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_predict, add_info, add_train, add_evaluate, add_robustness, add_export, add_corpus,
                add_vocoder, add_quickstart, add_serve):
        add(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, not at exit: a full disk behind standard output is then one line too
        return status
    except SpoofscanError as e:
        print(f"spoofscan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional extra (torch, pyworld) that this install lacks
        error = missing_extra(e)
        if error is None:
            raise
        print(f"spoofscan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`spoofscan predict ... | head`): not an error of ours
        _drop_stdout()
        return 0
    except OSError as e:  # standard output on a full disk (`> /dev/full`), a file too large...
        if e.errno not in WRITE_ERRNOS:
            raise
        print(f"spoofscan {args.command}: error: cannot write {e.filename or 'to standard output'}: "
              f"{e.strerror}", file=sys.stderr)
        _drop_stdout()
        return 2


def _drop_stdout() -> None:
    """Send what standard output still holds to /dev/null, so that the flush at exit cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
