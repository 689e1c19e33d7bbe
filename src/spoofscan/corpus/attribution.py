"""``ATTRIBUTION.md`` and ``licenses/``: whom a corpus credits, under which licences."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..fileio import atomic_write, atomic_write_text
from .config import CorpusConfig
from .sources import SOURCES, package_version

ATTRIBUTION = "ATTRIBUTION.md"
LICENSES = "licenses"  # the folder the packages' copyright files are copied into
ATTRIBUTION_HEAD = """# Attribution and licences

This corpus was made by spoofscan's corpus recipe (`spoofscan corpus build`) for training and
evaluating detectors of synthetic speech. It holds **modified** copies of the recordings below:
every clip was decoded, resampled to 16 kHz mono, trimmed, padded with silence, mixed with a
low noise floor, sometimes band-limited to telephone bandwidth and changed in level. The fake
clips are new recordings made by the speech engines listed further down, most of them saying
the transcripts of the real clips or resynthesising them.

Each source keeps its own licence; the full licence texts and copyright notices shipped with
the Debian packages are copied into `licenses/`. If you share this corpus or parts of it,
keep this file and `licenses/` with it, and share the clips derived from CC-BY-SA sources
under CC-BY-SA as well.
"""


def write_attribution(out: Path, cfg: CorpusConfig, roots: dict, generators: dict) -> None:
    """Write ``ATTRIBUTION.md`` and copy each package's Debian copyright file into ``licenses/``.

    roots : package -> its unpacked folder; generators : role -> the generators used
    """
    lines = [ATTRIBUTION_HEAD, "## Real speech\n"]
    for name in cfg.sources:
        src = SOURCES[name]
        versions = ", ".join(f"{p} {package_version(roots[p])}" for p in src.packages if p in roots)
        lines += [f"### {src.title}\n", f"- Licence: {src.licence}", f"- Credits: {src.credits}",
                  f"- Recorded: {src.chain}",
                  f"- Debian packages: {versions}", ""]
        for package in src.packages:
            copyright_file = roots[package] / "usr/share/doc" / package / "copyright"
            if copyright_file.is_file():
                atomic_write(out / LICENSES / f"{package}.copyright",
                             lambda tmp, source=copyright_file: shutil.copyfile(source, tmp))
    for folder in cfg.real_dirs:
        lines += [f"### Your recordings: {folder}\n", "- Licence and credits: as given by their owner.", ""]
    lines += ["## Synthetic speech engines\n"]
    engines = {g.engine: g.licence for gens in generators.values() for g in gens}
    lines += [f"- {engine}: {licence}" for engine, licence in sorted(engines.items())]
    lines += ["", "The texts the engines say are the transcripts of the real clips (same licences as above).", ""]
    atomic_write_text(out / ATTRIBUTION, "\n".join(lines))
