"""The detector interface: audio in, ``score`` / ``p_fake`` / ``label`` / ``timeline`` out.

This file is torch-free. :class:`Detector` does everything that does not depend on the backend:
decoding (streamed, so a one-hour file keeps memory flat), cutting the clip into windows that
cover every sample, finding speech (:mod:`spoofscan.vad`), batching windows (across files too),
calibration and aggregation. A backend only implements :meth:`Detector.window_scores`:
:class:`spoofscan.backends.torch.TorchDetector` (PyTorch checkpoints) and the ONNX runtime. A
backend may also implement :meth:`Detector.span_scores`, which takes the windows as runs cut
from contiguous audio (:class:`~spoofscan.frontend.spans.WindowSpan`) so that its front end
computes the frames that overlapping windows share once per run (:mod:`spoofscan.frontend.spans`);
``predict``, ``predict_many`` and ``predict_arrays`` use it; its default calls ``window_scores``.

Clip verdict, with evidence only: a window *has speech* when the voice-activity detector finds
at least :data:`spoofscan.vad.MIN_SPEECH_SECONDS` of speech in it. The clip ``score`` is the
mean of the scores of its windows with speech (logits, higher = more bona fide); ``p_fake`` is
the calibrated probability of that score and ``label`` is ``fake`` when ``p_fake >=
threshold``, else ``partly fake`` when a run of its windows scores fake (the detector's
:class:`~spoofscan.segments.SegmentRule`; the runs are its ``segments``), else ``real``. A clip
in which no window has speech gets the label ``no speech`` and no score or p_fake (None);
windows without speech get none either. Every window keeps its ``speech`` share, the clip its own.

Nothing non-finite becomes a verdict: a window whose score is NaN or infinite (broken weights,
input the network cannot take) makes its clip a :class:`Failure`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from .audio import MIN_SECONDS, AudioSource, check_limits, prepare_waveform, source_name, stream_audio
from .calibration import Calibration
from .errors import AudioError, SpoofscanError, first_line
from .frontend.config import FeatureConfig
from .frontend.spans import WindowSpan, iter_spans
from .labels import BONAFIDE, HUMAN_LABEL, NO_SPEECH, PARTLY_FAKE, SPOOF
from .segments import SegmentRule, clip_label, find_segments
from .vad import MIN_SPEECH_SECONDS, SpeechActivity

REAL, FAKE = HUMAN_LABEL[BONAFIDE], HUMAN_LABEL[SPOOF]
LABELS = (REAL, FAKE, PARTLY_FAKE, NO_SPEECH)  # every label a Prediction can carry
PADDED_FRACTION = 0.5  # a clip shorter than this share of a window is flagged ``padded``
MAX_BATCH_SIZE = 4096  # windows per forward pass
MAX_THREADS = 1024


@dataclass(frozen=True)
class WindowResult:
    """One analysis window: times in seconds of the original clip.

    ``speech``: share of the window (of the clip, for a padded clip) where the voice-activity
    detector finds speech, 0..1. ``score`` and ``p_fake`` are None for a window without speech.
    """

    start: float
    end: float
    score: Optional[float]
    p_fake: Optional[float]
    speech: float


@dataclass(frozen=True)
class Prediction:
    """The verdict on one clip.

    label : ``real``, ``fake``, ``partly fake``, or ``no speech`` (then ``score`` and ``p_fake`` are None)
    score : mean score of the windows with speech, higher = more bona fide
    p_fake : calibrated probability of fake, in [0, 1]
    duration : seconds of audio
    speech : share of the clip in which speech was found, 0..1
    padded : the clip is shorter than half a window (:data:`PADDED_FRACTION`): the network saw
        it repeated at least twice over to fill one window, a weaker verdict
    timeline : one :class:`WindowResult` per window
    segments : the runs of fake windows (:class:`~spoofscan.segments.Segment`), () without speech
    """

    source: str
    score: Optional[float]
    p_fake: Optional[float]
    label: str
    duration: float
    speech: float
    padded: bool
    timeline: tuple
    segments: tuple = ()
    ok: bool = True

    def to_dict(self, timeline: bool = True, segments: bool = True) -> dict:
        dropped = {k for k, keep in (("timeline", timeline), ("segments", segments)) if not keep}
        return {k: v for k, v in asdict(self).items() if k not in dropped}


@dataclass(frozen=True)
class Failure:
    """A clip that could not be scored, and why."""

    source: str
    error: str
    ok: bool = False

    def to_dict(self, timeline: bool = True, segments: bool = True) -> dict:
        return asdict(self)


def check_threads(threads) -> int | None:
    """``threads`` as an int in 1..:data:`MAX_THREADS`, or None (the backend's default)."""
    if threads is None:
        return None
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or not 1 <= threads <= MAX_THREADS:
        raise SpoofscanError(f"threads must be a whole number in 1..{MAX_THREADS}, got {threads!r}")
    return int(threads)


class Detector:
    """Backend-independent prediction. Subclasses implement :meth:`window_scores`.

    Parameters
    ----------
    features : the feature config the model was trained with (window length included)
    calibration : maps scores to p_fake
    threshold : p_fake at or above which a clip is labelled fake, in [0, 1]
    segment_rule : how runs of fake windows make a clip ``partly fake`` (:mod:`spoofscan.segments`)
    batch_size : windows per forward pass, 1..:data:`MAX_BATCH_SIZE`
    max_seconds : longest accepted input (None: no limit); min_seconds: shortest
    card : the checkpoint card, kept for ``info`` and the service

    Raises :class:`SpoofscanError` for a setting out of its range (NaN included).
    """

    def __init__(self, features: FeatureConfig, calibration: Calibration, *, threshold: float = 0.5,
                 batch_size: int = 32, max_seconds: float | None = None, min_seconds: float = MIN_SECONDS,
                 card: dict | None = None, segment_rule: SegmentRule = SegmentRule()):
        if not isinstance(features, FeatureConfig) or not isinstance(calibration, Calibration) \
                or not isinstance(segment_rule, SegmentRule):
            raise SpoofscanError("a Detector needs a FeatureConfig, a Calibration and a SegmentRule")
        if not isinstance(threshold, (int, float, np.integer, np.floating)) or isinstance(threshold, bool) \
                or not 0.0 <= threshold <= 1.0:
            raise SpoofscanError(f"threshold must be a probability in [0, 1], got {threshold!r}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise SpoofscanError(f"batch size must be a whole number in 1..{MAX_BATCH_SIZE}, got {batch_size!r}")
        check_limits(min_seconds, max_seconds)
        self.features = features
        self.calibration = calibration
        self.threshold = float(threshold)
        self.batch_size = int(batch_size)
        self.max_seconds = max_seconds
        self.min_seconds = min_seconds
        self.card = card or {}
        self.segment_rule = segment_rule

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        """Score a batch of windows: (batch, window_samples) float32 16 kHz -> (batch,) float32.

        A backend returns NaN for a window it cannot score meaningfully (non-finite features).
        """
        raise NotImplementedError

    def span_scores(self, spans: list[WindowSpan]) -> np.ndarray:
        """Score the windows of runs of contiguous audio, in order: (total windows,) float32.

        The same scores as :meth:`window_scores` of the windows cut out (within float32
        rounding); the default does just that. A backend whose front end can compute the
        frames that overlapping windows share once overrides it.
        """
        return self.window_scores(np.concatenate([span.windows() for span in spans]))

    # ------------------------------------------------------------------ public API

    def predict(self, audio: Union[AudioSource, np.ndarray, tuple], sample_rate: int | None = None, *,
                name: str | None = None, score_no_speech: bool = False) -> Prediction:
        """Score one clip: a path, bytes, a binary file object, a waveform array with its
        ``sample_rate``, or an ``(array, sample_rate)`` pair.

        ``score_no_speech``: see :meth:`finish`. Raises :class:`~spoofscan.errors.AudioError`
        for bad input and :class:`~spoofscan.errors.SpoofscanError` when the model gives no
        finite score.
        """
        result = next(self._run([(audio, sample_rate, name)], raise_errors=True, score_no_speech=score_no_speech))
        if not result.ok:
            raise SpoofscanError(f"{result.source}: {result.error}")
        return result

    def predict_many(self, sources: Iterable, *, score_no_speech: bool = False) -> Iterator[Union[Prediction, Failure]]:
        """Score many clips, in order, batching windows across clips.

        ``sources`` holds paths, bytes, binary file objects or ``(array, sample_rate)`` pairs.
        Yields a :class:`Prediction` per clip, or a :class:`Failure` naming the clip and the
        reason when it cannot be read or scored; the other clips are still scored, whatever
        the error. ``score_no_speech``: see :meth:`finish`.
        """
        return self._run(((s, None, None) for s in sources), raise_errors=False, score_no_speech=score_no_speech)

    def predict_arrays(self, arrays: Iterable[tuple[str, np.ndarray]], sample_rate: int, *,
                       score_no_speech: bool = False) -> Iterator[Union[Prediction, Failure]]:
        """Score many in-memory waveforms, in order, batching windows across them.

        The array twin of :meth:`predict_many` (same windowing, batching, calibration and
        aggregation): ``arrays`` yields ``(name, waveform)`` pairs, each waveform of shape
        (samples,) or (samples, channels) at ``sample_rate`` Hz, consumed lazily. Yields a
        :class:`Prediction` (``source`` = the name) or a :class:`Failure` per waveform.
        ``score_no_speech``: see :meth:`finish`.
        """
        return self._run(((x, sample_rate, name) for name, x in arrays), raise_errors=False,
                         score_no_speech=score_no_speech)

    # ------------------------------------------------------------------ the clip seam
    # ``open_clip``, ``score_windows`` and ``finish`` are what every way of scoring shares (``predict_many``
    # here, the web service's cross-request batcher): decoding, windowing, voice activity, the retry of
    # windows one by one and aggregation exist once.

    def open_clip(self, audio: Union[AudioSource, np.ndarray, tuple], sample_rate: int | None = None,
                  name: str | None = None) -> tuple["Clip", Iterator[np.ndarray]]:
        """Start scoring one clip: its :class:`Clip` record and an iterator over its windows.

        The iterator decodes lazily and yields float32 windows of shape (window_samples,) at
        16 kHz; as it goes it appends each window's start (in samples) to ``clip.starts`` and a
        ``None`` to ``clip.scores``, and counts the samples decoded in ``clip.samples``; when the
        audio ends it sets the speech found per window (``clip.speech``, ``clip.voiced``) and in
        the clip (``clip.speech_fraction``), and ``clip.done``. Bad input raises
        :class:`~spoofscan.errors.SpoofscanError` from the iterator. Put the window scores
        into ``clip.scores`` and call :meth:`finish`.
        """
        clip, spans = self._open_spans(audio, sample_rate, name)

        def windows() -> Iterator[np.ndarray]:
            for span in spans:
                for start in span.starts:
                    clip.starts.append(span.offset + start)
                    clip.scores.append(None)
                    yield span.audio[start:start + span.window]

        return clip, windows()

    def _open_spans(self, audio, sample_rate, name) -> tuple["Clip", Iterator[WindowSpan]]:
        """:meth:`open_clip` by runs of windows: the clip and an iterator of :class:`WindowSpan`;
        whoever consumes it appends the window starts to ``clip.starts`` (and ``None`` to
        ``clip.scores``) before asking for the next span, as :meth:`open_clip` says."""
        label = name or ("<array>" if isinstance(audio, (np.ndarray, tuple)) else source_name(audio))
        clip = Clip(label)
        win, hop = self.features.window_samples, self.features.hop_samples

        def spans() -> Iterator[WindowSpan]:
            activity = SpeechActivity()

            def blocks() -> Iterator[np.ndarray]:
                for block in self._blocks(audio, sample_rate, name):
                    activity.feed(block)
                    clip.samples += len(block)
                    yield block

            yield from iter_spans(blocks(), win, hop)
            activity.finish()
            ends = [min(s + win, clip.samples) for s in clip.starts]
            clip.speech = [round(activity.fraction(s, e), 3) for s, e in zip(clip.starts, ends)]
            clip.voiced = [activity.seconds(s, e) >= MIN_SPEECH_SECONDS for s, e in zip(clip.starts, ends)]
            clip.speech_fraction = round(activity.fraction(0, clip.samples), 3)
            clip.done = True

        return clip, spans()

    def finish(self, clip: "Clip", *, score_no_speech: bool = False) -> Union[Prediction, Failure]:
        """The verdict on a clip whose windows have all been scored (or its Failure).

        A clip without speech gets the label ``no speech``; with ``score_no_speech`` it also
        gets a score and p_fake from all its windows (evaluation does this: the official
        scorers need a score for every trial). A non-finite window score makes a Failure.
        """
        if clip.failure is not None:
            return clip.failure
        rate = self.features.sample_rate
        win = self.features.window_samples
        total = clip.samples
        scores = np.asarray(clip.scores, dtype=np.float64)
        broken = np.flatnonzero(~np.isfinite(scores))
        if len(broken):
            at = clip.starts[broken[0]] / rate
            return Failure(clip.source, f"the model gave a non-finite score (NaN or Inf) for {len(broken)} window(s), "
                                        f"the first at {at:.2f} s: its weights or this input are broken; no verdict")
        voiced = np.asarray(clip.voiced, dtype=bool)
        has_speech = bool(voiced.any())
        used = voiced if has_speech else np.full(len(scores), score_no_speech)
        p = self.calibration.p_fake(scores)
        timeline = tuple(
            WindowResult(round(s / rate, 3), round(min(s + win, total) / rate, 3),
                         float(sc) if u else None, float(pf) if u else None, float(sp))
            for s, sc, pf, u, sp in zip(clip.starts, scores, p, used, clip.speech))
        score = p_fake = None
        if used.any():
            score = float(scores[used].mean())
            p_fake = float(self.calibration.p_fake(score))
        label, segments = NO_SPEECH, ()
        if has_speech:
            segments = find_segments(timeline, round(total / rate, 3), self.segment_rule)
            label = clip_label(p_fake >= self.threshold, segments)
        return Prediction(source=clip.source, score=score, p_fake=p_fake, label=label,
                          duration=round(total / rate, 3), speech=float(clip.speech_fraction),
                          padded=total < PADDED_FRACTION * win, timeline=timeline, segments=segments)

    def score_windows(self, windows: list) -> tuple[np.ndarray, list]:
        """Score a batch of windows through :meth:`window_scores`, and say which could not be scored.

        ``windows``: float32 arrays of shape (window_samples,) at 16 kHz, one backend call for
        all of them. Returns their scores, (len(windows),) float64 with non-finite ones as NaN,
        and per window the error (``"Type: message"``) that kept it from being scored, or None.
        When the backend raises on the batch, each window is tried alone, so that one bad window
        costs only its own clip.
        """
        try:
            return self._checked_scores(self.window_scores(np.stack(windows)), len(windows)), [None] * len(windows)
        except Exception as e:
            if len(windows) == 1:
                return np.full(1, np.nan), [f"{type(e).__name__}: {first_line(e)}"]
        scores, errors = [], []
        for window in windows:
            s, err = self.score_windows([window])
            scores.append(s[0])
            errors.extend(err)
        return np.asarray(scores, dtype=np.float64), errors

    def score_spans(self, spans: list[WindowSpan]) -> tuple[np.ndarray, list]:
        """:meth:`score_windows` for the windows of runs of contiguous audio, through
        :meth:`span_scores` (one backend call); when that raises, the windows are cut out and
        scored through :meth:`score_windows`, which tries each alone if it must."""
        try:
            n = sum(len(span) for span in spans)
            return self._checked_scores(self.span_scores(spans), n), [None] * n
        except Exception:
            return self.score_windows([w for span in spans for w in span.windows()])

    # ------------------------------------------------------------------ machinery

    def _blocks(self, audio, sample_rate, name) -> Iterator[np.ndarray]:
        if isinstance(audio, tuple):
            if len(audio) != 2 or not isinstance(audio[0], np.ndarray):
                raise AudioError(name or "<array>", "a tuple input must be (array, sample_rate)")
            if sample_rate is not None and sample_rate != audio[1]:
                raise AudioError(name or "<array>", f"sample_rate={sample_rate!r} contradicts the pair's {audio[1]!r}")
            audio, sample_rate = audio
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise SpoofscanError("predict(array) needs sample_rate= (the array's rate in Hz), "
                                     "or give the pair (array, sample_rate)")
            yield prepare_waveform(audio, sample_rate, min_seconds=self.min_seconds,
                                   max_seconds=self.max_seconds, name=name or "<array>")
            return
        if sample_rate is not None:
            raise SpoofscanError("sample_rate= goes with an array; a file or bytes state their own rate")
        yield from stream_audio(audio, min_seconds=self.min_seconds, max_seconds=self.max_seconds, name=name)

    @staticmethod
    def _checked_scores(scores, n: int) -> np.ndarray:
        """A backend's scores for ``n`` windows as (n,) float64, non-finite ones NaN."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape != (n,):
            raise SpoofscanError(f"the backend returned {scores.size} scores for {n} windows")
        return np.where(np.isfinite(scores), scores, np.nan)

    def _run(self, items, raise_errors: bool, score_no_speech: bool = False) -> Iterator[Union[Prediction, Failure]]:
        """Stream the windows of successive clips, as runs of contiguous audio, into shared
        batches of at most ``batch_size`` windows; yield results in input order.

        With ``raise_errors`` (``predict``) bad input raises; otherwise every error, whatever
        its type, becomes the Failure of its own clip and the other clips are still scored.
        """
        pending: list[Clip] = []  # finished or in-progress clips awaiting scores, in input order
        batch: list[tuple[Clip, WindowSpan]] = []
        owners: list[tuple[Clip, int]] = []  # per window of the batch: (clip, index of the window in the clip)

        def drop(clip: Clip) -> None:
            """Remove the windows of a failed clip still waiting in the batch."""
            batch[:] = [(c, span) for c, span in batch if c is not clip]
            owners[:] = [(c, i) for c, i in owners if c is not clip]

        def flush():
            if batch:
                scores, errors = self.score_spans([span for _, span in batch])
                for (clip, i), s, err in zip(owners, scores, errors):
                    clip.scores[i] = float(s)
                    if err is not None and clip.failure is None:
                        clip.failure = Failure(clip.source, f"the model could not score it ({err})")
                batch.clear()
                owners.clear()

        def ready():
            while pending and (pending[0].failure or pending[0].scored):
                yield self.finish(pending.pop(0), score_no_speech=score_no_speech)

        for audio, sample_rate, name in items:
            clip, spans = self._open_spans(audio, sample_rate, name)
            pending.append(clip)
            try:
                for part in _split_to_fit(spans, lambda: self.batch_size - len(owners)):
                    owners.extend((clip, len(clip.starts) + k) for k in range(len(part)))
                    clip.starts.extend(part.offset + start for start in part.starts)
                    clip.scores.extend([None] * len(part))
                    batch.append((clip, part))
                    if len(owners) >= self.batch_size:
                        flush()
                        if clip.failure is not None:  # the model failed on this clip: read no more of it
                            spans.close()
                            break
                        yield from ready()
            except SpoofscanError as e:
                if raise_errors:
                    raise
                clip.failure = Failure(clip.source, str(e.reason if hasattr(e, "reason") else e))
                drop(clip)
            except Exception as e:  # a bug must not cost the other clips their results
                if raise_errors:
                    raise
                clip.failure = Failure(clip.source, f"unexpected error, please report it ({type(e).__name__}: "
                                                    f"{first_line(e)})")
                drop(clip)
            yield from ready()
        flush()
        yield from ready()


@dataclass
class Clip:
    """A clip being scored (:meth:`Detector.open_clip`): window starts in samples, their scores
    (None until scored), its length in samples once decoded, and the speech found: per window
    its share (``speech``) and whether it counts (``voiced``), and the clip's (``speech_fraction``)."""

    source: str
    starts: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    samples: int = 0
    speech: list = field(default_factory=list)
    voiced: list = field(default_factory=list)
    speech_fraction: float = 0.0
    done: bool = False
    failure: Optional[Failure] = None

    @property
    def scored(self) -> bool:
        """Decoded to the end and every window scored: ready for :meth:`Detector.finish`."""
        return self.done and None not in self.scores


def _split_to_fit(spans: Iterator[WindowSpan], room) -> Iterator[WindowSpan]:
    """The spans, each split to fit ``room()``, the windows a batch has room for when the part is taken."""
    for span in spans:
        while span is not None:
            part, span = span.split(room())
            yield part
