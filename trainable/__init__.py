"""Pure-PyTorch training core of a sweep trial: data, models, optimizers, the loop, checkpoints.

Nothing here imports Ray except :mod:`trainable.tune_adapter`, so the same loop runs (and is
benchmarked) on a machine with only PyTorch.
"""

from __future__ import annotations

from trainable.config import TrialConfig, TrialConfigError
from trainable.run import TrainingRun

__all__ = ["TrainingRun", "TrialConfig", "TrialConfigError"]
