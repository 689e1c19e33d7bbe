"""Reverberation: convolution with a simulated room's impulse response, or with the user's RIR files.

Simulated rooms are shoe boxes from pyroomacoustics' image source model, with wall absorption
set from a drawn RT60 by Sabine's formula (``pyroomacoustics.inverse_sabine``). The room size,
RT60 and the positions of talker and microphone are drawn from the room kind's ranges
(:data:`ROOMS`) with a seed made of the kind and an index, so RIR number ``i`` of a kind is
the same on every machine and run. Simulating one takes 0.1-0.5 s, so each process keeps the
:data:`RIRS_PER_ROOM` RIRs of a kind once made (:func:`room_impulse_response` is cached, and
:meth:`spoofscan.augment.Augmenter.prepare` makes them before DataLoader workers fork).
RT60 is capped at :data:`MAX_RT60` and RIRs at :data:`MAX_RIR_SECONDS`.

Every RIR is aligned on its direct path (its largest peak), so the output is time-aligned
with the input, and scaled to unit energy, so the output keeps roughly the input's level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpoofscanError, choice_error
from .base import SAMPLE_RATE, AudioFolder, check_wave, finish, peak_normalise

MAX_RT60 = 1.0  # seconds: the longest reverberation simulated
MAX_RIR_SECONDS = 1.0  # impulse responses are cut to this length (with a 50 ms fade-out)
RIRS_PER_ROOM = 16  # distinct simulated RIRs per room kind
MAX_ORDER = 30  # image sources up to this reflection order: 10x faster than all, RT60 within ~10 %
WALL_MARGIN = 0.5  # m: talker and microphone stay this far from the walls
MIN_DISTANCE = 0.5  # m: talker-microphone distance at least
FADE_SECONDS = 0.05
ROOM_SEED = 90_210


@dataclass(frozen=True)
class RoomKind:
    """Ranges a simulated room is drawn from: size (m) and RT60 (s)."""

    length: tuple
    width: tuple
    height: tuple
    rt60: tuple


ROOMS = {
    "small": RoomKind(length=(3.0, 5.0), width=(2.5, 4.0), height=(2.4, 3.0), rt60=(0.2, 0.4)),  # office, bedroom
    "medium": RoomKind(length=(5.0, 9.0), width=(4.0, 7.0), height=(2.7, 3.5), rt60=(0.4, 0.7)),  # classroom
    "large": RoomKind(length=(10.0, 20.0), width=(8.0, 15.0), height=(3.5, 6.0), rt60=(0.7, MAX_RT60)),  # hall
}


def simulate_rir(room: str, seed: int) -> np.ndarray:
    """Simulate one RIR of room kind ``room`` (a :data:`ROOMS` key) from ``seed``; float32 (taps,), raw.

    Image source model only (no ray tracing, no random image jitter), so it is deterministic.
    """
    import pyroomacoustics as pra

    if room not in ROOMS:
        raise choice_error("room", room, ROOMS)
    kind = ROOMS[room]
    rng = np.random.default_rng([ROOM_SEED, list(ROOMS).index(room), seed])
    dims = np.array([rng.uniform(*kind.length), rng.uniform(*kind.width), rng.uniform(*kind.height)])
    rt60 = min(rng.uniform(*kind.rt60), MAX_RT60)
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    while True:  # talker and microphone inside, away from the walls and from each other
        source, mic = (rng.uniform(WALL_MARGIN, dims - WALL_MARGIN) for _ in range(2))
        if np.linalg.norm(source - mic) >= MIN_DISTANCE:
            break
    shoebox = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, MAX_ORDER),
                          air_absorption=False, use_rand_ism=False)
    shoebox.add_source(source)
    shoebox.add_microphone(mic)
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], dtype=np.float32)


def prepare_rir(rir: np.ndarray) -> np.ndarray:
    """Align an RIR on its largest peak (the direct path), cut it to :data:`MAX_RIR_SECONDS` with a
    fade-out, scale it to unit energy; float32 (taps,) with the direct path at index 0.

    The samples before the peak are dropped: the talker's time of flight, and the first half
    of the simulator's fractional-delay filter.
    """
    rir = np.asarray(rir, dtype=np.float64).reshape(-1)
    if len(rir) == 0 or not np.isfinite(rir).all() or not np.any(rir):
        raise SpoofscanError("an impulse response must be finite and not all zeros")
    rir = rir[int(np.argmax(np.abs(rir))):][: int(MAX_RIR_SECONDS * SAMPLE_RATE)]
    fade = min(len(rir), int(FADE_SECONDS * SAMPLE_RATE))
    if len(rir) == int(MAX_RIR_SECONDS * SAMPLE_RATE) and fade > 1:
        rir[-fade:] *= np.linspace(1.0, 0.0, fade)
    return (rir / np.sqrt(np.sum(rir ** 2))).astype(np.float32)


_BANK: dict = {}  # (room, index) -> prepared RIR, this process's simulated RIRs (see rir_bank)


def room_impulse_response(room: str, index: int) -> np.ndarray:
    """RIR number ``index`` (0 .. RIRS_PER_ROOM - 1) of room kind ``room``, prepared (:func:`prepare_rir`).

    Simulated on first use, then kept for the life of the process (read-only float32 (taps,)).
    """
    if room not in ROOMS:
        raise choice_error("room", room, ROOMS)
    if not 0 <= index < RIRS_PER_ROOM:
        raise SpoofscanError(f"RIR index must be in 0..{RIRS_PER_ROOM - 1}, got {index}")
    key = (room, int(index))
    if key not in _BANK:
        rir = prepare_rir(simulate_rir(room, index))
        rir.setflags(write=False)
        _BANK[key] = rir
    return _BANK[key]


def rir_bank(rooms) -> dict:
    """Every RIR of the room kinds ``rooms``, simulated now if not yet: ``{(room, index): rir}``.

    Call it before DataLoader workers start, so forked workers inherit the RIRs; hand the
    result to :func:`restore_rir_bank` in a process started otherwise (spawn).
    """
    return {(room, i): room_impulse_response(room, i) for room in rooms for i in range(RIRS_PER_ROOM)}


def restore_rir_bank(bank: dict) -> None:
    """Put RIRs made by :func:`rir_bank` in another process into this process's bank."""
    _BANK.update(bank)


def convolve(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` convolved with a prepared RIR (direct path at index 0); same length and dtype, within [-1, 1]."""
    from scipy.signal import fftconvolve

    x = check_wave(x)
    if len(x) == 0:
        return x.copy()
    y = fftconvolve(x.astype(np.float32), np.asarray(rir, dtype=np.float32))[: len(x)]
    return finish(peak_normalise(y), x)


def reverberate(x: np.ndarray, room: str = "small", rng: np.random.Generator | None = None,
           rirs: AudioFolder | None = None) -> np.ndarray:
    """Reverberate ``x`` in a simulated room of kind ``room``, or with a file from ``rirs``.

    Parameters
    ----------
    x : float array (samples,), 16 kHz, in [-1, 1]
    room : ``small`` (RT60 0.2-0.4 s), ``medium`` (0.4-0.7 s), ``large`` (0.7-1.0 s), see
        :data:`ROOMS`; or ``folder`` to use a file of ``rirs``
    rng : picks which of the kind's :data:`RIRS_PER_ROOM` RIRs (or which file) is used;
        None means ``np.random.default_rng(0)``
    rirs : the user's RIR recordings (for ``room="folder"``), e.g. a folder of measured RIRs

    Returns
    -------
    np.ndarray (samples,), the input's dtype, aligned with ``x`` on the direct path, within [-1, 1]
    """
    rng = np.random.default_rng(0) if rng is None else rng
    if room == "folder":
        if rirs is None:
            raise SpoofscanError("room 'folder' needs a folder of impulse responses (AudioFolder)")
        return convolve(x, prepare_rir(rirs.pick(rng)))
    if room not in ROOMS:
        raise choice_error("room", room, (*ROOMS, "folder"))
    return convolve(x, room_impulse_response(room, int(rng.integers(RIRS_PER_ROOM))))
