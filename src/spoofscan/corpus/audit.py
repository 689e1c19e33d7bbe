"""Shortcut audit: can one trivial number tell the real clips of a corpus from the fake ones?

A detector trained on a corpus where fake clips are, say, always shorter, quieter or
band-limited learns that and nothing else. The audit measures a handful of such numbers
per clip (:func:`measure_clip`) and, for each, the EER of a "classifier" that uses only
that number as its score (:func:`audit_records`). A number whose EER is below
:data:`FAIL_EER` (30 %) is a shortcut and fails the audit.

Both score directions are tried, because a shortcut may go either way (fakes longer or
shorter): the EER reported is ``min(EER(x), EER(-x))`` with the official ASVspoof EER of
:func:`spoofscan.evaluation.metrics.compute_eer`, so 50 % means no information and 0 % means the
number alone separates the classes perfectly. A split with fewer than :data:`MIN_CLIPS`
clips of either class is reported but not judged: with 6 clips per class a random number
reaches an EER under 30 % quite often.

Measures (on the decoded 16 kHz mono waveform):

- ``duration_s``: length in seconds;
- ``rms_dbfs``: RMS level in dB relative to full scale;
- ``rolloff_hz``: frequency below which 95 % of the long-term spectral energy lies;
- ``bandwidth_hz``: highest frequency whose long-term power is within 50 dB of the peak;
- ``leading_silence_s`` / ``trailing_silence_s``: time before the first / after the last
  20 ms frame within 35 dB of the loudest frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import SpoofscanError
from ..evaluation.report import percent, table, write_json
from ..fileio import atomic_write_text
from ..labels import BONAFIDE
from ..progress import progress_bar

FAIL_EER = 0.30  # a single-number classifier better than this (lower EER) is a shortcut
MIN_CLIPS = 50  # per class: below this a split's EERs are too noisy to judge (reported, never failed)
FRAME_SECONDS = 0.020  # frame length for silence detection
HOP_SECONDS = 0.010
SILENCE_TOP_DB = 35.0  # a frame quieter than the loudest by more than this is silence
ROLLOFF_FRACTION = 0.95
BANDWIDTH_TOP_DB = 50.0
SPECTRUM_NFFT = 512
LEVEL_FLOOR = 1e-10  # added before taking logs
MEASURES = {
    "duration_s": "duration (s)",
    "rms_dbfs": "RMS level (dBFS)",
    "rolloff_hz": "spectral roll-off 95 % (Hz)",
    "bandwidth_hz": "bandwidth at -50 dB (Hz)",
    "leading_silence_s": "leading silence (s)",
    "trailing_silence_s": "trailing silence (s)",
}
AUDIT_JSON = "shortcut_audit.json"
AUDIT_MD = "shortcut_audit.md"


# ---------------------------------------------------------------------------- measures


def frame_levels_db(x: np.ndarray, sample_rate: int = SAMPLE_RATE,
                    frame_seconds: float = FRAME_SECONDS, hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """RMS level of each frame in dB, shape (frames,); a clip shorter than one frame is one frame."""
    x = np.asarray(x, np.float32)
    frame = max(1, int(round(frame_seconds * sample_rate)))
    hop = max(1, int(round(hop_seconds * sample_rate)))
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    power = np.mean(x[idx].astype(np.float64) ** 2, axis=1)
    return 10.0 * np.log10(power + LEVEL_FLOOR)


def active_span(x: np.ndarray, sample_rate: int = SAMPLE_RATE, top_db: float = SILENCE_TOP_DB) -> tuple[int, int]:
    """(first, end) sample of the span from the first to the last frame within ``top_db`` of the loudest.

    ``x[first:end]`` is the clip without its leading and trailing silence.
    """
    levels = frame_levels_db(x, sample_rate)
    loud = np.flatnonzero(levels >= levels.max() - top_db)
    hop = int(round(HOP_SECONDS * sample_rate))
    frame = int(round(FRAME_SECONDS * sample_rate))
    first = int(loud[0]) * hop
    end = min(len(x), int(loud[-1]) * hop + frame)
    return first, max(end, first + 1)


def long_term_spectrum(x: np.ndarray, n_fft: int = SPECTRUM_NFFT) -> np.ndarray:
    """Mean power spectrum over Hann-windowed frames with 50 % overlap, shape (n_fft // 2 + 1,)."""
    x = np.asarray(x, np.float64)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    hop = n_fft // 2
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(n_fft)[None, :]
    return np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)


def measure_clip(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """Every audit measure of one waveform (float32 mono (samples,) at ``sample_rate`` Hz), see module doc."""
    x = np.asarray(x, np.float32)
    spectrum = long_term_spectrum(x)
    freqs = np.fft.rfftfreq(SPECTRUM_NFFT, 1.0 / sample_rate)
    cumulative = np.cumsum(spectrum)
    rolloff = freqs[int(np.searchsorted(cumulative, ROLLOFF_FRACTION * cumulative[-1]))]
    spectrum_db = 10 * np.log10(spectrum + LEVEL_FLOOR)
    above = np.flatnonzero(spectrum_db >= spectrum_db.max() - BANDWIDTH_TOP_DB)
    first, end = active_span(x, sample_rate)
    return {
        "duration_s": len(x) / sample_rate,
        "rms_dbfs": float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + LEVEL_FLOOR)),
        "rolloff_hz": float(rolloff),
        "bandwidth_hz": float(freqs[above[-1]]),
        "leading_silence_s": first / sample_rate,
        "trailing_silence_s": (len(x) - end) / sample_rate,
    }


# ---------------------------------------------------------------------------- audit


def single_number_eer(bona: np.ndarray, spoof: np.ndarray) -> tuple[float, str]:
    """EER of scoring by one number, in the better direction: ``(eer, "higher"|"lower")``.

    ``"higher"`` means higher values are called bona fide. ``eer`` = min(EER(x), EER(-x)),
    a fraction in [0, 0.5] up to ties (see the module docstring).
    """
    from ..evaluation.metrics import compute_eer

    up, _ = compute_eer(np.asarray(bona, float), np.asarray(spoof, float))
    down, _ = compute_eer(-np.asarray(bona, float), -np.asarray(spoof, float))
    return (up, "higher") if up <= down else (down, "lower")


@dataclass(frozen=True)
class AuditReport:
    """The audit of one or more splits.

    rows : one dict per (split, measure): ``split``, ``measure``, ``eer``, ``direction``,
        ``bonafide_median``, ``spoof_median``, ``judged`` (enough clips), ``passed``
    threshold : the EER below which a measure fails (fraction)
    counts : per split ``{"bonafide": n, "spoof": n}``
    min_clips : clips per class a split needs to be judged
    """

    rows: tuple
    threshold: float = FAIL_EER
    counts: dict = field(default_factory=dict)
    min_clips: int = MIN_CLIPS

    @property
    def passed(self) -> bool:
        return all(row["passed"] for row in self.rows)

    @property
    def unjudged(self) -> list:
        """Splits with too few clips to judge."""
        return list(dict.fromkeys(row["split"] for row in self.rows if not row.get("judged", True)))

    @property
    def failures(self) -> list:
        return [row for row in self.rows if not row["passed"]]

    def failure_summary(self) -> str:
        """The failed measures as ``MEASURE on SPLIT (EER %)``, comma-separated."""
        return ", ".join(f"{r['measure']} on {r['split']} ({percent(r['eer'], 1)} %)" for r in self.failures)

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "min_clips": self.min_clips, "passed": self.passed,
                "counts": self.counts, "rows": list(self.rows)}

    def table(self) -> str:
        """A Markdown table: one row per measure, one EER column per split."""
        splits = list(dict.fromkeys(row["split"] for row in self.rows))
        by = {(row["split"], row["measure"]): row for row in self.rows}
        rows = [[title, *(_cell(by.get((s, measure))) for s in splits)] for measure, title in MEASURES.items()]
        lines = table(["measure", *(f"EER {s} (real / fake median)" for s in splits)], rows, "l" * (1 + len(splits)))
        counts = ", ".join(f"{s}: {c['bonafide']} real + {c['spoof']} fake" for s, c in self.counts.items())
        lines.append("")
        lines.append(f"EER of a classifier that uses only that number (better of the two directions; "
                     f"50 % = no information). Fails below {percent(self.threshold, 0)} % (splits with at least "
                     f"{self.min_clips} clips per class; ? = fewer, not judged). Clips: {counts}.")
        return "\n".join(lines)


def _cell(row: dict | None) -> str:
    """One split's cell of the audit table: EER, verdict mark, the two medians."""
    if row is None:
        return ""
    mark = "" if row["passed"] else " FAIL"
    mark = mark if row.get("judged", True) else " ?"
    return f"{percent(row['eer'], 1)} %{mark} ({_fmt(row['bonafide_median'])} / {_fmt(row['spoof_median'])})"


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}"


def measure_records(records: Sequence, *, progress: bool = False) -> list[dict]:
    """:func:`measure_clip` of every record's audio, in order (a list of dicts)."""
    out = []
    for r in progress_bar(records, desc="measure", unit="clip", enabled=progress):
        out.append(measure_clip(load_audio(r.path)))
    return out


def audit_records(records: Sequence, *, split: str = "all", threshold: float = FAIL_EER,
                  min_clips: int = MIN_CLIPS, measures: list[dict] | None = None,
                  progress: bool = False) -> AuditReport:
    """Audit one set of records (both classes needed); ``split`` only names it in the report.

    ``measures`` (one :func:`measure_clip` dict per record) skips decoding when given.
    """
    measures = measures if measures is not None else measure_records(records, progress=progress)
    is_bona = np.array([r.label == BONAFIDE for r in records])
    if is_bona.all() or not is_bona.any():
        raise SpoofscanError(f"shortcut audit of {split}: needs real and fake clips "
                             f"(got {int(is_bona.sum())} real, {int((~is_bona).sum())} fake)")
    judged = bool(min(is_bona.sum(), (~is_bona).sum()) >= min_clips)
    rows = []
    for name in MEASURES:
        values = np.array([m[name] for m in measures], float)
        eer, direction = single_number_eer(values[is_bona], values[~is_bona])
        rows.append({"split": split, "measure": name, "eer": eer, "direction": direction,
                     "bonafide_median": float(np.median(values[is_bona])),
                     "spoof_median": float(np.median(values[~is_bona])), "judged": judged,
                     "passed": bool(eer >= threshold or not judged)})
    counts = {split: {"bonafide": int(is_bona.sum()), "spoof": int((~is_bona).sum())}}
    return AuditReport(tuple(rows), threshold, counts, min_clips)


def audit_corpus(corpus: str | Path, *, splits: Sequence[str] = ("train", "dev", "eval"),
                 threshold: float = FAIL_EER, min_clips: int = MIN_CLIPS, progress: bool = True,
                 write: bool = True) -> AuditReport:
    """Audit a corpus folder (its ``manifest.csv``) or a CSV manifest, split by split.

    Writes ``shortcut_audit.json`` and ``shortcut_audit.md`` beside the manifest when
    ``write``. Splits absent from the manifest are skipped; a manifest without a ``split``
    column is audited as one set called ``all``.
    """
    from ..datasets import load_csv_manifest
    from ..datasets.records import read_csv_table

    path = Path(corpus)
    manifest = path / "manifest.csv" if path.is_dir() else path
    if not manifest.is_file():
        raise SpoofscanError(f"no corpus manifest at {manifest} (build one with: spoofscan corpus build {path})")
    header, table_rows = read_csv_table(manifest)  # a file that is not UTF-8 CSV is one clear error
    rows: list = []
    counts: dict = {}
    if "split" in header:
        available = {(row.get("split") or "").strip() for row in table_rows}
        chosen = [s for s in splits if s in available] or sorted(available)
        for split in chosen:
            records = load_csv_manifest(manifest, split=split)
            part = audit_records(records, split=split, threshold=threshold, min_clips=min_clips, progress=progress)
            rows += part.rows
            counts.update(part.counts)
    else:
        part = audit_records(load_csv_manifest(manifest), threshold=threshold, min_clips=min_clips,
                             progress=progress)
        rows, counts = list(part.rows), part.counts
    report = AuditReport(tuple(rows), threshold, counts, min_clips)
    if write:
        write_audit(report, manifest.parent)
    return report


def write_audit(report: AuditReport, out_dir: str | Path) -> dict:
    """Write ``shortcut_audit.json`` and ``shortcut_audit.md`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / AUDIT_JSON, "markdown": out_dir / AUDIT_MD}
    write_json(report.to_dict(), paths["json"])
    verdict = "passed" if report.passed else "FAILED: " + report.failure_summary()
    atomic_write_text(paths["markdown"], f"# Shortcut audit\n\n{report.table()}\n\nResult: {verdict}.\n")
    return paths
