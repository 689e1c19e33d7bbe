"""How good are a corpus's fakes? Two quality proxies per engine, measured against the real clips.

A detector that has only seen poor fakes learns "poor = fake"; these numbers say how close each
engine of a built corpus comes to the real speech it imitates:

- **DNSMOS** (Microsoft's non-intrusive speech-quality estimator, ITU-T P.835 scale 1-5: ``sig``
  the speech signal, ``bak`` the background, ``ovrl`` overall), on the fake clips and on the real
  clips they pair with. No reference is needed, so it rates text-to-speech and copy-synthesis
  alike; a family whose score sits at the reals' is one a listener would not mark down. It runs
  the ONNX model shipped in the ``speechmos`` wheel (MIT licence) with ONNX Runtime; without that
  wheel the column is left empty.
- **MCD** (mel-cepstral distortion, dB), between a fake and the real clip of its pair after
  dynamic time warping: 24 cepstral coefficients (c1-c24, the DCT of an 80-band log-mel
  spectrum, 25-ms frames every 10 ms) of the active part of each clip (leading and trailing
  silence trimmed), ``10 / ln 10 * sqrt(2 * sum (c - c')^2)`` per aligned frame pair, averaged
  along the path. For copy-synthesis it measures the copy's fidelity (same voice, same timing);
  for text-to-speech it also holds the difference of voice, so compare TTS engines with each
  other, not with the copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import SpoofscanError
from ..labels import BONAFIDE
from ..progress import progress_bar
from .audit import active_span
from .manifest import family_of

N_CEPSTRA = 24  # c1..c24 (c0, the level, is left out, as MCD always does)
MEL_BANDS = 80
FRAME = 400  # samples (25 ms at 16 kHz)
HOP = 160  # samples (10 ms)
MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)  # dB per unit of natural-log cepstral distance
DNSMOS_SECONDS = 9.01  # the model's input length; shorter clips are repeated to reach it
DNSMOS_HOP_SECONDS = 1.0
# DNSMOS P.835 raw outputs -> MOS, the polynomial fits published with the model (not personalised)
DNSMOS_FITS = {"sig": (-0.08397278, 1.22083953, 0.0052439), "bak": (-0.13166888, 1.60915514, -0.39604546),
               "ovrl": (-0.06766283, 1.11546468, 0.04602535)}
QUALITY_COLUMNS = ("group", "kind", "clips", "dnsmos_sig", "dnsmos_ovrl", "mcd_db")


# ---------------------------------------------------------------------------- MCD

def mel_cepstra(x: np.ndarray) -> np.ndarray:
    """(samples,) float32 at 16 kHz -> (frames, 24): c1..c24 of the 80-band log-mel amplitude (natural log)."""
    from scipy.fft import dct

    from ..frontend import FeatureConfig
    from ..frontend.numpy import frontend

    cfg = FeatureConfig(frontend="logmel", n_fft=FRAME, win_length=FRAME, hop_length=HOP, n_mels=MEL_BANDS,
                        fmin=0.0, fmax=SAMPLE_RATE / 2, normalize="none")
    logmel = frontend(x[None], cfg)[0, 0].T  # (frames, bands)
    # the cosine series of the log amplitude, c_d = 2/N sum_n x_n cos(pi d (n + 1/2) / N), as a mel-cepstrum
    return dct(0.5 * logmel, type=2, axis=1)[:, 1:N_CEPSTRA + 1] / MEL_BANDS


def dtw_mean_cost(cost: np.ndarray) -> float:
    """Mean local cost along the cheapest monotonic path through ``cost`` (n, m) from (0, 0) to
    (n-1, m-1): steps (1, 0) and (0, 1) weigh 1, a diagonal step 2 (Sakoe and Chiba's symmetric
    form), so every path weighs n + m and the total divided by n + m is a mean.

    One row at a time: with ``E[j] = min(D[i-1, j] + c[i, j], D[i-1, j-1] + 2 c[i, j])`` (the
    vertical and diagonal steps), the horizontal steps give
    ``D[i, j] = C[j] + min_{k<=j} (E[k] - C[k])``, ``C`` the row's running sum of costs.
    """
    n, m = cost.shape
    row = np.cumsum(cost[0]) + cost[0, 0]  # D[0, j]: the start weighs 2, then horizontal steps
    for i in range(1, n):
        c = cost[i]
        e = row + c
        e[1:] = np.minimum(e[1:], row[:-1] + 2 * c[1:])
        run = np.cumsum(c)
        row = run + np.minimum.accumulate(e - run)
    return float(row[-1] / (n + m))


def mcd_db(real: np.ndarray, fake: np.ndarray) -> float:
    """Mel-cepstral distortion (dB) between two 16 kHz clips after DTW, silences trimmed."""
    a = mel_cepstra(_trimmed(real))
    b = mel_cepstra(_trimmed(fake))
    dist = np.sqrt(np.sum(np.square(a[:, None, :] - b[None, :, :]), axis=-1))  # (frames_a, frames_b)
    return MCD_SCALE * dtw_mean_cost(dist)


def _trimmed(x: np.ndarray) -> np.ndarray:
    start, end = active_span(x)
    return x[start:end] if end - start >= FRAME else x


# ---------------------------------------------------------------------------- DNSMOS

class Dnsmos:
    """DNSMOS P.835 on 16 kHz audio: ``score(x) -> {"sig", "bak", "ovrl"}`` (MOS, 1-5).

    The clip is repeated until it lasts 9.01 s, cut into 9.01-s segments every second, and the
    segments' MOS averaged, as the model's authors do.
    """

    def __init__(self, model_path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def installed(cls) -> "Dnsmos | None":
        """The model from the ``speechmos`` wheel, or None when it is not installed."""
        import importlib.util

        spec = importlib.util.find_spec("speechmos")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models" / "sig_bak_ovr.onnx"
        return cls(path) if path.is_file() else None

    def score(self, x: np.ndarray) -> dict:
        need = int(DNSMOS_SECONDS * SAMPLE_RATE)
        x = np.asarray(x, np.float32)
        if len(x) == 0:
            raise SpoofscanError("DNSMOS of an empty clip")
        x = np.tile(x, -(-need // len(x)))  # repeat up to the model's length
        hop = int(DNSMOS_HOP_SECONDS * SAMPLE_RATE)
        starts = range(0, len(x) - need + 1, hop)
        raw = np.array([self.session.run(None, {self.input_name: x[None, s:s + need]})[0][0] for s in starts])
        mos = raw.mean(axis=0)  # (3,) sig, bak, ovrl before the fit (the fit is nearly linear)
        return {name: float(np.polyval(DNSMOS_FITS[name], value)) for name, value in zip(DNSMOS_FITS, mos)}


# ---------------------------------------------------------------------------- a corpus

@dataclass(frozen=True)
class QualityRow:
    """One engine (or ``real``) of a corpus: clips measured and the means of each proxy."""

    group: str
    kind: str
    clips: int
    dnsmos_sig: float | None
    dnsmos_ovrl: float | None
    mcd_db: float | None


def corpus_pairs(corpus: Path) -> list[tuple[dict, dict]]:
    """(real row, fake row) of every pair a corpus build made, from its ``build_state.jsonl``
    (rows as in the manifest, plus ``pair``); spliced clips, which are mostly real, are left out."""
    from .state import read_state

    pairs = []
    for entry in read_state(corpus).values():
        rows = entry.get("rows") or []
        real = next((r for r in rows if r["label"] == BONAFIDE), None)
        for fake in rows:
            if real is not None and fake["label"] != BONAFIDE and fake.get("kind") != "partial":
                pairs.append((real, fake))
    if not pairs:
        raise SpoofscanError(f"{corpus}: no built pairs in its build_state.jsonl (a folder spoofscan corpus build made)")
    return pairs


def measure_quality(corpus: str | Path, *, per_group: int = 30, group_by: str = "generator", seed: int = 0,
                    progress: bool = True) -> list[QualityRow]:
    """DNSMOS and MCD of up to ``per_group`` fakes of each engine (``group_by``: ``generator``, as
    ``espeak-ng/m3``, or ``family``), drawn at random with ``seed``, against their paired reals;
    the first row, ``real``, is DNSMOS of the real clips of every drawn pair."""
    if group_by not in ("generator", "family"):
        raise SpoofscanError(f"group_by {group_by!r}: choose generator or family")
    corpus = Path(corpus)
    rng = np.random.default_rng(seed)
    groups: dict = {}
    for real, fake in corpus_pairs(corpus):
        group = fake["generator"] if group_by == "generator" else family_of(fake["generator"])
        groups.setdefault((group, fake.get("kind", "")), []).append((real, fake))
    chosen = {key: [pairs[i] for i in sorted(rng.permutation(len(pairs))[:per_group])]
              for key, pairs in sorted(groups.items())}
    dnsmos = Dnsmos.installed()
    real_scores: dict = {}
    rows = []
    todo = sum(len(v) for v in chosen.values())
    with progress_bar(total=todo, desc="quality", unit="clip", enabled=progress) as bar:
        for (group, kind), pairs in chosen.items():
            sig, ovrl, mcd = [], [], []
            for real_row, fake_row in pairs:
                real = load_audio(corpus / real_row["path"])
                fake = load_audio(corpus / fake_row["path"])
                mcd.append(mcd_db(real, fake))
                if dnsmos is not None:
                    score = dnsmos.score(fake)
                    sig.append(score["sig"])
                    ovrl.append(score["ovrl"])
                    if real_row["trial"] not in real_scores:
                        real_scores[real_row["trial"]] = dnsmos.score(real)
                bar.update()
            rows.append(QualityRow(group, kind, len(pairs), _mean(sig), _mean(ovrl), _mean(mcd)))
    reals = list(real_scores.values())
    head = QualityRow("real", "-", len({p[0]["trial"] for v in chosen.values() for p in v}),
                      _mean([s["sig"] for s in reals]), _mean([s["ovrl"] for s in reals]), 0.0)
    return [head] + rows


def _mean(values: list) -> float | None:
    return float(np.mean(values)) if values else None


def quality_table(rows: list[QualityRow]) -> str:
    """A Markdown table of :func:`measure_quality`'s rows."""
    from ..evaluation.report import table

    def cell(v):
        return "-" if v is None else f"{v:.2f}"

    body = [[r.group, r.kind, str(r.clips), cell(r.dnsmos_sig), cell(r.dnsmos_ovrl), cell(r.mcd_db)] for r in rows]
    return "\n".join(table(["engine", "kind", "clips", "DNSMOS SIG", "DNSMOS OVRL", "MCD (dB)"], body, "llrrrr"))
