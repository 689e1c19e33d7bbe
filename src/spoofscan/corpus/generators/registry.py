"""The registry of built-in generator configurations: each engine module registers its own.

An engine module ends with ``register([...its configurations...], roles={...})``: the
configurations it offers, and for some of them their role in the default corpus (``train``:
train and dev fakes; ``eval``: eval fakes only, never seen in training). Everything that lists
generators reads this registry: :func:`builtin_generators`, the default generator lists of the
corpus sizes (:func:`default_generators`) and ``spoofscan corpus generators``
(:func:`describe_generators`).

The engine modules are imported here, on first use; every list goes by engine module in the
order of :data:`ENGINE_MODULES`, then in the module's own order: the order of registration,
and for the default lists the order of its ``roles`` mapping. The default lists' order decides
which configuration a pair draws, so it is part of what a corpus is. Importing an engine
module needs none of the optional packages its engine runs on.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from ...errors import SpoofscanError, choice_error
from .base import Generator

ENGINE_MODULES = ("espeak", "flite", "world", "mlsa", "lpc", "hnm", "pvoc", "neural_vocoder", "pico",
                  "pretrained_vocoder", "neural_tts")  # built-in engines, in the order of the default lists
ROLES = ("train", "eval")


@dataclass(frozen=True)
class Registration:
    """One built-in configuration and its role in the default corpus (None: listed, not used by default)."""

    generator: Generator
    role: Optional[str]
    rank: int  # its place in the module's roles mapping (the order of the default lists)
    module: str  # the engine module that registered it (one of ENGINE_MODULES)


_REGISTRY: dict = {}  # name -> Registration (in the order the modules happened to be imported: see registrations)


def register(generators: Iterable[Generator], roles: Mapping[str, str] | None = None) -> None:
    """Register an engine module's configurations; ``roles`` maps some of their names to ``train`` or
    ``eval``, in the order the default lists take them.

    Raises SpoofscanError for a name registered twice, a role given to a name not in
    ``generators``, or a role other than ``train`` and ``eval``.
    """
    generators = list(generators)
    roles = dict(roles or {})
    ranks = {name: i for i, name in enumerate(roles)}
    names = {g.name for g in generators}
    for name, role in roles.items():
        if name not in names:
            raise choice_error("generator to give a role", name, sorted(names))
        if role not in ROLES:
            raise choice_error(f"role of generator {name}", role, ROLES)
    for g in generators:
        if g.name in _REGISTRY:
            raise SpoofscanError(f"generator {g.name} is registered twice")
        module = type(g).__module__.rsplit(".", 1)[-1]
        _REGISTRY[g.name] = Registration(g, roles.get(g.name), ranks.get(g.name, len(ranks)), module)


def registrations() -> list:
    """Every :class:`Registration`: by engine module in the order of :data:`ENGINE_MODULES` (modules
    outside it last), then in each module's order of registration."""
    for module in ENGINE_MODULES:
        importlib.import_module(f"{__package__}.{module}")  # registers its configurations on first import
    return sorted(_REGISTRY.values(), key=_module_order)  # a stable sort: registration order within a module


def _module_order(r: Registration) -> int:
    return ENGINE_MODULES.index(r.module) if r.module in ENGINE_MODULES else len(ENGINE_MODULES)


def builtin_generators() -> dict:
    """Every built-in generator configuration, by name (in registry order)."""
    return {r.generator.name: r.generator for r in registrations()}


def default_generators(role: str) -> tuple:
    """The names of the built-in configurations whose default role is ``role`` (``train`` or ``eval``):
    the generator lists of the ``small`` and ``full`` corpora. By engine module (:data:`ENGINE_MODULES`),
    then in the order of the module's ``roles`` mapping."""
    if role not in ROLES:
        raise choice_error("generator role", role, ROLES)
    chosen = sorted((r for r in registrations() if r.role == role), key=lambda r: (_module_order(r), r.rank))
    return tuple(r.generator.name for r in chosen)


def describe_generators(extra: dict | None = None) -> list:
    """One dict per generator configuration (built-in and ``extra``), sorted by name: ``name``,
    ``family``, ``needs``, ``available``, ``install`` (what to install when not available, else
    ``""``), ``licence``. What ``spoofscan corpus generators`` prints."""
    table = {**builtin_generators(), **(extra or {})}
    rows = []
    for name in sorted(table):
        g = table[name]
        ok = g.is_available()
        rows.append({"name": name, "family": g.family, "needs": g.needs_description, "available": ok,
                     "install": "" if ok else g.missing_hint(), "licence": g.licence})
    return rows


def get_generator(name: str, extra: dict | None = None) -> Generator:
    """The generator called ``name``: a built-in or one of ``extra`` (name -> Generator)."""
    table = {**builtin_generators(), **(extra or {})}
    if name not in table:
        raise choice_error("generator", name, sorted(table))
    return table[name]
