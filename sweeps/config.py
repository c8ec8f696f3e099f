"""The sweep's configuration: defaults < ``--smoke`` preset < YAML file < command-line flags.

One pydantic model (``SweepConfig``, in ``sweeps.options``) is the single source of truth: the CLI
flags are generated from its fields, YAML keys are its field names, and every value is validated
once, before Ray starts.
"""

from __future__ import annotations

import argparse
import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from search_spaces import SpaceError
from sweeps.options import (
    CREDENTIAL_KEYS,
    LOCAL_FILE_SUFFIXES,
    NAME_PATTERN,
    SAMPLERS,
    SweepConfig,
    parse_arguments,
)
from trainable import TrialConfigError
from trainable.config import first_error
from trainable.sources import DataError
from trainable.user_code import UserCodeError

__all__ = [
    "CREDENTIAL_KEYS",
    "LOCAL_FILE_SUFFIXES",
    "NAME_PATTERN",
    "SAMPLERS",
    "SMOKE",
    "USER_ERRORS",
    "ConfigError",
    "SweepConfig",
    "build_parser",
    "parse",
    "parse_arguments",
    "read_yaml",
    "validate",
]

# What --smoke changes, unless the user set the key: a whole sweep in seconds.
SMOKE = {"num_trials": 3, "max_epochs": 3, "grace_period": 1, "space": "small"}


class ConfigError(ValueError):
    """Bad sweep configuration, described in one line."""


# What a user's input can be wrong with: each is one line, and exit code 2 from the CLI.
USER_ERRORS = (ConfigError, SpaceError, DataError, TrialConfigError, UserCodeError)


def parse(argv: list[str] | None = None) -> SweepConfig:
    """Flags (and ``--config FILE``) to a validated config; raises ConfigError."""
    args = vars(build_parser().parse_args(argv))
    config_file = args.pop("config", None)
    values = read_yaml(config_file) if config_file else {}
    values.update(args)
    return validate(values)


def validate(values: dict[str, Any]) -> SweepConfig:
    """Options (YAML keys, flags or the Python entry point's arguments) to a validated config."""
    if values.get("smoke"):
        values = {**SMOKE, **values}
    unknown = sorted(set(values) - set(SweepConfig.model_fields))
    if unknown:
        raise ConfigError(_unknown_key(unknown[0]))
    try:
        config = SweepConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigError(first_error(err)) from None
    return config.model_copy(update={"name": config.sweep_name})


def read_yaml(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"YAML syntax error in {path}{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of option: value")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m sweeps.run",
        allow_abbrev=False,
        description="Hyperparameter sweep of a PyTorch classifier: Optuna TPE + ASHA on Ray Tune.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file of options; flags win")
    for name, field in SweepConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:
            parser.add_argument(flag, action="store_true", help=field.description)
        else:
            default = field.get_default(call_default_factory=True)
            shown = "" if default in (None, "", {}) else f" [default: {_show(default)}]"
            parser.add_argument(flag, metavar=name.upper(), help=field.description + shown)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse that raises one-line ConfigErrors (with a suggestion) instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        flags = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        wrong = re.findall(r"(--[\w-]+)", message) if "unrecognized" in message else []
        close = difflib.get_close_matches(wrong[0], flags, n=1, cutoff=0.75) if wrong else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{message}{hint}; see --help")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _unknown_key(key: str) -> str:
    valid = list(SweepConfig.model_fields)
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown option {key!r}{hint}; valid: {', '.join(valid)}"
