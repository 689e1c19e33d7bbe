"""MegaGlest's unit acknowledgements (Debian package megaglest-data): short English lines."""

from __future__ import annotations

import re

from .base import RealClip, Source, has_frames

_LINE = re.compile(r"^(?P<unit>[a-z_]+?)_(?P<kind>ack|select)\d*$")
# units whose sounds are not a human voice, or may not be speech (creatures, machines, a genie)
_NOT_HUMAN = {"chicken", "sheep", "cow", "pig", "bull", "elephant", "ele", "beehive", "bee", "thunderbird", "eagle",
              "dragon", "evil_dragon", "behemoth", "wicker_behemoth", "daemon", "golem", "wild_sow", "eagle_pillar",
              "snake_basket", "flying_carpet", "airship", "ornithopter", "battle_machine", "catapult", "ram",
              "ghost_armor", "mummy", "horse", "tower", "minaret", "archmage_tower", "dragon_rider", "genie"}


def find_megaglest(roots: dict) -> list:
    """MegaGlest's acknowledgement and selection lines (``*_ack*``, ``*_select*``) of human units in
    ``techs/megapack``: "yes", "okay", "right away"... The speaker is faction and unit (one volunteer
    may voice several units). Battle cries, deaths, animals and monsters are left out; no texts."""
    tech = roots["megaglest-data"] / "usr/share/games/megaglest/techs/megapack"
    clips = []
    for path in sorted(tech.rglob("*")):
        if path.suffix.lower() not in (".wav", ".ogg") or "/sounds/" not in path.as_posix():
            continue
        m = _LINE.match(path.stem)
        rel = path.relative_to(tech).as_posix()
        parts = rel.split("/")  # factions/FACTION/units/UNIT/sounds/FILE, or commondata/sounds/UNIT_ack1.wav
        faction, unit = (parts[1], parts[3]) if parts[0] == "factions" else ("common", m.group("unit") if m else "")
        if not m or unit in _NOT_HUMAN or m.group("unit") in _NOT_HUMAN or not has_frames(path):
            continue
        clips.append(RealClip(f"megaglest/{rel}", "megaglest", str(path), f"megaglest-{faction}-{unit}", "en"))
    return clips


SOURCE = Source(
    "megaglest", ("megaglest-data",), find_megaglest,
    "MegaGlest: unit voices, short English lines (Debian package megaglest-data)",
    "CC-BY-SA-3.0 (see licenses/megaglest-data.copyright)",
    "MegaGlest data: Copyright 2001-2008 The Glest Team, 2008-2017 The MegaGlest Team (https://megaglest.org); "
    "factions by Titus Tscharntke, Philipp Tscharntke, Raphael Schröder and Jacob Vejvoda; unit voices by "
    "Titus Tscharntke's family, friends and neighbours.",
    chain="amateur home recordings of very mixed quality (8- and 16-bit WAV, 22-48 kHz)")
