"""Measuring a detector: the official metrics, the evaluation report, the robustness report.

- :mod:`.metrics`: EER exactly as the ASVspoof scorers compute it, minDCF, actDCF, Cllr, t-DCF;
- :mod:`.evaluate`: score a protocol (or read a score file) and report every metric, overall
  and per group;
- :mod:`.robustness`: the same under codecs, phone lines, noise and rooms.
"""
