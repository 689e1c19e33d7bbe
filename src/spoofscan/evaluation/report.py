"""Writing reports: what the evaluation report, the robustness report and the shortcut audit share.

JSON files that never hold a NaN or Inf (:func:`write_json`), Markdown tables (:func:`table`),
percent and number cells, trial names quoted in messages (:func:`examples`), and the figures
(DET curve, score histograms, EER per channel condition), saved through
:func:`spoofscan.fileio.atomic_write` so that a report folder never holds half a file.
Each report module builds its report dict and its Markdown, and calls these to write them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import SpoofscanError
from ..fileio import atomic_write, atomic_write_text

EXAMPLES_SHOWN = 5  # trial names quoted in messages
FIGURE_DPI = 120
DET_TICKS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)  # error rates marked on the DET axes
HISTOGRAM_BINS = 60
FAMILY_COLUMN = "family"  # the robustness plot draws one line per family when the records have them
MAX_PLOT_LINES = 10  # a column with more values than this is not drawn line by line


# ---------------------------------------------------------------------------- folders and JSON


def prepare_out_dir(out_dir: str | Path) -> Path:
    """The report folder, created if missing; an error if the path is a file."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SpoofscanError(f"--out {str(out_dir)!r} is a file; give a folder for the report")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpoofscanError(f"cannot create the report folder {str(out_dir)!r}: {e.strerror or e}") from None
    return out_dir


def write_json(report: dict, path: str | Path) -> None:
    """Write ``report`` as indented JSON (atomically); a NaN or Inf anywhere is an error naming
    where it is, and nothing is written."""
    try:
        text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    except ValueError:  # a NaN or Inf somewhere: never write one into a report
        where = _non_finite(report)
        raise SpoofscanError(f"the report holds a non-finite number at {where}; nothing written") from None
    atomic_write_text(path, text)


def _non_finite(value, at: str = "report") -> str:
    """The key path of the first NaN or Inf in a JSON-like value."""
    if isinstance(value, float) and not math.isfinite(value):
        return at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _non_finite(item, f"{at}[{key!r}]")
        if found:
            return found
    return ""


# ---------------------------------------------------------------------------- Markdown


def examples(items: Sequence) -> str:
    """The first :data:`EXAMPLES_SHOWN` items, comma-separated, with ``...`` when there are more."""
    shown = ", ".join(map(str, items[:EXAMPLES_SHOWN]))
    return shown + (", ..." if len(items) > EXAMPLES_SHOWN else "")


def percent(fraction: float | None, digits: int = 2) -> str:
    """``fraction`` as a percentage with ``digits`` decimals (no sign); ``-`` for None."""
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}"


def number(value: float | None, spec: str = ".4f") -> str:
    """``value`` formatted with ``spec``; ``-`` for None."""
    return "-" if value is None else format(value, spec)


def row(cells: Iterable) -> str:
    """One Markdown table row: ``| a | b |`` (an empty cell is ``| |``)."""
    return "|" + "".join(f" {cell} |" if cell != "" else " |" for cell in cells)


def table(header: Sequence, rows: Iterable[Sequence], align: str) -> list[str]:
    """A Markdown table as lines: the header, the rule (``align``: ``l`` or ``r`` per column), the rows."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    return [row(header), rule, *(row(cells) for cells in rows)]


# ---------------------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=FIGURE_DPI))
    plt.close(fig)


def _probit(p) -> np.ndarray:
    """Standard normal quantile, elementwise (stdlib NormalDist; p clipped into the open interval)."""
    from statistics import NormalDist

    inv = NormalDist().inv_cdf
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.array([inv(v) for v in p.ravel()]).reshape(p.shape)


def plot_det(bona: np.ndarray, spoof: np.ndarray, eer: float, path: str | Path) -> None:
    """DET curve (miss vs false alarm) on normal-deviate axes, with the EER point marked."""
    from .metrics import det_curve

    plt = _pyplot()
    frr, far, _ = det_curve(bona, spoof)
    # keep the corners of the staircase only: points where one of the two rates changes
    frr_moves = np.diff(frr) != 0  # each step moves FRR (a bona fide rejected) or FAR (a spoof)
    keep = np.ones(len(frr), dtype=bool)
    keep[1:-1] = frr_moves[:-1] != frr_moves[1:]
    ticks = np.array(DET_TICKS)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot(_probit(far[keep]), _probit(frr[keep]), lw=1.5, label="DET")
    ax.plot(_probit([eer]), _probit([eer]), "o", color="C3", label=f"EER {100 * eer:.2f} %")
    lo, hi = _probit([0.0005])[0], _probit([0.9])[0]
    ax.plot([lo, hi], [lo, hi], ":", color="grey", lw=0.8)
    ax.set_xticks(_probit(ticks))
    ax.set_xticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_yticks(_probit(ticks))
    ax.set_yticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("spoof accepted as bona fide (FAR, %)")
    ax.set_ylabel("bona fide rejected (FRR, %)")
    ax.set_title("DET curve")
    ax.grid(True, lw=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)


def plot_histograms(bona: np.ndarray, spoof: np.ndarray, threshold: float, path: str | Path) -> None:
    """Score histograms of the two classes (densities) with the EER threshold as a vertical line."""
    plt = _pyplot()
    both = np.concatenate([bona, spoof])
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(bona, bins=bins, density=True, alpha=0.55, color="C0", label=f"bona fide (real), n={bona.size}")
    ax.hist(spoof, bins=bins, density=True, alpha=0.55, color="C3", label=f"spoof (fake), n={spoof.size}")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"EER threshold {threshold:.4g}")
    ax.set_xlabel("score (higher = more bona fide)")
    ax.set_ylabel("density")
    ax.set_title("Score distributions")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_robustness(report: dict, path: str | Path) -> None:
    """EER (%) per condition of a robustness report: the pooled EER, and one line per family
    (else per generator, when there are at most :data:`MAX_PLOT_LINES`)."""
    plt = _pyplot()
    summary = report["summary"]
    names = list(report["conditions"])
    x = np.arange(len(names))

    def values(eers: dict) -> np.ndarray:
        return np.array([np.nan if eers.get(n) is None else 100 * eers[n] for n in names])

    groups = summary["groups"]
    column = FAMILY_COLUMN if groups.get(FAMILY_COLUMN) else next(
        (c for c in groups if c != FAMILY_COLUMN and 0 < len(groups[c]) <= MAX_PLOT_LINES), None)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.62 * len(names) + 2.5), 4.6))
    if column is not None:
        for k, (value, by_condition) in enumerate(groups[column].items()):
            ax.plot(x, values(by_condition["eer"]), "o-", lw=1.0, ms=3.5, alpha=0.8, color=f"C{k % 10}",
                    label=f"{column} {value}")
    ax.plot(x, values(summary["eer"]), "s-", lw=2.4, ms=6, color="black", label="pooled")
    if summary["mean_degraded_eer"] is not None:
        ax.axhline(100 * summary["mean_degraded_eer"], color="black", ls=":", lw=1,
                   label=f"pooled, mean of degraded ({100 * summary['mean_degraded_eer']:.1f} %)")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=40, ha="right")
    ax.set_ylabel("EER (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("EER under channel conditions")
    ax.grid(True, axis="y", lw=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save_figure(fig, path)
