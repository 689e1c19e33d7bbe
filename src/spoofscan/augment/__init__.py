"""Audio augmentation and channel simulation: one signal chain for the corpus builder, training
and the robustness report.

One module per family of effects (in the manner of lhotse's ``augmentation/``):

- :mod:`.codecs`: round trips through MP3, AAC, Opus, Vorbis, G.722, G.711 mu-law and A-law,
  GSM 06.10 and AMR-NB (PyAV's FFmpeg, libsndfile, pedalboard), time-aligned with the input;
- :mod:`.channel`: band-limiting through 8 kHz, equaliser, clipping, gain, level;
- :mod:`.rawboost`: RawBoost's three algorithms and their eight combinations (hand-written);
- :mod:`.noise`: white, pink, brown, babble-like or the user's noise at a chosen SNR;
- :mod:`.reverb`: simulated rooms (pyroomacoustics) or the user's impulse responses;
- :mod:`.specaugment`: time and frequency masks on a batch of features (torch);
- :mod:`.effects`: one class per effect of the chain (:class:`ReverbAugment`, :class:`NoiseAugment`...):
  its settings, and ``effect(wave, rng)``, which draws them and applies the function above;
- :mod:`.chain`: :class:`AugmentConfig` and :class:`Augmenter`, the chain used in training.

Every waveform effect takes a float array ``(samples,)`` at 16 kHz in [-1, 1] and returns one
of the same length and dtype, finite and within [-1, 1]. Effects that draw anything take a
``numpy.random.Generator``, and nothing else is random, so an effect is exactly repeatable
from its arguments. Only :mod:`.specaugment` needs torch (imported when called).
"""

from .base import SAMPLE_RATE, AudioFolder
from .chain import AUGMENT_PRESETS, AugmentConfig, Augmenter, augment_config
from .channel import band_limit, clip, equalize, gain, random_eq_bands, set_level
from .codecs import (CODECS, aac, amr_nb, available_codecs, codec_roundtrip, g722, gsm, mp3, opus, parse_codec,
                     telephone_alaw, telephone_mulaw, vorbis)
from .effects import (EFFECT_ORDER, EFFECTS, ClipAugment, CodecAugment, Effect, EqAugment, GainAugment,
                      NarrowbandAugment, NoiseAugment, RawBoostAugment, ReverbAugment)
from .noise import NOISE_KINDS, add_noise, babble, coloured_noise, mix_at_snr
from .rawboost import RAWBOOST_ALGOS, RawBoostParams, apply_rawboost
from .reverb import ROOMS, convolve, reverberate
from .specaugment import SpecAugmentConfig, spec_augment

__all__ = [
    "SAMPLE_RATE", "AudioFolder", "AUGMENT_PRESETS", "EFFECT_ORDER", "EFFECTS", "Effect", "AugmentConfig", "Augmenter",
    "ClipAugment", "CodecAugment", "EqAugment", "GainAugment", "NarrowbandAugment", "NoiseAugment", "RawBoostAugment",
    "ReverbAugment", "SpecAugmentConfig", "augment_config", "band_limit", "clip", "equalize", "gain",
    "random_eq_bands", "set_level", "CODECS", "aac", "amr_nb", "available_codecs", "codec_roundtrip", "g722", "gsm",
    "mp3", "opus", "parse_codec", "telephone_alaw", "telephone_mulaw", "vorbis", "NOISE_KINDS", "add_noise",
    "babble", "coloured_noise", "mix_at_snr", "RAWBOOST_ALGOS", "RawBoostParams", "apply_rawboost", "ROOMS", "convolve",
    "reverberate", "spec_augment",
]
