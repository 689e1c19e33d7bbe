"""Real speech for the offline corpus: openly licensed recordings in Debian packages, and your folders.

One module per source, as lhotse has one per recipe: each defines ``SOURCE``, a :class:`Source`
that names the Debian packages it needs (fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into a cache, nothing installed), finds its clips in them as :class:`RealClip`
records, and says whom to credit under which licence and how the recordings were made.
:data:`SOURCES` lists them in a fixed order (the corpus's choice of clips depends on it).

============  =================================================================  ==========
source        what                                                               languages
============  =================================================================  ==========
tuxpaint      Tux Paint's spoken stamp descriptions (volunteers)                 13
ktuberling    KTuberling's words (KDE translators)                               23
asterisk      Asterisk's telephone prompts (studio voice talent, G.722)          5
fillets       Fish Fillets NG's dialogue (1998 Czech studio dub, Dutch dub)      2
warzone2100   Warzone 2100's game messages (11 kHz radio-style voices)           1
hedgewars     Hedgewars' voice packs (home and USB-microphone recordings)        5
kajongg       Kajongg's calls (quiet home recordings)                            2
megaglest     MegaGlest's unit voices (amateur 8/16-bit recordings)              1
gcin          gcin's Mandarin syllables (one voice)                              1
nexuiz        Nexuiz's team-chat voices                                          1
pocketsphinx  pocketsphinx's test data (LibriVox read speech, test recordings)   1
============  =================================================================  ==========
"""

from . import (asterisk, fillets, gcin, hedgewars, kajongg, ktuberling, megaglest, nexuiz, pocketsphinx, tuxpaint,
               warzone2100)
from .base import CODECS, RealClip, Source, read_real
from .folder import find_real_dir
from .packages import extract_members, fetch_package, package_version

SOURCES = {m.SOURCE.name: m.SOURCE for m in (tuxpaint, ktuberling, asterisk, fillets, warzone2100, hedgewars, kajongg,
                                             megaglest, gcin, nexuiz, pocketsphinx)}

__all__ = ["CODECS", "SOURCES", "RealClip", "Source", "extract_members", "fetch_package",
           "find_real_dir", "package_version", "read_real"]
