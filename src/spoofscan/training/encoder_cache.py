"""A frozen encoder's hidden states, computed once per clip window and kept on disk, so that the
back end of an ``encoder`` model (:mod:`spoofscan.models.ssl`) trains in minutes on a CPU.

The windows are the ones prediction scores: :meth:`spoofscan.detector.Detector.open_clip` decodes
the clip and cuts it (``window_seconds`` every ``hop_seconds``, a last window aligned to the end, a
clip shorter than a window repeat-padded), so training sees exactly what ``predict`` sees. Each
window goes through the model's own front end and encoder; the back end trains on the result.

Layout, under the cache folder (``TrainConfig.feature_cache``, default
:func:`spoofscan.fileio.default_cache_dir`)::

    features/<encoder digest[:16]>/<clip key>.npy

- the encoder digest is :func:`spoofscan.models.ssl.encoder_digest`, the sha256 of the encoder's
  weights as the checkpoint stores them: other weights, another folder;
- the clip key is the sha256 of :data:`CACHE_VERSION`, the sha256 of the clip file's bytes and the
  feature config (front end settings, window and hop): an edited clip or another window gets a
  new entry;
- each entry is a float16 array (windows, layers + 1, positions, d_model), written whole or not
  at all (:func:`spoofscan.fileio.atomic_write`) and memory-mapped when read. A 4-s window of
  Whisper base is 7 x 200 x 512 values: 1.4 MB.

Float16 halves the disk and the reads; the back end's scores from the cache differ from the
float32 path's by about 1e-3 (tested). Nothing in an entry depends on the epoch, so the cache
cannot hold per-epoch augmentation: a run with augmentation fine-tunes instead
(``trainable_layers`` > 0).

Dev scoring uses the cache too (every epoch), aggregated by :meth:`Detector.finish` from the
speech found in each window, which is recomputed every run (the voice-activity detector is not
part of the key).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..calibration import Calibration
from ..detector import Clip, Detector
from ..errors import SpoofscanError, first_line
from ..fileio import atomic_write, default_cache_dir, file_sha256
from ..labels import LABEL_INDEX
from ..models.ssl import LayerWeightedDetector, encoder_digest
from ..progress import progress_bar

CACHE_VERSION = 1  # raised when what an entry holds changes meaning
FOLDER = "features"
DIGEST_CHARS = 16  # of the encoder digest, in the folder name
CACHE_DTYPE = np.float16


@dataclass
class CachedClip:
    """One clip's entry: its ``file`` (.npy), ``windows`` count and ``label``; ``clip`` is the
    detector's record of its windows (starts, speech found) when it was decoded in this run."""

    file: Path
    windows: int
    label: str
    clip: Clip | None = None


class EncoderCache:
    """The cache folder of one model's encoder (see the module docstring).

    ``model``: a :class:`LayerWeightedDetector` with a frozen encoder; ``root``: the cache folder
    (None: :func:`spoofscan.fileio.default_cache_dir`).
    """

    def __init__(self, model: LayerWeightedDetector, root: str | Path | None = None):
        self.model = model
        self.features = model.features
        self.folder = Path(root or default_cache_dir()) / FOLDER / encoder_digest(model)[:DIGEST_CHARS]
        self.shape = model.hidden_shape(self.features.window_samples)  # one window's entry
        self.detector = Detector(self.features, Calibration())  # decoding, windows and speech, as predict does
        self.computed = self.reused = 0  # windows computed / clips found, by this object

    def key(self, path: str | Path) -> str:
        """The entry name of a clip file: see the module docstring."""
        settings = json.dumps(self.features.to_dict(), sort_keys=True)
        return hashlib.sha256(f"{CACHE_VERSION}\n{file_sha256(path)}\n{settings}".encode()).hexdigest()

    def prepare(self, records, device: torch.device, *, batch_size: int = 32, decode_all: bool = False,
                progress: bool = False) -> list[CachedClip]:
        """The entries of ``records`` (:class:`~spoofscan.datasets.Record`), computing the missing ones
        on ``device`` in batches of ``batch_size`` windows.

        ``decode_all``: decode every clip, found or not, to keep its windows' speech (``clip``; dev
        scoring needs it). Raises a :class:`SpoofscanError` naming the first clip that cannot be read.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        out = []
        for rec in progress_bar(records, desc=f"encoder features ({self.folder.name})", enabled=progress, leave=False):
            try:
                out.append(self._entry(rec, device, batch_size, decode_all))
            except (SpoofscanError, OSError) as e:
                raise SpoofscanError(f"clip {rec.path}: {first_line(e)}") from None
        return out

    def _entry(self, rec, device: torch.device, batch_size: int, decode: bool) -> CachedClip:
        """One clip's entry, computed and written when it is missing."""
        file = self.folder / f"{self.key(rec.path)}.npy"
        windows = self._windows_in(file)
        if windows is not None and not decode:
            self.reused += 1
            return CachedClip(file, windows, rec.label)
        clip, waves = self.detector.open_clip(rec.path)
        waves = np.stack(list(waves))
        if windows is None:
            states = self.hidden_states(waves, device, batch_size)
            atomic_write(file, lambda tmp: _save(tmp, states))
            self.computed += len(waves)
        else:
            self.reused += 1
        return CachedClip(file, len(waves), rec.label, clip)

    def _windows_in(self, file: Path) -> int | None:
        """The window count of a readable entry of the right shape, else None (missing, cut short, other shape)."""
        if not file.is_file():
            return None
        try:
            states = np.load(file, mmap_mode="r")
        except (OSError, ValueError):
            return None
        ok = states.dtype == CACHE_DTYPE and states.ndim == 4 and states.shape[1:] == self.shape and len(states) > 0
        return len(states) if ok else None

    @torch.inference_mode()
    def hidden_states(self, windows: np.ndarray, device: torch.device, batch_size: int = 8) -> np.ndarray:
        """(n, window_samples) float32 windows -> (n, layers + 1, positions, d_model) float16: the model's
        :meth:`~spoofscan.models.ssl.LayerWeightedDetector.encode`, ``batch_size`` windows at a time. Raises when a
        value is not finite in float16."""
        model = self.model
        out = np.empty((len(windows), *self.shape), dtype=CACHE_DTYPE)
        for i in range(0, len(windows), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(windows[i:i + batch_size], dtype=np.float32)).to(device)
            out[i:i + len(x)] = model.encode(x).float().cpu().numpy()
        if not np.isfinite(out).all():
            raise SpoofscanError("the encoder's hidden states are not finite in float16 (overflow or NaN)")
        return out


def _save(tmp: str, states: np.ndarray) -> None:
    with open(tmp, "wb") as f:  # np.save(name) would add ".npy" to the temporary name
        np.save(f, states)


class CachedWindows(torch.utils.data.Dataset):
    """Every window of every cached clip, indexed by ``(epoch, i)`` as
    :class:`~spoofscan.training.data.CropDataset` is (the epoch is unused: nothing is random here).

    Returns ``(hidden, target)``: hidden (layers + 1, positions, d_model) float32 tensor, read from
    the memory-mapped entry; target a float32 scalar, 1.0 bona fide, 0.0 spoof. ``labels``: each
    window's clip label, for the sampler.
    """

    def __init__(self, clips: list[CachedClip]):
        self.items = [(c.file, w) for c in clips for w in range(c.windows)]
        self.labels = [c.label for c in clips for _ in range(c.windows)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]):
        _, i = key
        file, window = self.items[i]
        hidden = np.asarray(np.load(file, mmap_mode="r")[window], dtype=np.float32)
        return torch.from_numpy(hidden), torch.tensor(float(LABEL_INDEX[self.labels[i]]))


@torch.inference_mode()
def cached_clip_scores(model: LayerWeightedDetector, clips: list[CachedClip], device: torch.device,
                       batch_size: int = 32) -> np.ndarray:
    """Clip scores (len(clips),) float64 from cached hidden states, aggregated as ``predict`` aggregates
    (:meth:`Detector.finish` with ``score_no_speech``, as dev scoring does): the same scores as
    :func:`spoofscan.training.loop.score_records`, up to the cache's float16 rounding.

    Every clip needs its ``clip`` record (:meth:`EncoderCache.prepare` with ``decode_all``).
    """
    was_training = model.training
    model.eval()
    finisher = Detector(model.features, Calibration())
    scores = []
    for c in clips:
        states = np.load(c.file, mmap_mode="r")
        logits = [model.forward_hidden(torch.from_numpy(np.asarray(states[i:i + batch_size], dtype=np.float32))
                                       .to(device)).float().cpu().numpy() for i in range(0, len(states), batch_size)]
        c.clip.scores = [float(s) for s in np.concatenate(logits)]
        result = finisher.finish(c.clip, score_no_speech=True)
        if not result.ok:
            raise SpoofscanError(f"dev clip {result.source}: {result.error}")
        scores.append(result.score)
    model.train(was_training)
    return np.asarray(scores, dtype=np.float64)


def cached_training_data(model: LayerWeightedDetector, train_records: list, dev_records: list, device: torch.device, *,
                         root: str | Path | None, main: bool, progress: bool, batch_size: int):
    """The cached windows of the training clips (a :class:`CachedWindows`) and the dev clips'
    entries (``[]`` off rank 0), computing what is missing: rank 0 computes, the other processes
    then find it (call :func:`~spoofscan.training.distributed.barrier` between)."""
    cache = EncoderCache(model, root)
    start = time.monotonic()
    train = cache.prepare(train_records, device, batch_size=batch_size, progress=progress)
    dev = cache.prepare(dev_records, device, batch_size=batch_size, decode_all=True, progress=progress) if main else []
    if progress and main:
        print(f"encoder features in {cache.folder}: {cache.computed} windows computed, {cache.reused} clips found, "
              f"{time.monotonic() - start:.1f} s", flush=True)
    return CachedWindows(train), dev
