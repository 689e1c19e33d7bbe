"""Debian packages as a source of recordings: fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into a cache (nothing is installed), and zip archives inside them unpacked once."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Callable

from ...errors import SpoofscanError


def fetch_package(name: str, cache: Path, log: Callable[[str], None] = print) -> Path:
    """Download (``apt-get download``) and unpack (``dpkg-deb -x``) one Debian package into ``cache``.

    Returns the folder it is unpacked in (``cache/packages/NAME``). Both steps are skipped
    when already done; a ``.deb`` already in ``cache/debs`` is used as it is (copy one there
    by hand on a machine without apt). The ``.deb`` is deleted once unpacked.
    """
    debs = cache / "debs"
    root = cache / "packages" / name
    stamp = root / ".unpacked"
    if stamp.is_file():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        if shutil.which("apt-get") is None:
            raise SpoofscanError(
                f"cannot fetch the Debian package {name}: apt-get is not available on this machine. "
                "The built-in real speech comes from Debian packages: run this on Debian/Ubuntu (or in a "
                f"Debian container), or copy {name}_*.deb into {debs}, or use your own recordings with "
                "--real-dir DIR --sources none")
        log(f"downloading {name} (apt-get download) ...")
        done = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if done.returncode != 0 or not found:
            err = [line for line in done.stderr.splitlines() if not line.startswith("W:")]
            raise SpoofscanError(f"apt-get download {name} failed ({(err or ['no .deb written'])[-1].strip()}); "
                                 "try 'apt-get update' first, or use --real-dir DIR")
    if shutil.which("dpkg-deb") is None:
        raise SpoofscanError(f"cannot unpack {found[-1].name}: dpkg-deb is not available (install dpkg, or use "
                             "--real-dir)")
    log(f"unpacking {found[-1].name} ...")
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    done = subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SpoofscanError(f"dpkg-deb -x {found[-1].name} failed: {done.stderr.strip()[-300:]}")
    (tmp / ".unpacked").write_text(found[-1].name + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    found[-1].unlink()  # the unpacked copy is all later runs need
    return root


def package_version(root: Path) -> str:
    """The Debian version of an unpacked package, from the ``.deb`` name recorded at unpacking."""
    stamp = (root / ".unpacked").read_text().strip()
    parts = stamp[:-4].split("_")
    return parts[1].replace("%3a", ":") if len(parts) >= 3 else "unknown"


def extract_members(archive: Path, members: list, root: Path) -> Path:
    """Copy ``members`` of the zip ``archive`` (a game's data file) once into
    ``root/.extracted/ARCHIVE-NAME/``, so that every clip is a plain file; returns that folder.

    A member already there with the right size is not copied again; each copy appears whole
    (written beside, then renamed).
    """
    dest = root / ".extracted" / archive.name
    with zipfile.ZipFile(archive) as z:
        for member in members:
            out = dest / member
            if out.is_file() and out.stat().st_size == z.getinfo(member).file_size:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".partial")
            tmp.write_bytes(z.read(member))
            tmp.rename(out)
    return dest
