"""Audio in: decoding anything to float32 mono 16 kHz, and finding the audio files a user names.

- :mod:`.constants`: :data:`SAMPLE_RATE`, the one rate of every waveform inside the package,
  and the limits on what is accepted;
- :mod:`.decode`: :func:`load_audio`, :func:`stream_audio` (block by block, flat memory),
  :func:`prepare_waveform` (arrays), :func:`resample`;
- :mod:`.readers`: the libsndfile and FFmpeg readers and the header checks behind them;
- :mod:`.headers`: what a file's bytes say about its length, so that no header hides audio;
- :mod:`.files`: :func:`expand_inputs` (files, folders, glob patterns) and :func:`audio_files`.
"""

from .constants import MIN_SECONDS, SAMPLE_RATE, AudioSource
from .decode import check_limits, load_audio, prepare_waveform, resample, source_name, stream_audio
from .files import AUDIO_EXTENSIONS, audio_files, expand_inputs

__all__ = ["AUDIO_EXTENSIONS", "MIN_SECONDS", "SAMPLE_RATE", "AudioSource", "audio_files", "check_limits",
           "expand_inputs", "load_audio", "prepare_waveform", "resample", "source_name", "stream_audio"]
