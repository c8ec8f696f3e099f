"""Compile a YAML search space (``params:`` of name -> distribution) into a define-by-run space.

Everything is validated when the space is compiled, so a bad file fails before any trial runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import yaml

from search_spaces.errors import SpaceError, suggest
from search_spaces.hyperparameters import Vocabulary
from search_spaces.params import Param, parse_param

TOP_LEVEL_KEYS = ("params",)


def load_file(path: str, vocabulary: Vocabulary | None = None) -> Callable[[optuna.Trial], None]:
    """Read, parse and compile the YAML search space at ``path`` (see :func:`compile_space`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"search space file not found: {path}") from None
    except OSError as exc:
        raise SpaceError(f"cannot read search space file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpaceError(f"search space file {path} is not UTF-8 text") from None
    try:
        spec = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise SpaceError(_syntax_message(path, exc)) from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"{path}: invalid YAML: {_one_line(str(exc))}") from None
    return compile_space(spec, source=path, vocabulary=vocabulary)


def compile_space(
    spec: Any, source: str = "<dict>", vocabulary: Vocabulary | None = None
) -> Callable[[optuna.Trial], None]:
    """Validate an already-parsed spec and return its define-by-run space function.

    Its names are checked against ``vocabulary``: the loop's and the model's (by default, the
    built-in MLP's).
    """
    vocabulary = vocabulary or Vocabulary.of("mlp")
    if not isinstance(spec, dict):
        raise SpaceError(
            f"{source}: a search space must be a mapping with a 'params' key,"
            f" got {type(spec).__name__}"
        )
    for key in spec:
        if key not in TOP_LEVEL_KEYS:
            raise SpaceError(
                f"{source}: unknown top-level key {key!r}{suggest(key, TOP_LEVEL_KEYS)}"
            )
    raw_params = spec.get("params")
    if not isinstance(raw_params, dict) or not raw_params:
        raise SpaceError(f"{source}: 'params' must be a non-empty mapping of name -> spec")
    params: dict[str, Param] = {}
    for name, raw in raw_params.items():
        params[name] = parse_param(name, raw, params, source, vocabulary)
    return _space_function(tuple(params.values()), source)


def _space_function(params: tuple[Param, ...], source: str) -> Callable[[optuna.Trial], None]:
    def space(trial: optuna.Trial) -> None:
        chosen: dict[str, Any] = {}
        for param in params:
            if param.applies(chosen):
                chosen[param.name] = param.suggest(trial)

    space.__doc__ = f"Search space compiled from {source}."
    return space


def _syntax_message(path: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
    return f"{where}: invalid YAML: {_one_line(problem)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
