"""The offline real-vs-fake corpus: real speech sources, fake-speech generators, the build, the audit.

- :mod:`.config`: ``CorpusConfig`` (what a corpus depends on) and the ``--size`` presets;
- :mod:`.sources`: openly licensed real speech from Debian packages and your own folders;
- :mod:`.generators`: the fake-speech engines (one plug-in interface, a registry of built-ins);
- :mod:`.builder`: ``build_corpus(CorpusConfig.from_dict({...}))`` (``plan_corpus``: what it would make),
  the order of the build's steps:
  :mod:`.plan` (clips, splits, pairs), :mod:`.vocoder_jobs` (the neural vocoders it trains),
  :mod:`.process` (one pair's audio, neutralised), :mod:`.workers` (the processes that make pairs),
  :mod:`.state` (idempotent reruns), :mod:`.manifest` (manifests, ``corpus.json``),
  :mod:`.attribution` (``ATTRIBUTION.md``, ``licenses/``);
- :mod:`.audit`: the shortcut audit (can one trivial number tell real from fake?).
"""

from ..fileio import default_cache_dir
from .attribution import ATTRIBUTION
from .builder import build_corpus, build_corpus_summary, plan_corpus
from .config import SIZES, CorpusConfig, load_corpus_config
from .manifest import MANIFEST, MANIFEST_COLUMNS, NO_GENERATOR, SPLITS, family_of, heldout_rows, write_heldout_manifest
from .process import CODECS, NO_CODEC, neutralise
from .sources import SOURCES, RealClip, fetch_package
from .state import BuildSummary, read_state

__all__ = ["ATTRIBUTION", "CODECS", "MANIFEST", "MANIFEST_COLUMNS", "NO_CODEC", "NO_GENERATOR", "SIZES", "SOURCES",
           "SPLITS", "BuildSummary", "CorpusConfig", "RealClip", "build_corpus", "build_corpus_summary",
           "default_cache_dir", "family_of", "fetch_package", "heldout_rows", "load_corpus_config", "neutralise",
           "plan_corpus", "read_state", "write_heldout_manifest"]
