"""The model of a trial: a factory by name or import path, its parameters filled by name.

A factory is any callable returning an ``nn.Module`` that gives one score per class: a class
such as ``SmallCNN`` or a function such as :func:`trainable.models.mlp`. Each of its parameters
is filled from, by precedence, the trial's searched hyperparameters, the sweep's fixed
``model_args``, and what the data tells (:data:`DATA_FACTS`); a parameter with a default that
none of them names keeps its default. ``activation`` receives the module factory of the
activation named (the name is what Optuna, TensorBoard and the tables show). Nothing here
imports torch until a model is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trainable import user_code
from trainable.config import CHOICES
from trainable.models import MODELS
from trainable.user_code import UserCodeError

DATA_FACTS = ("num_classes", "input_shape", "num_features")
ACTIVATION = "activation"
ACTIVATION_NAMES = CHOICES[ACTIVATION]


@dataclass(frozen=True)
class DataFacts:
    """What a model may need to know about the data: filled into parameters of these names."""

    num_classes: int
    input_shape: tuple[int, ...]

    @property
    def num_features(self) -> int:
        count = 1
        for size in self.input_shape:
            count *= size
        return count

    def as_arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DATA_FACTS}


def resolve(model: str) -> Callable[..., Any]:
    """The factory of a registered model name or of a ``module:attr`` / ``file.py:attr``."""
    if model in MODELS:
        return user_code.load(MODELS[model], "model")
    if not user_code.is_reference(model):
        raise UserCodeError(
            f"unknown model {model!r}; valid: {', '.join(MODELS)}, "
            "or package.module:attr, or path/to/file.py:attr"
        )
    return user_code.load(model, "model")


def parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The factory's named parameters (``self`` and ``*args`` / ``**kwargs`` left out)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    return {
        name: p
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def takes_any_keyword(factory: Callable[..., Any]) -> bool:
    try:
        kinds = [p.kind for p in inspect.signature(factory).parameters.values()]
    except (TypeError, ValueError):
        return False
    return inspect.Parameter.VAR_KEYWORD in kinds


def searchable(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The parameters a search space may propose: all but those the data fills."""
    return {n: p for n, p in parameters(factory).items() if n not in DATA_FACTS}


def arguments(
    factory: Callable[..., Any],
    reference: str,
    *,
    searched: Mapping[str, Any],
    fixed: Mapping[str, Any],
    facts: DataFacts,
) -> dict[str, Any]:
    """The keyword arguments of one call of ``factory``, an activation still by its name; a
    UserCodeError names what is wrong."""
    named = parameters(factory)
    open_ended = takes_any_keyword(factory)
    for source, values in (("model_args", fixed), ("the search space", searched)):
        unknown = [n for n in values if n not in named and not open_ended]
        if unknown:
            raise UserCodeError(
                f"model {reference} takes no parameter {unknown[0]!r} (set by {source}); "
                f"it takes: {', '.join(named) or '(none)'}"
            )
    data = {n: v for n, v in facts.as_arguments().items() if n in named}
    kwargs = {**data, **fixed, **searched}
    activation = kwargs.get(ACTIVATION)
    if isinstance(activation, str) and activation not in ACTIVATION_NAMES:
        raise UserCodeError(
            f"model {reference}: unknown activation {activation!r}; "
            f"valid: {', '.join(ACTIVATION_NAMES)}"
        )
    missing = [
        n for n, p in named.items() if p.default is inspect.Parameter.empty and n not in kwargs
    ]
    if missing:
        raise UserCodeError(
            f"model {reference}: nothing supplies its parameter {missing[0]!r}; set it in "
            f"--model-args, search it in the space, or give it a default (the data fills "
            f"{', '.join(DATA_FACTS)})"
        )
    return kwargs


def build(
    reference: str,
    *,
    searched: Mapping[str, Any],
    fixed: Mapping[str, Any],
    facts: DataFacts,
) -> Any:
    """The model for one trial; what the user's factory raises is reported with its file:line."""
    factory = resolve(reference)
    kwargs = arguments(factory, reference, searched=searched, fixed=fixed, facts=facts)
    if isinstance(kwargs.get(ACTIVATION), str):
        from trainable.activations import factory as activation_factory

        kwargs[ACTIVATION] = activation_factory(kwargs[ACTIVATION])
    try:
        model = factory(**kwargs)
    except Exception as err:
        raise user_code.raised("model", reference, err) from err
    import torch

    if not isinstance(model, torch.nn.Module):
        raise UserCodeError(
            f"model {reference} returned {user_code.a_kind_of(model)}, not a torch.nn.Module"
        )
    return model
