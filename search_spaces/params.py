"""One validated parameter of a YAML search space: its distribution and its condition."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from search_spaces.errors import SpaceError, suggest
from search_spaces.hyperparameters import (
    BOUNDS,
    LOOP,
    MOMENTUM_OPTIMIZERS,
    Vocabulary,
    choices_of,
    valid_choice,
)

KEYS = {
    "categorical": ("type", "choices", "when"),
    "float": ("type", "low", "high", "step", "log", "when"),
    "int": ("type", "low", "high", "step", "log", "when"),
}


@dataclass(frozen=True)
class Param:
    """A hyperparameter, suggested only when each earlier param in ``when`` took a listed value."""

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def applies(self, chosen: Mapping[str, Any]) -> bool:
        """Whether the condition holds for the values suggested so far in this trial."""
        return all(dep in chosen and chosen[dep] in values for dep, values in self.when.items())

    def suggest(self, trial: optuna.Trial) -> Any:
        """Suggest this param, passing the name positionally as Ray's captor requires."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)


def parse_param(
    name: Any, raw: Any, earlier: Mapping[str, Param], source: str, vocabulary: Vocabulary
) -> Param:
    """Validate one entry of ``params``; ``earlier`` holds the params defined above it."""
    if not isinstance(name, str) or not vocabulary.knows(name):
        raise SpaceError(f"{source}: {vocabulary.unknown(name)}")
    ctx = f"{source}: param {name!r}"
    if not isinstance(raw, dict):
        raise SpaceError(
            f"{ctx}: spec must be a mapping such as {{type: float, low: 0.1, high: 1}}"
        )
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in KEYS:
        raise SpaceError(f"{ctx}: bad or missing type {kind!r}{suggest(kind, KEYS)}")
    allowed = vocabulary.kinds(name)
    if not allowed:
        raise SpaceError(
            f"{ctx}: the model takes a sequence here, which a search space cannot propose; "
            "set it in model_args"
        )
    if kind not in allowed:
        raise SpaceError(f"{ctx}: must have type {' or '.join(allowed)}, got {kind}")
    for key in raw:
        if key not in KEYS[kind]:
            raise SpaceError(
                f"{ctx}: unknown key {key!r} for type {kind}{suggest(key, KEYS[kind])}"
            )
    when = _parse_when(ctx, raw.get("when"), earlier)
    if name == "momentum":
        _check_momentum(ctx, when, earlier)
    if kind == "categorical":
        return Param(name, kind, choices=_parse_choices(ctx, name, raw.get("choices")), when=when)
    return _parse_numeric(ctx, name, kind, raw, when)


def _parse_choices(ctx: str, name: str, raw: Any) -> tuple[Any, ...]:
    valid = choices_of(name)
    if not isinstance(raw, list) or not raw:
        listed = f"; valid: {', '.join(valid)}" if valid else ""
        raise SpaceError(f"{ctx}: choices must be a non-empty list{listed}")
    for choice in raw:
        if not valid_choice(name, choice):
            every = valid
            if name == "optimizer":  # any torch.optim optimizer: torch, on this error only
                from trainable.optim import optimizer_names

                every = optimizer_names()
            raise SpaceError(f"{ctx}: unknown {name} {choice!r}{suggest(choice, every)}")
        if not isinstance(choice, str | int | float | bool | None):
            raise SpaceError(
                f"{ctx}: choice {choice!r} is not a number, string, bool or null (Optuna's "
                "categorical values)"
            )
    if len(set(raw)) < len(raw):
        raise SpaceError(f"{ctx}: choices must not repeat, got {raw!r}")
    return tuple(raw)


def _parse_numeric(ctx: str, name: str, kind: str, raw: dict, when: dict) -> Param:
    for key in ("low", "high"):
        if key not in raw:
            raise SpaceError(f"{ctx}: missing {key!r}; a {kind} param needs low and high")
    low, high = _number(ctx, "low", raw["low"], kind), _number(ctx, "high", raw["high"], kind)
    step = None if raw.get("step") is None else _number(ctx, "step", raw["step"], kind)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{ctx}: log must be true or false, got {log!r}")
    # Optuna accepts low == high for ints (a constant); a float range must be a real interval.
    if low > high or (kind == "float" and low == high):
        relation = "<=" if kind == "int" else "<"
        raise SpaceError(f"{ctx}: low must be {relation} high, got low={low:g} high={high:g}")
    if log and low <= 0:
        raise SpaceError(f"{ctx}: low must be > 0 when log is true, got {low:g}")
    if step is not None and log:
        raise SpaceError(f"{ctx}: step and log cannot be combined")
    if step is not None and step <= 0:
        raise SpaceError(f"{ctx}: step must be > 0, got {step:g}")
    if name in BOUNDS and not BOUNDS[name].admits(low, high):
        raise SpaceError(f"{ctx}: range [{low:g}, {high:g}] must lie within {BOUNDS[name]}")
    return Param(name, kind, low=low, high=high, step=step, log=log, when=when)


def _number(ctx: str, key: str, raw: Any, kind: str) -> float:
    # YAML 1.1 reads 1e-4 (no dot) as a string, so numeric-looking strings are accepted.
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise SpaceError(f"{ctx}: {key} must be a number, got {raw!r}")
    try:
        number = float(raw)
    except ValueError:
        raise SpaceError(f"{ctx}: {key} must be a number, got {raw!r}") from None
    if not math.isfinite(number):
        raise SpaceError(f"{ctx}: {key} must be finite, got {raw!r}")
    if kind == "int":
        if not number.is_integer():
            raise SpaceError(f"{ctx}: {key} must be a whole number for an int param, got {raw!r}")
        return int(number)
    return number


def _parse_when(ctx: str, raw: Any, earlier: Mapping[str, Param]) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(f"{ctx}: when must be a mapping such as {{optimizer: [momentum]}}")
    when = {}
    for dep, values in raw.items():
        if dep not in earlier:
            where = "not defined above it" if dep in LOOP else "not a param of this space"
            raise SpaceError(f"{ctx}: when refers to {dep!r} ({where}){suggest(dep, earlier)}")
        if earlier[dep].kind != "categorical":
            raise SpaceError(
                f"{ctx}: when may only refer to categorical params; {dep!r} is {earlier[dep].kind}"
            )
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{ctx}: when.{dep} must be a non-empty list of {dep} choices")
        for value in values:
            if value not in earlier[dep].choices:
                raise SpaceError(
                    f"{ctx}: when.{dep} value {value!r} is not a choice of {dep!r}"
                    f"{suggest(value, earlier[dep].choices)}"
                )
        when[dep] = tuple(values)
    return when


def _check_momentum(
    ctx: str, when: Mapping[str, tuple[Any, ...]], earlier: Mapping[str, Param]
) -> None:
    # The trainable ignores momentum for other optimizers, so suggesting it there would only
    # spread the search over a dimension with no effect.
    if "optimizer" not in earlier:
        raise SpaceError(f"{ctx}: momentum needs an 'optimizer' param defined above it")
    possible = when.get("optimizer", earlier["optimizer"].choices)
    stray = [choice for choice in possible if choice not in MOMENTUM_OPTIMIZERS]
    if stray:
        raise SpaceError(
            f"{ctx}: momentum applies only to optimizers {', '.join(MOMENTUM_OPTIMIZERS)};"
            f" add when: {{optimizer: [...]}} excluding {', '.join(stray)}"
        )
