"""Codec round trips: encode a 16 kHz waveform in memory, decode it, and line it up with the input.

Each function takes a float waveform ``(samples,)`` at 16 kHz in [-1, 1] and returns the
decoded waveform with the same length and dtype, time-aligned with the input to within a
few samples, clipped to [-1, 1] as a decoder writing 16-bit PCM would.

=================  =========================  ===========  ==========================================
codec              function                   codes at     done by
=================  =========================  ===========  ==========================================
MP3                ``mp3(x, kbps)``           16 kHz       PyAV (FFmpeg's libmp3lame, CBR)
AAC-LC             ``aac(x, kbps)``           16 kHz       PyAV (FFmpeg's native aac encoder)
Opus               ``opus(x, kbps)``          16 kHz       PyAV (libopus)
Vorbis             ``vorbis(x, quality)``     16 kHz       libsndfile (libvorbis, VBR quality)
G.722              ``g722(x)``                16 kHz       PyAV (FFmpeg g722), 64 kbit/s
G.711 mu-law       ``telephone_mulaw(x)``     8 kHz        PyAV (FFmpeg pcm_mulaw), 64 kbit/s
G.711 A-law        ``telephone_alaw(x)``      8 kHz        PyAV (FFmpeg pcm_alaw), 64 kbit/s
GSM 06.10          ``gsm(x)``                 8 kHz        pedalboard (GSMFullRateCompressor), 13 kbit/s
AMR-NB             ``amr_nb(x, kbps)``        8 kHz        PyAV (libopencore-amrnb)
=================  =========================  ===========  ==========================================

The 8 kHz codecs are telephone chains: soxr resamples down to 8 kHz (which removes
everything above 4 kHz), the codec runs there, soxr resamples back to 16 kHz. No 300 Hz
high-pass is applied (add one with :func:`spoofscan.augment.channel.equalize` if wanted).
Vorbis goes through libsndfile because FFmpeg's own Vorbis encoder is experimental and
codes stereo only; GSM through pedalboard because FFmpeg has a GSM decoder but no encoder.

**Alignment.** Encoders add a delay (AAC's 1024 priming samples, G.722's filter bank, AMR's
look-ahead...). Where the decoder does not remove it, it is measured once per process and
codec setting, by passing a fixed speech-like probe through the same chain
(:func:`codec_delay`, :func:`estimate_lag`), and cut off the output. Measured here: AAC 1024
samples, G.722 22, AMR-NB about 77 (its waveform is matched only roughly), the others 0.

**Availability.** Each codec's library and FFmpeg encoder are checked before use
(:func:`available_codecs`, :func:`require_codec`): a build that lacks one (a PyAV built
against a system FFmpeg without libopencore-amrnb, say, or no pedalboard) gives a
SpoofscanError naming the codec, the missing piece and the fix.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np

from ..audio import resample
from ..errors import SpoofscanError, choice_error
from .base import SAMPLE_RATE, check_wave, finish, fit_length

TELEPHONE_RATE = 8_000  # Hz: G.711, GSM and AMR-NB code narrowband speech at 8 kHz
MP3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)  # MPEG-2 layer III at 16 kHz
AMR_NB_KBPS = (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2)  # the eight AMR-NB modes
MAX_DELAY = 4096  # samples at 16 kHz: the largest codec delay looked for when aligning (256 ms)
PCM_FRAME = 1024  # samples per frame sent to encoders that take any frame size (PCM codecs)
PROBE_SECONDS = 1.0
PROBE_SEED = 20220527


@dataclass(frozen=True)
class CodecSpec:
    """One codec: where it runs, what its setting means, and what codes it.

    rate : the sample rate it codes at, Hz
    unit : what the setting is (``kbit/s`` or ``quality``); ``""`` for a fixed-rate codec
    choices : the allowed settings when they are discrete (MP3 and AMR-NB bit rates)
    bounds : ``(low, high)`` of the setting when it is continuous
    default : the setting used when none is given
    backend : ``pyav``, ``soundfile`` or ``pedalboard``
    encoder, decoder : FFmpeg codec names (``pyav`` backend)
    """

    name: str
    rate: int
    unit: str = ""
    choices: tuple = ()
    bounds: tuple = ()
    default: float | None = None
    backend: str = "pyav"
    encoder: str = ""
    decoder: str = ""

    def check_setting(self, setting: float | None) -> float | None:
        """The setting to use (the default when None); raises SpoofscanError when out of range."""
        if not self.unit:
            if setting is not None:
                raise SpoofscanError(f"codec {self.name!r} has a fixed rate and takes no setting, got {setting!r}")
            return None
        if setting is None:
            return self.default
        setting = float(setting)
        if self.choices and not any(abs(setting - c) < 1e-9 for c in self.choices):
            raise SpoofscanError(f"codec {self.name!r}: {setting:g} {self.unit} is not one of its modes "
                                 f"(choose from: {', '.join(f'{c:g}' for c in self.choices)})")
        if self.bounds and not self.bounds[0] <= setting <= self.bounds[1]:
            raise SpoofscanError(f"codec {self.name!r}: {self.unit} {setting:g} outside "
                                 f"{self.bounds[0]:g}-{self.bounds[1]:g}")
        return setting


CODECS = {
    "mp3": CodecSpec("mp3", SAMPLE_RATE, "kbit/s", choices=MP3_KBPS, default=64, encoder="libmp3lame", decoder="mp3"),
    "aac": CodecSpec("aac", SAMPLE_RATE, "kbit/s", bounds=(8, 160), default=64, encoder="aac", decoder="aac"),
    "opus": CodecSpec("opus", SAMPLE_RATE, "kbit/s", bounds=(6, 256), default=24, encoder="libopus",
                      decoder="libopus"),
    "vorbis": CodecSpec("vorbis", SAMPLE_RATE, "quality", bounds=(0.0, 1.0), default=0.5, backend="soundfile"),
    "g722": CodecSpec("g722", SAMPLE_RATE, encoder="g722", decoder="g722"),
    "mulaw": CodecSpec("mulaw", TELEPHONE_RATE, encoder="pcm_mulaw", decoder="pcm_mulaw"),
    "alaw": CodecSpec("alaw", TELEPHONE_RATE, encoder="pcm_alaw", decoder="pcm_alaw"),
    "gsm": CodecSpec("gsm", TELEPHONE_RATE, backend="pedalboard"),
    "amr_nb": CodecSpec("amr_nb", TELEPHONE_RATE, "kbit/s", choices=AMR_NB_KBPS, default=12.2,
                        encoder="libopencore_amrnb", decoder="amrnb"),
}


# ---------------------------------------------------------------------------- the functions


def mp3(x: np.ndarray, kbps: int = 64) -> np.ndarray:
    """MP3 (MPEG-2 layer III, LAME, constant bit rate) at 16 kHz; ``kbps`` one of :data:`MP3_KBPS`.

    LAME low-passes according to the bit rate: measured here at 16 kHz, about 5 kHz at
    16 kbit/s, 6 kHz at 24, 7.5 kHz from 32 up. Returns float (samples,), the input's length
    and dtype.
    """
    return codec_roundtrip(x, "mp3", kbps)


def aac(x: np.ndarray, kbps: float = 64) -> np.ndarray:
    """AAC-LC (FFmpeg's encoder) at 16 kHz and ``kbps`` kbit/s (8-160); it low-passes at about
    4 kHz at 16 kbit/s and keeps the whole band from 32 up. Same length and dtype out."""
    return codec_roundtrip(x, "aac", kbps)


def opus(x: np.ndarray, kbps: float = 24) -> np.ndarray:
    """Opus (libopus, VBR around ``kbps`` kbit/s, 6-256) at 16 kHz; libopus codes narrowband
    (4 kHz) at 8 kbit/s and below, wideband above. Same length and dtype out."""
    return codec_roundtrip(x, "opus", kbps)


def vorbis(x: np.ndarray, quality: float = 0.5) -> np.ndarray:
    """Ogg Vorbis (libvorbis through libsndfile), VBR ``quality`` in [0, 1] (1 best).

    libsndfile sets no bit rate for Vorbis, only the quality; on 16 kHz mono speech quality 0
    gives roughly 20-30 kbit/s and quality 1 roughly 60-80. Same length and dtype out.
    """
    return codec_roundtrip(x, "vorbis", quality)


def g722(x: np.ndarray) -> np.ndarray:
    """G.722 (sub-band ADPCM, 64 kbit/s) at 16 kHz: wideband telephony. Same length and dtype out."""
    return codec_roundtrip(x, "g722")


def telephone_mulaw(x: np.ndarray) -> np.ndarray:
    """8 kHz G.711 mu-law telephone line: resampled to 8 kHz, mu-law coded, resampled back to 16 kHz."""
    return codec_roundtrip(x, "mulaw")


def telephone_alaw(x: np.ndarray) -> np.ndarray:
    """8 kHz G.711 A-law telephone line (as :func:`telephone_mulaw`, with A-law)."""
    return codec_roundtrip(x, "alaw")


def gsm(x: np.ndarray) -> np.ndarray:
    """GSM 06.10 full rate (13 kbit/s) at 8 kHz, as on a 2G mobile call; back at 16 kHz."""
    return codec_roundtrip(x, "gsm")


def amr_nb(x: np.ndarray, kbps: float = 12.2) -> np.ndarray:
    """AMR-NB (3G/VoLTE narrowband) at 8 kHz, ``kbps`` one of :data:`AMR_NB_KBPS`; back at 16 kHz."""
    return codec_roundtrip(x, "amr_nb", kbps)


def codec_roundtrip(x: np.ndarray, codec: str, setting: float | None = None) -> np.ndarray:
    """Round trip through ``codec`` (a :data:`CODECS` key) at ``setting`` (kbit/s or quality; None: default).

    Parameters
    ----------
    x : float array (samples,), 16 kHz, in [-1, 1]
    codec : ``mp3``, ``aac``, ``opus``, ``vorbis``, ``g722``, ``mulaw``, ``alaw``, ``gsm``, ``amr_nb``
    setting : the bit rate in kbit/s, or the quality for ``vorbis``; fixed-rate codecs take none

    Returns
    -------
    np.ndarray (samples,), the input's dtype, time-aligned with ``x``, within [-1, 1]
    """
    x = check_wave(x)
    spec = require_codec(codec)
    setting = spec.check_setting(setting)
    if len(x) == 0:
        return x.copy()
    y = _roundtrip(np.clip(x.astype(np.float32), -1.0, 1.0), spec, setting)
    return finish(fit_length(y, len(x), codec_delay(codec, setting)), x)


def parse_codec(text: str) -> tuple[str, float | None]:
    """``"mp3:32"`` -> ``("mp3", 32.0)``, ``"gsm"`` -> ``("gsm", None)``: a codec condition, checked.

    The form ``NAME[:SETTING]`` is how codecs are listed in :class:`~spoofscan.augment.AugmentConfig`.
    """
    name, _, value = str(text).partition(":")
    name = name.strip()
    if name not in CODECS:
        raise choice_error("codec", name, CODECS)
    try:
        setting = float(value) if value.strip() else None
    except ValueError:
        raise SpoofscanError(f"codec {text!r}: the setting after ':' must be a number ({CODECS[name].unit or 'none'})") from None
    return name, CODECS[name].check_setting(setting)


# ---------------------------------------------------------------------------- availability


def codec_missing(codec: str) -> str | None:
    """Why ``codec`` cannot run here (a sentence with the fix), or None when it can."""
    if codec not in CODECS:
        raise choice_error("codec", codec, CODECS)
    return _missing(codec)


@functools.lru_cache(maxsize=None)
def _missing(codec: str) -> str | None:
    spec = CODECS[codec]
    if spec.backend == "pyav":
        import av

        for role, name in (("encoder", spec.encoder), ("decoder", spec.decoder)):
            try:
                av.Codec(name, "w" if role == "encoder" else "r")
            except Exception:
                return (f"the FFmpeg inside PyAV {av.__version__} has no {name!r} {role} (PyAV's binary wheels "
                        "bundle it; a PyAV built against a system FFmpeg may lack it: reinstall the 'av' wheel)")
        return None
    if spec.backend == "soundfile":
        import soundfile as sf

        if "VORBIS" not in sf.available_subtypes("OGG"):
            return "this libsndfile cannot write Ogg Vorbis (soundfile's wheels bundle a libsndfile that can)"
        return None
    try:
        import pedalboard
    except ImportError:
        return "it needs pedalboard: pip install 'spoofscan[augment]'"
    if not hasattr(pedalboard, "GSMFullRateCompressor"):
        return f"pedalboard {pedalboard.__version__} has no GSMFullRateCompressor (pedalboard 0.7 or later has)"
    return None


def available_codecs() -> tuple[str, ...]:
    """The :data:`CODECS` that can run on this machine."""
    return tuple(name for name in CODECS if _missing(name) is None)


def require_codec(codec: str) -> CodecSpec:
    """The codec's :class:`CodecSpec`; SpoofscanError naming the fix when it cannot run here."""
    why = codec_missing(codec)
    if why:
        raise SpoofscanError(f"codec {codec!r} is not available here: {why}")
    return CODECS[codec]


# ---------------------------------------------------------------------------- the round trip


def _roundtrip(x: np.ndarray, spec: CodecSpec, setting: float | None) -> np.ndarray:
    """Code float32 ``x`` (16 kHz) at the codec's rate and return the decoded 16 kHz signal, not yet aligned."""
    coded = resample(x, SAMPLE_RATE, spec.rate) if spec.rate != SAMPLE_RATE else x
    if spec.backend == "pyav":
        y = _pyav_roundtrip(coded, spec, setting)
    elif spec.backend == "soundfile":
        y = _vorbis_roundtrip(coded, spec.rate, setting)
    else:
        y = _gsm_roundtrip(coded, spec.rate)
    return resample(y, spec.rate, SAMPLE_RATE) if spec.rate != SAMPLE_RATE else y


def _pyav_roundtrip(x: np.ndarray, spec: CodecSpec, kbps: float | None) -> np.ndarray:
    """Encode with an FFmpeg encoder and decode the packets directly (no container), at ``spec.rate``."""
    import av

    enc = av.CodecContext.create(spec.encoder, "w")
    enc.sample_rate = spec.rate
    enc.layout = "mono"
    formats = [f.name for f in enc.codec.audio_formats]
    fmt = next((f for f in ("flt", "fltp", "s16", "s16p") if f in formats), formats[0])
    enc.format = fmt
    if kbps is not None:
        enc.bit_rate = int(round(kbps * 1000))
    enc.open()
    frame = enc.frame_size or PCM_FRAME
    padded = np.pad(x, (0, -len(x) % frame))  # whole frames: not every encoder takes a short last frame
    if fmt.startswith("s16"):
        samples = np.clip(np.round(padded * 32768.0), -32768, 32767).astype(np.int16)
    else:
        samples = padded.astype(np.float32)
    packets = []
    for start in range(0, len(samples), frame):
        f = av.AudioFrame.from_ndarray(samples[None, start:start + frame], format=fmt, layout="mono")
        f.sample_rate = spec.rate
        f.pts = start
        packets += enc.encode(f)
    packets += enc.encode(None)

    dec = av.CodecContext.create(spec.decoder, "r")
    dec.sample_rate = spec.rate
    dec.layout = "mono"
    if enc.extradata:
        dec.extradata = enc.extradata
    out, out_rate = [], spec.rate
    for packet in packets + [None]:
        for f in dec.decode(packet):
            a = f.to_ndarray()
            a = a.astype(np.float32) / 32768.0 if a.dtype == np.int16 else a.astype(np.float32)
            out.append(a.reshape(len(f.layout.channels), -1).mean(axis=0) if a.ndim == 2 else a)
            out_rate = f.sample_rate
    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    return resample(y, out_rate, spec.rate) if out_rate != spec.rate else y  # libopus decodes at 48 kHz


def _vorbis_roundtrip(x: np.ndarray, rate: int, quality: float) -> np.ndarray:
    import soundfile as sf

    buf = io.BytesIO()
    # libsndfile's compression level for Vorbis is 1 - libvorbis's VBR quality
    sf.write(buf, x, rate, format="OGG", subtype="VORBIS", compression_level=1.0 - quality)
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    return y.mean(axis=1, dtype=np.float32) if y.ndim == 2 else y


def _gsm_roundtrip(x: np.ndarray, rate: int) -> np.ndarray:
    import pedalboard

    y = pedalboard.GSMFullRateCompressor()(x[None, :], rate, reset=True)
    return np.asarray(y, dtype=np.float32).reshape(-1)


# ---------------------------------------------------------------------------- alignment


@functools.lru_cache(maxsize=1)
def _probe() -> np.ndarray:
    """A fixed speech-like probe, float32 (PROBE_SECONDS * 16000,): voiced syllables with sharp onsets.

    Each syllable has its own gliding pitch and spectral tilt, harmonics below 3.4 kHz only
    (so that every codec, the 8 kHz ones and the lowest bit rates included, keeps it), and
    starts from silence: the onsets fix the coarse alignment where a CELP codec (AMR-NB)
    keeps the pitch but not the waveform's phase.
    """
    rng = np.random.default_rng(PROBE_SEED)
    n = int(PROBE_SECONDS * SAMPLE_RATE)
    x = np.zeros(n)
    start = int(0.03 * SAMPLE_RATE)
    while start < n:
        length = min(int(rng.uniform(0.08, 0.2) * SAMPLE_RATE), n - start)
        t = np.arange(length) / SAMPLE_RATE
        f0 = rng.uniform(100, 220) * (1 + 0.3 * t)
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi)
        peak = rng.uniform(400, 900)
        harmonics = range(1, int(3400 / f0.max()) + 1)
        syllable = sum(np.exp(-0.5 * ((k * f0.mean() - peak) / 600) ** 2) * np.sin(k * phase) / k for k in harmonics)
        ramp = np.minimum(1.0, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.005 * SAMPLE_RATE))
        x[start:start + length] = syllable * ramp
        start += length + int(rng.uniform(0.04, 0.1) * SAMPLE_RATE)
    return (0.4 * x / np.max(np.abs(x))).astype(np.float32)


ENVELOPE_SAMPLES = 16  # 1 ms moving average of |x|: the envelope used for the coarse alignment
FINE_SAMPLES = 40  # the waveform peak is looked for within 2.5 ms of the envelope's


def estimate_lag(y: np.ndarray, x: np.ndarray, max_lag: int = MAX_DELAY) -> int:
    """The lag in [-max_lag, max_lag] samples by which ``y`` follows ``x`` (``y[t + lag] ~ x[t]``).

    Two stages: the peak of the cross-correlation of the two amplitude envelopes (robust to
    codecs that change the waveform's phase), then the peak of the waveform cross-correlation
    within :data:`FINE_SAMPLES` of it (sample-exact where the waveform is kept).
    """
    from numpy.fft import irfft, rfft

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    size = 1 << int(np.ceil(np.log2(len(x) + len(y) + max_lag)))

    def xcorr(a, b):
        return irfft(rfft(a, size) * np.conj(rfft(b, size)), size)

    def envelope(a):
        e = np.convolve(np.abs(a), np.ones(ENVELOPE_SAMPLES) / ENVELOPE_SAMPLES, "same")
        return e - e.mean()

    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    c = xcorr(envelope(y), envelope(x))
    coarse = int(lags[np.argmax(c[lags])])
    near = np.arange(max(-max_lag, coarse - FINE_SAMPLES), min(max_lag, coarse + FINE_SAMPLES) + 1)
    c = xcorr(y, x)
    return int(near[np.argmax(c[near % size])])


_DELAYS: dict = {}  # (codec, setting) -> delay in samples, measured in this process (see codec_delays)


def codec_delay(codec: str, setting: float | None = None) -> int:
    """The codec's delay at 16 kHz in samples (decoded[t + delay] ~ input[t]), measured once per process."""
    spec = require_codec(codec)
    key = (codec, spec.check_setting(setting))
    if key not in _DELAYS:
        probe = _probe()
        _DELAYS[key] = estimate_lag(_roundtrip(probe, spec, key[1]), probe, MAX_DELAY)
    return _DELAYS[key]


def codec_delays(conditions) -> dict:
    """Measure now the delays of ``(codec, setting)`` pairs; returns ``{(codec, setting): delay}``.

    Call it before DataLoader workers start, so forked workers inherit the measurements; hand
    the result to :func:`restore_codec_delays` in a process started otherwise (spawn).
    """
    return {(name, CODECS[name].check_setting(setting)): codec_delay(name, setting) for name, setting in conditions}


def restore_codec_delays(delays: dict) -> None:
    """Put delays measured by :func:`codec_delays` in another process into this process's table."""
    _DELAYS.update(delays)
