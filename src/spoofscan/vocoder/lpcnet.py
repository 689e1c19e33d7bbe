"""LPCNet (Valin and Skoglund 2019), the neural vocoder compiled into Codec 2's library, through ctypes.

Debian's ``libcodec2-1.0`` (LGPL-2.1) carries a trained LPCNet (the FreeDV 2020 model) and exports
its C API: ``lpcnet_dump`` (analysis: 20 features per 10-ms frame) and ``lpcnet_synthesize`` (the
WaveRNN-style network that makes 16 kHz samples from them), and the 1733 bit/s speech codec built
on both (``lpcnet_enc`` / ``lpcnet_dec``). Two copy-syntheses of a real clip come from it:

- :func:`copy_synthesis`: analysis then synthesis, unquantised features (pitch correlation
  features cleared, as the library's decoder does);
- :func:`codec_roundtrip`: through the quantised 1733 bit/s codec (``vq_type`` 1, direct split
  vector quantisation; type 0 garbles the output of this model).

Audio: 16 kHz mono; a clip is processed in whole frames (160 samples for the features, 480 for
the codec) and the tail is padded with silence, then cut, so the output has the input's length.

LPCNet samples each output value from the network's distribution with random numbers from a
generator whose state is a static variable of the library and from libc's ``rand``: two calls in
one process gave different audio, and so did one call after another library had drawn from
``rand``. Each function therefore runs in a forked child (:func:`spoofscan.child.call_in_child`)
that starts from the library's initial state with ``rand`` reseeded, so the output depends only
on the input.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from ..child import call_in_child
from ..errors import SpoofscanError

LIBRARY = "codec2"  # libcodec2.so.1.0 (Debian package libcodec2-1.0)
FRAME = 160  # samples per feature frame (10 ms at 16 kHz)
FEATURES = 64  # floats in the feature buffer (55 used)
PITCH_CORRELATION = slice(18, 36)  # features the decoder clears before synthesis
CODEC_VQ_TYPE = 1  # direct split VQ (0, predictive, garbles this model's output)

_FLOATS = ctypes.POINTER(ctypes.c_float)
_SHORTS = ctypes.POINTER(ctypes.c_short)


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The loaded Codec 2 library with LPCNet's functions declared; SpoofscanError when it (or
    LPCNet in it) is missing."""
    path = ctypes.util.find_library(LIBRARY)
    try:
        lib = ctypes.CDLL(path or "libcodec2.so.1.0")
        lib.lpcnet_dump_create.restype = ctypes.c_void_p
    except (OSError, AttributeError):
        raise SpoofscanError("the LPCNet neural vocoder comes with Codec 2's library, not found here (or built "
                             "without LPCNet): apt-get install libcodec2-1.0") from None
    lib.lpcnet_dump_destroy.argtypes = [ctypes.c_void_p]
    lib.lpcnet_create.restype = ctypes.c_void_p
    lib.lpcnet_destroy.argtypes = [ctypes.c_void_p]
    lib.lpcnet_dump.argtypes = [ctypes.c_void_p, _FLOATS, _FLOATS]
    lib.lpcnet_synthesize.argtypes = [ctypes.c_void_p, _SHORTS, _FLOATS, ctypes.c_int, ctypes.c_int]
    lib.lpcnet_freedv_create.restype = ctypes.c_void_p
    lib.lpcnet_freedv_create.argtypes = [ctypes.c_int]
    lib.lpcnet_freedv_destroy.argtypes = [ctypes.c_void_p]
    lib.lpcnet_enc.argtypes = [ctypes.c_void_p, _SHORTS, ctypes.c_char_p]
    lib.lpcnet_dec.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _SHORTS]
    lib.lpcnet_bits_per_frame.argtypes = [ctypes.c_void_p]
    lib.lpcnet_samples_per_frame.argtypes = [ctypes.c_void_p]
    return lib


def is_available() -> bool:
    try:
        library()
    except SpoofscanError:
        return False
    return True


def _to_int16(x: np.ndarray, frame: int) -> tuple[np.ndarray, int]:
    """16-bit samples of a float waveform, padded to whole frames; and the original length."""
    pcm = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767), -32768, 32767).astype(np.int16)
    return np.pad(pcm, (0, -len(pcm) % frame)), len(pcm)


def copy_synthesis(x: np.ndarray) -> np.ndarray:
    """LPCNet copy-synthesis of a 16 kHz float32 waveform (samples,): same length, float32."""
    library()  # a missing library is the caller's error, not the child's
    return _from_child(_copy_synthesis, x)


def codec_roundtrip(x: np.ndarray, vq_type: int = CODEC_VQ_TYPE) -> np.ndarray:
    """A 16 kHz float32 waveform through the 1733 bit/s LPCNet codec: same length, float32."""
    library()
    return _from_child(_codec_roundtrip, x, vq_type)


def _from_child(fn, *args) -> np.ndarray:
    """``fn(*args)`` (int16 samples) in a fresh child process, as float32 in [-1, 1)."""
    pcm = np.frombuffer(call_in_child(lambda: fn(*args).tobytes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def _copy_synthesis(x: np.ndarray) -> np.ndarray:
    """Analysis then synthesis in this process: int16 samples (samples,)."""
    lib = library()
    pcm, n = _to_int16(x, FRAME)
    dump, net = lib.lpcnet_dump_create(), lib.lpcnet_create()
    try:
        out = np.zeros(len(pcm), dtype=np.int16)
        features = np.zeros(FEATURES, dtype=np.float32)
        for i in range(0, len(pcm), FRAME):
            frame = np.ascontiguousarray(pcm[i:i + FRAME], dtype=np.float32)
            lib.lpcnet_dump(dump, frame.ctypes.data_as(_FLOATS), features.ctypes.data_as(_FLOATS))
            decoded = features.copy()
            decoded[PITCH_CORRELATION] = 0.0
            lib.lpcnet_synthesize(net, out[i:].ctypes.data_as(_SHORTS), decoded.ctypes.data_as(_FLOATS), FRAME, 0)
    finally:
        lib.lpcnet_dump_destroy(dump)
        lib.lpcnet_destroy(net)
    return out[:n]


def _codec_roundtrip(x: np.ndarray, vq_type: int) -> np.ndarray:
    """Encode and decode in this process: int16 samples (samples,)."""
    lib = library()
    codec = lib.lpcnet_freedv_create(vq_type)
    try:
        frame = lib.lpcnet_samples_per_frame(codec)
        bits = ctypes.create_string_buffer(lib.lpcnet_bits_per_frame(codec))
        pcm, n = _to_int16(x, frame)
        out = np.zeros(len(pcm), dtype=np.int16)
        for i in range(0, len(pcm), frame):
            chunk = np.ascontiguousarray(pcm[i:i + frame])
            lib.lpcnet_enc(codec, chunk.ctypes.data_as(_SHORTS), bits)
            lib.lpcnet_dec(codec, bits, out[i:].ctypes.data_as(_SHORTS))
    finally:
        lib.lpcnet_freedv_destroy(codec)
    return out[:n]
