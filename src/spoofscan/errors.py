"""The project's error types: one base class, one for bad audio input."""

from __future__ import annotations


class SpoofscanError(Exception):
    """Base class of every error spoofscan raises on purpose.

    The CLI prints these as one line (no traceback): the message always names the bad
    value and, where there is a closed set, the valid choices.
    """


class AudioError(SpoofscanError, ValueError):
    """Audio that cannot be used: names the source (file name or ``<bytes>``) and the reason."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


TORCH_MODULES = ("torch", "onnxscript")  # installed by the "torch" extra (pyproject.toml)


def missing_extra(e: ModuleNotFoundError) -> SpoofscanError | None:
    """The error to show when the torch extra is missing (None: ``e`` is about another module)."""
    if (e.name or "").split(".")[0] not in TORCH_MODULES:
        return None
    return SpoofscanError(f"this needs {e.name!r}, which is not installed: pip install 'spoofscan[torch]' "
                          f"(exported .onnx models run without it)")


def choice_error(what: str, value: object, choices) -> SpoofscanError:
    """Error for a value outside a closed set: ``unknown corpus 'x' (choose from: a, b)``."""
    return SpoofscanError(f"unknown {what} {value!r} (choose from: {', '.join(map(str, choices))})")


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, at most ``limit`` characters (its type's name
    when the message is empty): what an error of ours quotes of a third-party one."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__
