"""Training a detector: ``fit(TrainConfig)`` on one CPU, one GPU, or many under ``torchrun``.

- :mod:`.config`: :class:`TrainConfig` (what a run depends on), :func:`load_train_config`, :class:`TrainResult`;
- :mod:`.loop`: :func:`fit`, the epochs, the dev validation and the checkpoints;
- :mod:`.run_folder`: where a run stands (:class:`~.run_folder.RunState`), the resume state and the metrics log;
- :mod:`.distributed`: the process group of a ``torchrun`` launch;
- :mod:`.data`: the training data set (random crops, on-the-fly augmentation) and the
  epoch sampler (balanced, sharded, resumable).
"""

from .config import TrainConfig, TrainResult, load_train_config
from .loop import fit

__all__ = ["TrainConfig", "TrainResult", "fit", "load_train_config"]
