"""Making one pair: the real clip and its content-matched fake, both through the same neutralising chain.

:func:`build_pair` reads the real clip, has the generator make the fake (text-to-speech at a
speaking rate matched to the real clip's duration: :func:`synthesize_matched`), draws the
pair's channel (wideband or narrowband) and codec, and passes both clips through
:func:`neutralise` with the same settings, so that no trivial property tells them apart.
Every random draw comes from the pair's own seed, in a fixed order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import SAMPLE_RATE, resample
from ..augment import add_noise, band_limit, codec_roundtrip, parse_codec, set_level
from ..errors import SpoofscanError
from ..fileio import atomic_write
from ..labels import BONAFIDE, SPOOF
from ..seeding import stable_seed
from .audit import active_span
from .config import RECIPE_VERSION, CorpusConfig
from .generators import Generator, Request
from .manifest import NO_GENERATOR
from .sources import RealClip, read_real

WIDEBAND, NARROWBAND = "wideband", "narrowband"
NO_CODEC = "none"
CODECS = {  # corpus codec -> spoofscan.augment codec settings, from best quality (compression 0) to smallest (1)
    "vorbis": ("vorbis:1.0", "vorbis:0.8", "vorbis:0.6", "vorbis:0.4", "vorbis:0.2", "vorbis:0.0"),
    "opus": ("opus:48", "opus:32", "opus:24", "opus:16", "opus:12", "opus:8"),
    "mp3": ("mp3:128", "mp3:96", "mp3:64", "mp3:48", "mp3:32", "mp3:24"),
}
CODEC_COMPRESSION = (0.2, 0.9)  # range of the compression level drawn per pair (0 best quality, 1 smallest)
PEAK_LIMIT = 0.99  # no sample above this after the level change
TRIM_MARGIN_SECONDS = 0.02  # kept on each side of the active span when trimming
MAX_REAL_SECONDS = 20.0  # longer real clips are skipped
MIN_REAL_SECONDS = 0.25
SPEED_LIMITS = (0.5, 2.0)  # TTS speaking-rate factors tried when matching durations
SPEED_TOLERANCE = 0.08  # no second synthesis when the first is within 8 % of the target length
PROCESSING_FIELDS = ("narrowband_share", "codec_share", "level_dbfs", "noise_snr_db", "edge_pad_seconds",
                     "duration_jitter", "seed")  # the CorpusConfig fields every clip's processing depends on


def processing_key(cfg: CorpusConfig) -> dict:
    """The settings every clip's processing depends on (part of each pair's job key)."""
    return {k: getattr(cfg, k) for k in PROCESSING_FIELDS} | {"recipe": RECIPE_VERSION}


def trim(x: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence (see :func:`spoofscan.corpus.audit.active_span`), keeping a 20 ms margin."""
    first, end = active_span(x)
    margin = int(TRIM_MARGIN_SECONDS * SAMPLE_RATE)
    return x[max(0, first - margin):min(len(x), end + margin)]


def lossy_roundtrip(x: np.ndarray, codec: str, compression: float) -> np.ndarray:
    """Round trip a 16 kHz waveform through ``codec`` (a :data:`CODECS` key) at ``compression`` in [0, 1]
    (0: the codec's best setting in :data:`CODECS`, 1: its smallest); same length, time-aligned."""
    ladder = CODECS[codec]
    return codec_roundtrip(x, *parse_codec(ladder[int(round(compression * (len(ladder) - 1)))]))


def neutralise(x: np.ndarray, rng: np.random.Generator, cfg: CorpusConfig, narrowband: bool,
               codec: tuple = (NO_CODEC, 0.0)) -> np.ndarray:
    """The one processing chain every clip of both classes goes through (16 kHz in, 16 kHz out).

    Remove DC, trim edge silence, pad both edges with random silence, add a white noise floor
    at a random SNR, band-limit through 8 kHz if ``narrowband``, pass through ``codec``
    (``(name, compression level)``, name ``none`` or a :data:`CODECS` key), scale to a
    random RMS level, keep peaks below :data:`PEAK_LIMIT`. The effects are
    :mod:`spoofscan.augment`'s, the ones training augmentation uses.
    """
    x = trim(x - np.mean(x))
    pads = [int(rng.uniform(*cfg.edge_pad_seconds) * SAMPLE_RATE) for _ in range(2)]
    x = np.concatenate([np.zeros(pads[0], np.float32), x, np.zeros(pads[1], np.float32)]).astype(np.float32)
    x = add_noise(x, rng.uniform(*cfg.noise_snr_db), "white", rng)
    if narrowband:
        x = band_limit(x)
    if codec[0] != NO_CODEC:
        peak = float(np.max(np.abs(x))) or 1.0
        x = lossy_roundtrip(x * np.float32(0.5 / peak), *codec)  # coded at a safe level; the level is set next
    return set_level(x, rng.uniform(*cfg.level_dbfs), PEAK_LIMIT)


def synthesize_matched(g: Generator, clip: RealClip, real16: np.ndarray, target: float, seed: int,
                       text: str | None = None):
    """Make the fake of ``clip``: TTS saying ``text`` (default: the clip's transcript) at a speaking
    rate that lands near ``target`` seconds of speech, or copy-synthesis of the clip.

    ``real16`` is the real clip at 16 kHz, float32 (samples,) (what copy-synthesis starts from).
    Returns the fake, float32 (samples,), and its rate in Hz.
    """
    text = text or clip.text
    if g.needs == "audio":
        return g.synthesize(Request(text=text, language=clip.language, audio=real16, rate=SAMPLE_RATE, seed=seed))
    request = Request(text=text, language=clip.language, seed=seed)
    x, rate = g.synthesize(request)
    spoken = len(trim(resample(x, rate))) / SAMPLE_RATE
    speed = float(np.clip(spoken / max(target, 0.05), *SPEED_LIMITS))
    if abs(speed - 1.0) > SPEED_TOLERANCE:
        x, rate = g.synthesize(replace(request, speed=speed))
    return x, rate


def read_real16(clip: RealClip) -> tuple[np.ndarray, int]:
    """The real clip at 16 kHz, float32 (samples,), and its native rate in Hz.

    Raises SpoofscanError when it is empty, not finite, or outside
    :data:`MIN_REAL_SECONDS`-:data:`MAX_REAL_SECONDS` long.
    """
    raw, real_rate = read_real(clip)
    if raw.size == 0 or not np.isfinite(raw).all():
        raise SpoofscanError(f"{clip.path}: empty or not finite")
    real16 = resample(raw, real_rate)
    if not MIN_REAL_SECONDS <= len(real16) / SAMPLE_RATE <= MAX_REAL_SECONDS:
        raise SpoofscanError(f"{clip.path}: {len(real16) / SAMPLE_RATE:.2f} s, outside "
                             f"{MIN_REAL_SECONDS}-{MAX_REAL_SECONDS} s")
    return real16, real_rate


def build_pair(pair, cfg: CorpusConfig, generator: Generator, out: Path) -> list:
    """Make and write both clips of a pair (a :class:`~spoofscan.corpus.plan.Pair`) under ``out``;
    returns their two manifest rows (with extra detail keys)."""
    rng = np.random.default_rng(stable_seed(cfg.seed, "pair", pair.clip.key))
    real16, real_rate = read_real16(pair.clip)
    target = len(trim(real16)) / SAMPLE_RATE * rng.uniform(*cfg.duration_jitter)
    fake, fake_rate = synthesize_matched(generator, pair.clip, real16, target,
                                         stable_seed(cfg.seed, "synth", pair.clip.key), pair.text)
    narrowband = min(real_rate, fake_rate) < SAMPLE_RATE or rng.uniform() < cfg.narrowband_share
    codec = (NO_CODEC, 0.0)
    if rng.uniform() < cfg.codec_share:
        names = sorted(CODECS)
        codec = (names[int(rng.integers(len(names)))], float(rng.uniform(*CODEC_COMPRESSION)))
    rows = []
    for label, trial, x, rate in ((BONAFIDE, pair.real_trial, real16, real_rate),
                                  (SPOOF, pair.fake_trial, resample(fake, fake_rate), fake_rate)):
        y = neutralise(x, rng, cfg, narrowband, codec)
        rel = Path("audio") / pair.split / f"{trial}.flac"
        atomic_write(out / rel, lambda tmp: sf.write(tmp, y, SAMPLE_RATE, format="FLAC", subtype="PCM_16"))
        rows.append(_row(pair, generator, label, trial, rel, y, NARROWBAND if narrowband else WIDEBAND, codec[0], rate))
    return rows


def _row(pair, generator: Generator, label: str, trial: str, rel: Path, y: np.ndarray, channel: str, codec: str,
         native_rate: int) -> dict:
    """The manifest row of one clip of a pair (the manifest's columns first, then detail keys)."""
    is_real = label == BONAFIDE
    return {
        "trial": trial, "path": rel.as_posix(), "label": label, "split": pair.split,
        "source": pair.clip.source, "speaker": pair.clip.speaker if is_real or generator.needs == "audio"
        else generator.name, "language": pair.clip.language or "-",
        "generator": NO_GENERATOR if is_real else generator.name, "kind": NO_GENERATOR if is_real else kind_of(generator),
        "channel": channel, "codec": codec, "seconds": round(len(y) / SAMPLE_RATE, 3), "native_rate": native_rate,
        "text": (pair.clip.text if is_real else pair.text) or "", "text_from": "" if is_real else pair.text_from,
        "origin": pair.clip.key, "pair": pair.real_trial,
    }


def kind_of(generator: Generator) -> str:
    """``tts`` for a generator that says a text, ``copy`` for one that re-synthesises a real clip."""
    return "tts" if generator.needs == "text" else "copy"
