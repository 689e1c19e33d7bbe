"""Named training recipes: one YAML file per recipe, read everywhere a recipe is used.

A recipe is a mapping of :class:`~spoofscan.training.TrainConfig` fields (model and augmentation by
preset name, features as a mapping of their fields), a ``description``, and optionally
``recipe: BASE``: the recipe it changes, whose fields it overrides (mappings such as ``features``
key by key). The quickstart's sizes, ``spoofscan train --recipe NAME``, training config files
(``recipe: quick`` in a YAML file, then the changes) and the experiments all read them here.

    >>> load_recipe("quick")["model"]
    'resnet18-half'
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from ..config import merge_mappings
from ..errors import SpoofscanError, choice_error

RECIPES_DIR = Path(__file__).resolve().parent
BASE_KEY = "recipe"  # the recipe a recipe (or a config file) changes
DESCRIPTION_KEY = "description"
MAX_DEPTH = 8  # recipes based on recipes, at most this deep (a loop is an error)


def recipe_names() -> tuple:
    """Every recipe's name, sorted."""
    return tuple(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))


@functools.lru_cache(maxsize=None)
def _read(name: str) -> dict:
    if name not in recipe_names():
        raise choice_error("recipe", name, recipe_names())
    data = yaml.safe_load((RECIPES_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SpoofscanError(f"recipe {name!r} ({RECIPES_DIR / name}.yaml) is not a mapping of TrainConfig fields")
    return data


def describe(name: str) -> str:
    """A recipe's description (one paragraph)."""
    return str(_read(name).get(DESCRIPTION_KEY, "")).strip()


def load_recipe(name: str) -> dict:
    """The TrainConfig fields of recipe ``name``, with its base recipes resolved (a new dict; no
    ``description`` or ``recipe`` key). Raises SpoofscanError naming the recipes for an unknown name."""
    chain, current = [], name
    while current:
        if current in chain or len(chain) >= MAX_DEPTH:
            raise SpoofscanError(f"recipe {name!r}: its bases loop or nest too deep ({' -> '.join(chain + [current])})")
        chain.append(current)
        current = _read(current).get(BASE_KEY)
    fields: dict = {}
    for recipe in reversed(chain):
        fields = merge_mappings(fields, {k: v for k, v in _read(recipe).items() if k not in (BASE_KEY, DESCRIPTION_KEY)})
    return fields

