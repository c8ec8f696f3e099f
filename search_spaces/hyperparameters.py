"""The names a search space may propose: the training loop's, and the model factory's parameters.

The loop's hyperparameters are ``trainable.config.TrialConfig``'s searchable fields, with the
``suggest_*`` type and bounds each must have; a model's are the parameters of its factory's
signature (all but those the data fills), so a user's ``dropout`` or ``width`` is searchable
as it is declared. Nothing else is kept by hand: a name neither takes is a typo in the space.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from trainable import factory
from trainable.config import CHOICES as TRAINABLE_CHOICES

OPTIMIZERS = TRAINABLE_CHOICES["optimizer"]
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")
ACTIVATIONS = TRAINABLE_CHOICES["activation"]
ACTIVATION = factory.ACTIVATION

# The suggest_* types each of the loop's hyperparameters may have: the trainable builds
# optimizers from names and batches from ints, so e.g. a float batch_size would only fail
# inside a worker. A categorical one's values are checked as the trial config's.
LOOP = {
    "optimizer": ("categorical",),
    "lr": ("float", "categorical"),
    "gamma": ("float", "categorical"),
    "momentum": ("float", "categorical"),
    "weight_decay": ("float", "categorical"),
    "batch_size": ("int", "categorical"),
}
KINDS = ("categorical", "float", "int")


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
    "batch_size": Bounds(1),
    # Model parameters whose names say what they are, whichever model takes them: a width or
    # depth below one, or a dropout probability of one, cannot train.
    "hidden_size": Bounds(1),
    "num_layers": Bounds(1),
    "dropout": Bounds(0, 1, high_open=True),
}


@dataclass(frozen=True)
class Vocabulary:
    """What one sweep's space may propose, and the ``suggest_*`` types each name admits.

    ``model`` maps the model's parameters to the types their annotations or defaults allow
    (all three where they say nothing; none for a sequence, which Optuna cannot propose);
    ``open_ended``: the factory takes ``**kwargs``.
    """

    model_name: str
    model: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    open_ended: bool = False

    @classmethod
    def of(cls, model: str) -> Vocabulary:
        """The vocabulary of the loop and of ``model`` (a registered name or import path)."""
        fn = factory.resolve(model)
        params = factory.searchable(fn)
        kinds = {name: _kinds(name, p) for name, p in params.items() if name not in LOOP}
        return cls(model, kinds, factory.takes_any_keyword(fn))

    @property
    def names(self) -> list[str]:
        return [*LOOP, *(name for name in self.model if name not in LOOP)]

    def knows(self, name: str) -> bool:
        return name in LOOP or name in self.model or self.open_ended

    def kinds(self, name: str) -> tuple[str, ...]:
        if name in LOOP:
            return LOOP[name]
        return self.model.get(name, KINDS)

    def unknown(self, name: str) -> str:
        """Why ``name`` cannot be searched, listing what can."""
        from search_spaces.errors import suggest

        return (
            f"unknown hyperparameter {name!r}: neither the training loop nor model "
            f"{self.model_name} takes it{suggest(name, self.names)}"
        )


def choices_of(name: str) -> tuple[str, ...] | None:
    """The admissible values of a categorical name we own (optimizer, activation), or None."""
    if name == "optimizer":
        return OPTIMIZERS
    if name == ACTIVATION:
        return ACTIVATIONS
    return None


def valid_choice(name: str, value: object) -> bool:
    """Whether ``value`` is admissible for ``name``; any torch.optim optimizer is (imports
    torch only for an optimizer beyond the seven named in ``trainable.config``)."""
    valid = choices_of(name)
    if valid is None or value in valid:
        return True
    if name == "optimizer" and isinstance(value, str):
        from trainable.optim import optimizer_names

        return value in optimizer_names()
    return False


def _kinds(name: str, parameter: inspect.Parameter) -> tuple[str, ...]:
    """The suggest_* types a parameter's annotation, or else its default, admits (a float
    parameter takes ints too; a bool or str one, only categorical values)."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        types = set(re.findall(r"[A-Za-z_]\w*", annotation))
    elif isinstance(annotation, type) and annotation is not inspect.Parameter.empty:
        types = {annotation.__name__}
    else:
        types = {type(parameter.default).__name__}
    if types & {"Sequence", "tuple", "list", "dict", "Mapping"}:
        return ()  # Optuna proposes scalars only; such a parameter is set in model_args
    if name == ACTIVATION or (types & {"bool", "str"} and not types & {"int", "float"}):
        return ("categorical",)
    if "float" in types:
        return ("float", "int", "categorical")
    if "int" in types:
        return ("int", "categorical")
    return KINDS
