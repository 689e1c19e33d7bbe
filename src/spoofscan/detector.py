"""The detector interface: audio in, ``score`` / ``p_fake`` / ``label`` / ``timeline`` out.

This file is torch-free. :class:`Detector` does everything that does not depend on the
backend: decoding (streamed, so a one-hour file keeps memory flat), cutting the clip into
windows that cover every sample, batching windows (across files too), calibration and
aggregation. A backend only implements :meth:`Detector.window_scores`:
:class:`spoofscan.inference.TorchDetector` (PyTorch checkpoints) and the ONNX runtime.

Clip verdict: the clip ``score`` is the mean of its window scores (logits, higher = more
bona fide); ``p_fake`` is the calibrated probability of that score and ``label`` is
``fake`` when ``p_fake >= threshold``. Each window's own score and p_fake are in ``timeline``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from .audio import MIN_SECONDS, AudioSource, prepare_waveform, source_name, stream_audio
from .calibration import Calibration
from .dsp import FeatureConfig, repeat_pad
from .errors import SpoofscanError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".mp4", ".webm",
                    ".wma", ".aif", ".aiff", ".au", ".amr", ".3gp", ".mka", ".oga")


@dataclass(frozen=True)
class WindowResult:
    """One analysis window: times in seconds of the original clip."""

    start: float
    end: float
    score: float
    p_fake: float


@dataclass(frozen=True)
class Prediction:
    """The verdict on one clip. ``label`` is ``real`` or ``fake``; ``duration`` in seconds."""

    source: str
    score: float
    p_fake: float
    label: str
    duration: float
    timeline: tuple
    ok: bool = True

    def to_dict(self, timeline: bool = True) -> dict:
        d = asdict(self)
        if not timeline:
            d.pop("timeline")
        return d


@dataclass(frozen=True)
class Failure:
    """A clip that could not be scored, and why."""

    source: str
    error: str
    ok: bool = False

    def to_dict(self, timeline: bool = True) -> dict:
        return asdict(self)


class Detector:
    """Backend-independent prediction. Subclasses implement :meth:`window_scores`.

    Parameters
    ----------
    features : the feature config the model was trained with (window length included)
    calibration : maps scores to p_fake
    threshold : p_fake at or above which a clip is labelled fake
    batch_size : windows per forward pass
    max_seconds : longest accepted input (None: no limit); min_seconds: shortest
    card : the checkpoint card, kept for ``info`` and the service
    """

    def __init__(self, features: FeatureConfig, calibration: Calibration, *, threshold: float = 0.5,
                 batch_size: int = 32, max_seconds: float | None = None, min_seconds: float = MIN_SECONDS,
                 card: dict | None = None):
        self.features = features
        self.calibration = calibration
        self.threshold = threshold
        self.batch_size = batch_size
        self.max_seconds = max_seconds
        self.min_seconds = min_seconds
        self.card = card or {}

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        """Score a batch of windows: (batch, window_samples) float32 16 kHz -> (batch,) float32."""
        raise NotImplementedError

    # ------------------------------------------------------------------ public API

    def predict(self, audio: Union[AudioSource, np.ndarray], sample_rate: int | None = None, *,
                name: str | None = None) -> Prediction:
        """Score one clip: a path, bytes, a binary file object, or a waveform array with its rate.

        Raises :class:`~spoofscan.errors.AudioError` for bad input.
        """
        results = list(self._run([(audio, sample_rate, name)], raise_errors=True))
        return results[0]

    def predict_many(self, sources: Iterable[AudioSource]) -> Iterator[Union[Prediction, Failure]]:
        """Score many clips, in order, batching windows across clips.

        Yields a :class:`Prediction` per clip, or a :class:`Failure` naming the clip and the
        reason when it cannot be read; the other clips are still scored.
        """
        return self._run(((s, None, None) for s in sources), raise_errors=False)

    def predict_arrays(self, arrays: Iterable[tuple[str, np.ndarray]], sample_rate: int
                       ) -> Iterator[Union[Prediction, Failure]]:
        """Score many in-memory waveforms, in order, batching windows across them.

        The array twin of :meth:`predict_many` (same windowing, batching, calibration and
        aggregation): ``arrays`` yields ``(name, waveform)`` pairs, each waveform of shape
        (samples,) or (samples, channels) at ``sample_rate`` Hz, consumed lazily. Yields a
        :class:`Prediction` (``source`` = the name) or a :class:`Failure` per waveform.
        """
        return self._run(((x, sample_rate, name) for name, x in arrays), raise_errors=False)

    # ------------------------------------------------------------------ the clip seam
    # ``open_clip`` + ``finish`` are what every way of scoring shares (``predict_many`` here, the
    # web service's cross-request batcher): decoding, windowing and aggregation exist once.

    def open_clip(self, audio: Union[AudioSource, np.ndarray], sample_rate: int | None = None,
                  name: str | None = None) -> tuple["Clip", Iterator[np.ndarray]]:
        """Start scoring one clip: its :class:`Clip` record and an iterator over its windows.

        The iterator decodes lazily and yields float32 windows of shape (window_samples,) at
        16 kHz; as it goes it appends each window's start (in samples) to ``clip.starts`` and
        a ``None`` placeholder to ``clip.scores``, and sets ``clip.samples`` and ``clip.done``
        when the audio ends. Bad input raises :class:`~spoofscan.errors.SpoofscanError` from
        the iterator. Put the window scores into ``clip.scores`` and call :meth:`finish`.
        """
        label = name or (source_name(audio) if not isinstance(audio, np.ndarray) else "<array>")
        clip = Clip(label)
        win, hop = self.features.window_samples, self.features.hop_samples

        def windows() -> Iterator[np.ndarray]:
            for start, window in _iter_windows(self._blocks(audio, sample_rate, name), win, hop, clip):
                clip.starts.append(start)
                clip.scores.append(None)
                yield window
            clip.done = True

        return clip, windows()

    def finish(self, clip: "Clip") -> Union[Prediction, Failure]:
        """The verdict on a clip whose windows have all been scored (or its Failure)."""
        if clip.failure is not None:
            return clip.failure
        rate = self.features.sample_rate
        win = self.features.window_samples
        total = clip.samples
        scores = np.asarray(clip.scores, dtype=np.float64)
        p = self.calibration.p_fake(scores)
        timeline = tuple(
            WindowResult(round(s / rate, 3), round(min(s + win, total) / rate, 3), float(sc), float(pf))
            for s, sc, pf in zip(clip.starts, scores, p))
        score = float(scores.mean())
        p_fake = float(self.calibration.p_fake(score))
        return Prediction(source=clip.source, score=score, p_fake=p_fake,
                          label="fake" if p_fake >= self.threshold else "real",
                          duration=round(total / rate, 3), timeline=timeline)

    # ------------------------------------------------------------------ machinery

    def _blocks(self, audio, sample_rate, name) -> Iterator[np.ndarray]:
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise SpoofscanError("predict(array) needs sample_rate= (the array's rate in Hz)")
            yield prepare_waveform(audio, sample_rate, min_seconds=self.min_seconds,
                                   max_seconds=self.max_seconds, name=name or "<array>")
        else:
            yield from stream_audio(audio, min_seconds=self.min_seconds, max_seconds=self.max_seconds, name=name)

    def _run(self, items, raise_errors: bool) -> Iterator[Union[Prediction, Failure]]:
        """Stream windows of successive clips into shared batches; yield results in input order."""
        pending: list[Clip] = []  # finished or in-progress clips awaiting scores, in input order
        batch: list[np.ndarray] = []
        owners: list[tuple[Clip, int]] = []  # (clip, index of the window in the clip)

        def flush():
            if batch:
                scores = self.window_scores(np.stack(batch))
                for (clip, i), s in zip(owners, scores):
                    clip.scores[i] = float(s)
                batch.clear()
                owners.clear()

        def ready():
            while pending and (pending[0].failure or pending[0].scored):
                yield self.finish(pending.pop(0))

        for audio, sample_rate, name in items:
            clip, windows = self.open_clip(audio, sample_rate, name)
            pending.append(clip)
            try:
                for window in windows:
                    batch.append(window)
                    owners.append((clip, len(clip.scores) - 1))
                    if len(batch) >= self.batch_size:
                        flush()
                        yield from ready()
            except SpoofscanError as e:
                if raise_errors:
                    raise
                clip.failure = Failure(clip.source, str(e.reason if hasattr(e, "reason") else e))
                # drop this clip's windows still waiting in the batch
                keep = [k for k, (c, _) in enumerate(owners) if c is not clip]
                batch[:] = [batch[k] for k in keep]
                owners[:] = [owners[k] for k in keep]
            yield from ready()
        flush()
        yield from ready()


@dataclass
class Clip:
    """A clip being scored (see :meth:`Detector.open_clip`): window starts in samples, their
    scores (``None`` until scored), the clip length in samples once decoded."""

    source: str
    starts: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    samples: int = 0
    done: bool = False
    failure: Optional[Failure] = None

    @property
    def scored(self) -> bool:
        """Decoded to the end and every window scored: ready for :meth:`Detector.finish`."""
        return self.done and None not in self.scores


def _iter_windows(blocks: Iterator[np.ndarray], win: int, hop: int, clip: "Clip") -> Iterator[tuple[int, np.ndarray]]:
    """Cut a stream of blocks into windows at the positions :func:`spoofscan.dsp.window_starts` gives.

    Keeps at most one block plus one window in memory. A stream shorter than one window
    yields a single repeat-padded window. Sets ``clip.samples`` to the stream length.
    """
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # absolute index of buf[0]
    next_start = 0
    last_end = 0  # end of the last window yielded
    for block in blocks:
        buf = np.concatenate([buf, block]) if len(buf) else block
        while next_start + win <= buf_start + len(buf):
            s = next_start - buf_start
            yield next_start, buf[s:s + win]
            last_end = next_start + win
            next_start += hop
        total = buf_start + len(buf)
        keep_from = max(buf_start, min(next_start, total - win))  # the tail window may need the last `win` samples
        buf = buf[keep_from - buf_start:]
        buf_start = keep_from
    total = buf_start + len(buf)
    clip.samples = total
    if last_end == 0:  # shorter than one window
        yield 0, repeat_pad(buf, win)
    elif last_end < total:
        yield total - win, buf[len(buf) - win:]


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Expand folders (see :func:`audio_files`) and glob patterns; keep plain paths as given.

    A path that does not exist is kept, so that the caller reports it as a failure.
    """
    out: list[str] = []
    for item in inputs:
        if any(ch in item for ch in "*?["):
            out.extend(sorted(glob.glob(item, recursive=True)))
        elif os.path.isdir(item):
            out.extend(str(p) for p in audio_files(Path(item)))
        else:
            out.append(item)
    return out


def audio_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` by extension (:data:`AUDIO_EXTENSIONS`), recursive and
    sorted, skipping hidden files and folders (such as macOS ``._x.wav`` resource forks)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                found.append(Path(dirpath) / name)
    return found
