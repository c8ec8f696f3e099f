"""One epoch's result: what :meth:`trainable.run.TrainingRun.step` returns, typed.

Ray takes a trial's result as a plain dict (:meth:`EpochResult.as_dict`); the sweep's record
stores the same fields per epoch, and :meth:`EpochResult.of` reads one back from either. This
module imports no torch, so the driver reads results without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

# Absent from a mapping written before they were reported; what they then read as.
OPTIONAL = {"train_rows": None, "done": False}


@dataclasses.dataclass(frozen=True)
class EpochResult:
    """The metrics of one epoch of one trial, after its validation pass.

    ``lr`` is the learning rate the epoch trained with; ``best_val_loss`` and ``best_epoch`` are
    the best validation loss so far (this epoch's included) and its epoch; ``diverged`` is set
    when a training or validation loss is NaN or infinite. ``done`` says the result ended the
    trial: from :class:`~trainable.run.TrainingRun`, it diverged or trained its last epoch; in
    the sweep's record, the sweep's decision on it was to stop it (ASHA, the stopper, or the
    trial itself).
    """

    FIELDS: ClassVar[tuple[str, ...]]  # the field names, in order

    epoch: int
    train_loss: float
    train_acc: float
    train_rows: int | None  # rows the epoch trained on (None in records older than it)
    val_loss: float
    val_acc: float
    lr: float
    best_val_loss: float
    best_epoch: int
    diverged: bool
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in order: a plain dict, as Ray takes a result."""
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> EpochResult:
        """The result in ``mapping`` (Ray's result dict, or an epoch of the sweep's record):
        keys beyond the fields are ignored; ``train_rows`` and ``done``, absent from older
        records, read as None and False. A KeyError names any other field that is missing."""
        missing = [name for name in cls.FIELDS if name not in mapping and name not in OPTIONAL]
        if missing:
            raise KeyError(f"an epoch's result lacks {', '.join(missing)}")
        return cls(**{name: mapping.get(name, OPTIONAL.get(name)) for name in cls.FIELDS})


EpochResult.FIELDS = tuple(field.name for field in dataclasses.fields(EpochResult))
