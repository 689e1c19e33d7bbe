"""The one inference worker: windows of every pending clip, gathered into shared model calls.

Why one thread: the thread settings of both backends (``torch.set_num_threads``, ONNX
Runtime's intra-op pool, the BLAS limit of the numpy log-mel) are process-wide, and request
threads calling the model at once would fight over the cores. So one thread runs the model
(:meth:`Detector.score_windows`, which retries the windows one by one when the backend fails
on a batch, so a window it cannot score costs only its own clip), and it is never idle while
windows wait: it takes up to ``detector.batch_size`` of them from every pending clip at once
(greedy batching, no waiting to fill a batch), so the batches grow with the load and so does
throughput.

Decoding runs beside it in a small pool of threads (``decode_threads``), through the
detector's own seam (:meth:`Detector.open_clip` / :meth:`Detector.finish`), so nothing about
decoding, windowing or calibration is written here. A clip is decoded in steps: each step
pulls windows until ``clip_windows`` of that clip wait for the model, then gives its thread
back; the worker asks for the next step when half of them have been taken. So a ten-minute
upload holds one decoder block and a few dozen windows in memory, never the whole clip.

A model call is filled round-robin, one window per waiting clip in turn (the clips rotate
from call to call), so a short clip waits for about one call, not behind the queued windows
of every long clip that came before it; long clips share what is left. Without cross-request
batching a call takes windows of the oldest waiting clip only.

Nothing here touches asyncio except through ``loop.call_soon_threadsafe``: a :class:`Job`'s
answer (the :class:`~spoofscan.detector.Prediction`, or a
:class:`~spoofscan.serve.errors.ServeError`) is set on its asyncio future from these threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor

from ..errors import SpoofscanError
from .errors import ServeError, audio_error
from .prometheus import Metrics

log = logging.getLogger("spoofscan.serve")


class Job:
    """One clip in the service: its :class:`~spoofscan.detector.Clip`, window iterator and upload.

    All fields except ``future`` are guarded by the batcher's lock. ``queued`` counts windows
    waiting in the queue, ``outstanding`` those not scored yet (queued or in a model call).
    """

    def __init__(self, clip, windows, file, loop: asyncio.AbstractEventLoop):
        self.clip = clip
        self.windows = windows
        self.file = file
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        self.queued = 0
        self.outstanding = 0
        self.decoding = False  # a decode step is scheduled or running
        self.over = False  # answered, failed or cancelled: no more work
        self.released = False  # iterator and upload closed

    def _answer(self, value) -> None:
        """Hand the result to the waiting request (from any thread)."""
        def settle():
            if not self.future.done():
                self.future.set_result(value)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the event loop is closed: nobody is waiting any more
            pass


class Batcher:
    """Decoding threads and the single model thread (see the module docstring).

    Parameters
    ----------
    detector : a loaded :class:`~spoofscan.detector.Detector` (either backend)
    settings : :class:`~spoofscan.serve.settings.ServeSettings` (``decode_threads``,
        ``clip_windows``, ``cross_request_batching``)
    metrics : where batch sizes, model time and scored audio are counted
    """

    def __init__(self, detector, settings, metrics: Metrics):
        self.detector = detector
        self.batch_size = max(1, int(detector.batch_size))
        self.clip_windows = settings.clip_windows or self.batch_size
        self.cross_request = settings.cross_request_batching
        self.metrics = metrics
        self._cond = threading.Condition()
        self._waiting: OrderedDict[Job, deque] = OrderedDict()  # job -> (window index, window), round-robin order
        self._queued = 0  # windows in self._waiting
        self._jobs: set[Job] = set()
        self._stopping = False
        self._decoders = ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="spoofscan-decode")
        self._thread = threading.Thread(target=self._run, name="spoofscan-model", daemon=True)
        self.windows_scored = 0  # total, for /readyz and tests
        metrics.queue_windows.set_function(lambda: self._queued)
        metrics.clips_in_flight.set_function(lambda: len(self._jobs))

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the model call under way, refuse what is left (503), free every clip."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        with self._cond:
            jobs = list(self._jobs)
        for job in jobs:
            self._end(job, ServeError(503, "shutting_down", "the server is shutting down; try again",
                                      {"Retry-After": "5"}))
        self._decoders.shutdown(wait=True, cancel_futures=True)
        for job in jobs:  # decode steps cancelled before they ran leave their jobs to close here
            if not job.released:
                job.released = True
                self._close(job)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    @property
    def queue_windows(self) -> int:
        return self._queued

    # ------------------------------------------------------------------ requests

    def submit(self, file, name: str) -> Job:
        """Start scoring an upload (a seekable binary file at offset 0, now owned by the job).

        Call from the event loop; await ``job.future`` for a Prediction or a ServeError.
        """
        clip, windows = self.detector.open_clip(file, name=name)
        job = Job(clip, windows, file, asyncio.get_running_loop())
        with self._cond:
            if self._stopping:
                raise ServeError(503, "shutting_down", "the server is shutting down; try again", {"Retry-After": "5"})
            self._jobs.add(job)
            job.decoding = True
        self._decoders.submit(self._decode, job)
        return job

    def cancel(self, job: Job) -> bool:
        """Stop work on a job whose client went away (no-op once it is over). True if it was live."""
        with self._cond:
            if job.over:
                return False
            self._drop(job)
            release = self._releasable(job)
        if release:
            self._close(job)
        return True

    # ------------------------------------------------------------------ decoding threads

    def _decode(self, job: Job) -> None:
        """One decode step: pull windows until ``clip_windows`` of this clip wait in the queue."""
        got, ended, error = [], False, None
        try:
            room = self.clip_windows - job.queued
            while len(got) < room and not job.over:
                window = next(job.windows)
                got.append((len(job.clip.scores) - 1, window))
        except StopIteration:
            ended = True
        except SpoofscanError as e:
            error = audio_error(e)
        except Exception:  # a bug, not bad input: answer 500, keep serving
            log.exception("decoding %s failed", job.clip.source)
            error = ServeError(500, "internal", f"{job.clip.source}: decoding failed unexpectedly (see the server log)")
        finish = release = False
        with self._cond:
            job.decoding = False
            if error is not None and not job.over:
                self._drop(job)
                job._answer(error)
            elif not job.over:
                job.queued += len(got)
                job.outstanding += len(got)
                if got:
                    self._waiting.setdefault(job, deque()).extend(got)
                    self._queued += len(got)
                if got:
                    self._cond.notify()
                if ended and job.outstanding == 0:
                    job.over = finish = True
            release = self._releasable(job)  # true as well when finish is
        if finish:
            self._finish(job)
        if release:
            self._close(job)

    # ------------------------------------------------------------------ the model thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch = self._take()
                jobs = list(dict.fromkeys(job for job, _, _ in batch))
                refill = [job for job in jobs if self._wants_decoding(job)]
                for job in refill:
                    job.decoding = True
            for job in refill:  # decode the next windows while the model scores these
                self._decoders.submit(self._decode, job)
            if batch:
                self._score(batch, jobs)

    def _take(self) -> list:
        """Up to ``batch_size`` waiting windows ``(job, index, window)``: one per clip in turn
        (or, without cross-request batching, from the oldest waiting clip alone)."""
        batch = []
        while self._waiting and len(batch) < self.batch_size:
            job, windows = next(iter(self._waiting.items()))
            n = 1 if self.cross_request else self.batch_size
            while windows and n:
                i, w = windows.popleft()
                batch.append((job, i, w))
                job.queued -= 1
                n -= 1
            if not windows:
                del self._waiting[job]
            elif self.cross_request:
                self._waiting.move_to_end(job)  # next turn goes to the next clip
            if not self.cross_request:
                break
        self._queued -= len(batch)
        return batch

    def _wants_decoding(self, job: Job) -> bool:
        return (not job.over and not job.decoding and not job.clip.done
                and job.queued <= self.clip_windows // 2)

    def _score(self, batch: list, jobs: list) -> None:
        """Score a batch through :meth:`Detector.score_windows` (which retries the windows one by
        one when the model fails on the batch): a clip with a window the model cannot score is
        answered 500, the other clips of the batch keep their scores."""
        start = time.perf_counter()
        scores, errors = self.detector.score_windows([w for _, _, w in batch])
        failed = {}
        for (job, i, _), error in zip(batch, errors):
            if error is not None and job not in failed:
                log.error("the model failed on %s (window %d): %s", job.clip.source, i, error)
                failed[job] = ServeError(500, "internal", f"{job.clip.source}: the model failed (see the server log)")
        for job, error in failed.items():
            self._end(job, error)
        scored = sum(error is None for error in errors)
        m = self.metrics
        m.model_seconds.observe(time.perf_counter() - start)
        m.batch_windows.observe(len(batch))
        m.batch_clips.observe(len(jobs))
        m.windows.inc(scored)
        self.windows_scored += scored
        finished = []
        with self._cond:
            for (job, i, _), s in zip(batch, scores):
                if not job.over:
                    job.clip.scores[i] = float(s)
                    job.outstanding -= 1
            for job in jobs:
                if not job.over and job.clip.done and job.outstanding == 0 and not job.decoding:
                    job.over = job.released = True
                    finished.append(job)
        for job in finished:
            self._finish(job)
            self._close(job)

    # ------------------------------------------------------------------ endings

    def _finish(self, job: Job) -> None:
        """Every window scored: the detector's verdict goes to the request."""
        try:
            result = self.detector.finish(job.clip)
        except Exception:
            log.exception("finishing %s failed", job.clip.source)
            result = ServeError(500, "internal", f"{job.clip.source}: aggregation failed (see the server log)")
        if getattr(result, "duration", None):
            self.metrics.audio_seconds.inc(result.duration)
        job._answer(result)

    def _end(self, job: Job, error: ServeError) -> None:
        """Fail a job (from any thread) and free it once no decode step is using it."""
        with self._cond:
            if job.over:
                return
            self._drop(job)
            job._answer(error)
            release = self._releasable(job)
        if release:
            self._close(job)

    def _drop(self, job: Job) -> None:
        """Mark a job over and remove its queued windows (lock held)."""
        job.over = True
        windows = self._waiting.pop(job, None)
        if windows:
            self._queued -= len(windows)
        job.queued = 0

    def _releasable(self, job: Job) -> bool:
        """Whether the caller should close the job now: over, no decode step using it (lock held)."""
        if job.over and not job.decoding and not job.released:
            job.released = True
            return True
        return False

    def _close(self, job: Job) -> None:
        """Close the window iterator and the upload; forget the job."""
        try:
            job.windows.close()
        except Exception:  # pragma: no cover - a generator's close raises only on misuse
            log.exception("closing the decoder of %s", job.clip.source)
        try:
            job.file.close()
        except Exception:  # pragma: no cover
            log.exception("closing the upload of %s", job.clip.source)
        with self._cond:
            self._jobs.discard(job)
