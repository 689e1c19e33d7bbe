"""Public corpora as plain :class:`Record` lists: one module per corpus, as lhotse has one per recipe.

A corpus is named on the command line by a data spec ``CORPUS:PATH[:SUBSET]``, read by
:func:`load_records`; :data:`CORPORA` lists the corpora, their subsets and layouts.

- :mod:`.records`: the :class:`Record`, the helpers every loader shares, :func:`summarize`;
- :mod:`.asvspoof2019`, :mod:`.asvspoof2021`, :mod:`.asvspoof5`, :mod:`.in_the_wild`,
  :mod:`.folder`, :mod:`.manifest`: one loader each;
- :mod:`.spec`: the registry and the data-spec parser.

Every loader returns records with the audio path, the label (``bonafide``/``spoof``) and
every grouping column its format has, so evaluation can break the EER down by any of them.
This package is torch-free.
"""

from .asvspoof5 import load_asvspoof5
from .asvspoof2019 import load_asvspoof2019_la
from .asvspoof2021 import load_asvspoof2021
from .folder import load_folder
from .in_the_wild import load_in_the_wild
from .manifest import load_csv_manifest
from .records import NOT_APPLICABLE, Record, check_audio, missing_audio, summarize
from .spec import CORPORA, Corpus, load_records, parse_spec, spec_help

__all__ = ["CORPORA", "NOT_APPLICABLE", "Corpus", "Record", "check_audio", "load_asvspoof2019_la", "load_asvspoof2021",
           "load_asvspoof5", "load_csv_manifest", "load_folder", "load_in_the_wild", "load_records", "missing_audio",
           "parse_spec", "spec_help", "summarize"]
