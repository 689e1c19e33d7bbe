"""The front end: waveform to the spectrogram a model reads, in one config and two implementations.

- :mod:`.config`: :class:`FeatureConfig` (stored in every checkpoint) and the shared matrices;
- :mod:`.phase`: the phase channels (modified group delay, instantaneous-frequency deviation)
  that can be stacked on the magnitude, and their matrices;
- :mod:`.numpy`: :func:`frontend`, the numpy implementation (the torch-free runtime's);
- :mod:`.torch`: :class:`~spoofscan.frontend.torch.Frontend`, the torch module every model owns
  (import it from there: this package does not import torch);
- :mod:`.windows`: where a clip is cut into analysis windows;
- :mod:`.spans`: windows cut from one stretch of audio, and the STFT frames they share (computed
  once by :func:`~spoofscan.frontend.numpy.span_frontend` and ``Frontend.span_features``).
"""

from .config import CHANNELS, FRONTENDS, FeatureConfig
from .numpy import frontend
from .windows import repeat_pad, window_starts

__all__ = ["CHANNELS", "FRONTENDS", "FeatureConfig", "frontend", "repeat_pad", "window_starts"]
