"""The hyperparameters the trainable consumes: their names, types and admissible values.

The optimizer and activation names are ``trainable.config``'s (which imports no torch); the
types and bounds mirror ``TrialConfig``'s fields, in the form a space is checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainable.config import CHOICES as TRAINABLE_CHOICES

OPTIMIZERS = TRAINABLE_CHOICES["optimizer"]
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")
ACTIVATIONS = TRAINABLE_CHOICES["activation"]

# The one suggest_* type each hyperparameter may have: the trainable builds layers from ints
# and optimizers from names, so e.g. a float hidden_size would only fail inside a worker.
TYPES = {
    "optimizer": "categorical",
    "activation": "categorical",
    "lr": "float",
    "gamma": "float",
    "momentum": "float",
    "weight_decay": "float",
    "hidden_size": "int",
    "num_layers": "int",
}
HYPERPARAMETERS = frozenset(TYPES)
CHOICES = {"optimizer": OPTIMIZERS, "activation": ACTIVATIONS}


@dataclass(frozen=True)
class Bounds:
    """An interval that a numeric hyperparameter's [low, high] range must lie within."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def admits(self, low: float, high: float) -> bool:
        """Whether every value in [low, high] is admissible."""
        above = low > self.low if self.low_open else low >= self.low
        below = high < self.high if self.high_open else high <= self.high
        return above and below

    def __str__(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"


BOUNDS = {
    "lr": Bounds(0, low_open=True),
    "gamma": Bounds(0, 1, low_open=True),
    "momentum": Bounds(0, 1, high_open=True),
    "weight_decay": Bounds(0),
    "hidden_size": Bounds(1),
    "num_layers": Bounds(1),
}
