"""Training a detector: ``fit(TrainConfig)`` on one CPU, one GPU, or many under ``torchrun``.

- :mod:`.loop`: :class:`TrainConfig`, :func:`fit` and the run folder;
- :mod:`.data`: the training data set (random crops, on-the-fly augmentation) and the
  epoch sampler (balanced, sharded, resumable).
"""

from .loop import TrainConfig, TrainResult, fit, load_train_config

__all__ = ["TrainConfig", "TrainResult", "fit", "load_train_config"]
