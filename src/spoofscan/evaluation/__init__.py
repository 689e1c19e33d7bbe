"""Measuring a detector: the official metrics, the evaluation report, the robustness report.

- :mod:`.metrics`: EER exactly as the ASVspoof scorers compute it, minDCF, actDCF, Cllr, t-DCF;
- :mod:`.scores`: score files (read and written) and pairing scores with a protocol;
- :mod:`.report`: what the reports share: JSON without NaN, Markdown tables, the plots;
- :mod:`.evaluate`: score a protocol (or read a score file) and report every metric, overall
  and per group;
- :mod:`.partial`: partly fake clips: segment EERs at 20 ms and window resolution, boundary
  precision and recall, the segment verdict's clip EER;
- :mod:`.conditions`: the channel conditions (augmentation effects with fixed settings) and
  scoring a detector under them;
- :mod:`.robustness`: the evaluation report under codecs, phone lines, noise and rooms.
"""
