"""The offline real-vs-fake corpus: real speech sources, fake-speech generators, the builder, the audit.

- :mod:`.sources`: openly licensed real speech from Debian packages and your own folders;
- :mod:`.generators`: the fake-speech engines (one plug-in interface);
- :mod:`.builder`: ``build_corpus(CorpusConfig(...))``, pairs, neutralisation, splits, manifest;
- :mod:`.shortcuts`: the shortcut audit (can one trivial number tell real from fake?).
"""

from .builder import (ATTRIBUTION, CODECS, MANIFEST, MANIFEST_COLUMNS, NO_CODEC, NO_GENERATOR, SIZES, SPLITS,
                      BuildSummary, CorpusConfig, build_corpus, build_corpus_summary, load_corpus_config, neutralise,
                      read_state)
from .sources import SOURCES, RealClip, default_cache_dir, fetch_package

__all__ = ["ATTRIBUTION", "CODECS", "MANIFEST", "MANIFEST_COLUMNS", "NO_CODEC", "NO_GENERATOR", "SIZES", "SOURCES",
           "SPLITS", "BuildSummary", "CorpusConfig", "RealClip", "build_corpus", "build_corpus_summary",
           "default_cache_dir", "fetch_package", "load_corpus_config", "neutralise", "read_state"]
