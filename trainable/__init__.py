"""Pure-PyTorch training core of a sweep trial: data, models, optimizers, the loop, checkpoints.

Nothing here imports Ray except :mod:`trainable.tune_adapter`, so the same loop runs (and is
benchmarked) on a machine with only PyTorch. Importing the package does not import torch:
``TrialConfig`` checks a config without it, and ``TrainingRun`` imports it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainable.config import TrialConfig, TrialConfigError

if TYPE_CHECKING:
    from trainable.run import TrainingRun

__all__ = ["TrainingRun", "TrialConfig", "TrialConfigError"]


def __getattr__(name: str) -> object:
    if name == "TrainingRun":
        from trainable.run import TrainingRun

        return TrainingRun
    raise AttributeError(f"module 'trainable' has no attribute {name!r}")
