"""Native engines: import the compiled vocoder libraries (pysptk, pyworld) the same way, whatever
setuptools is installed.

pysptk 1.0.1 and pyworld 0.3.5 import ``pkg_resources`` when they load: pyworld to read its
own version, pysptk to locate an example audio file. setuptools 81+ no longer ships that
module. Rather than pin the build tool below 81 in our ``corpus`` extra (a downgrade in any
environment that already has a newer setuptools, for a module setuptools has deprecated), we
give those two imports a stand-in module that answers both calls from the standard library
(:mod:`importlib.metadata`, the module's folder). It is in ``sys.modules`` only for the
duration of the import, and only when the real ``pkg_resources`` is missing.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import types

OPTIONAL = ("pysptk", "pyworld")  # the libraries this loader is for


class _Distribution:
    """What ``pkg_resources.get_distribution(name)`` returns, as far as the libraries use it."""

    def __init__(self, name: str):
        self.project_name = name
        self.version = importlib.metadata.version(name)


def _resource_filename(module: str, resource: str) -> str:
    """A file beside ``module`` (a package or a plain module, as pkg_resources allows)."""
    return os.path.join(os.path.dirname(importlib.import_module(module).__file__), resource)


def _stand_in() -> types.ModuleType:
    module = types.ModuleType("pkg_resources",
                              "spoofscan's stand-in for the two pkg_resources calls pysptk/pyworld make")
    module.get_distribution = _Distribution
    module.resource_filename = _resource_filename
    return module


@functools.lru_cache(maxsize=None)
def import_optional(name: str):
    """Import ``pysptk`` or ``pyworld``; return the module, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            return None
    sys.modules["pkg_resources"] = _stand_in()
    try:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]  # half-imported by the failed attempt
        return importlib.import_module(name)
    except ImportError:
        return None
    finally:
        del sys.modules["pkg_resources"]


def have_module(name: str) -> bool:
    """Whether the optional package ``name`` can be used: ``pysptk`` and ``pyworld`` are imported
    (:func:`import_optional`: a broken build fails there), any other is only looked up (importing
    torch takes seconds)."""
    if name in OPTIONAL:
        return import_optional(name) is not None
    return importlib.util.find_spec(name) is not None
