"""Helpers for the static checks of docker/: read its files, resolve compose's variables the way
compose does, and parse commands with the CLIs that will run them (ours, Ray's, TensorBoard's).
Tests reach them through the ``docker`` fixture (pytest imports test modules by path here, so a
conftest is not importable as a module).

No Docker engine, Kubernetes cluster or network is needed: every check reads files and calls
Python parsers and validators installed with the test extras.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
IMAGE_UID = 1000  # the Dockerfile's `useradd --uid`
TOKEN_SECRET = "ray_token"
# ${VAR}, ${VAR:-default}, ${VAR-default}; $$ is a literal $.
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}")


def read_yaml(name: str) -> Any:
    return yaml.safe_load((DOCKER / name).read_text())


def read_yaml_documents(name: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all((DOCKER / name).read_text()) if doc]


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable substitution, with the defaults written in the file when unset."""
    env = env or {}

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        return env.get(name) or (default if default is not None else "")

    return _VARIABLE.sub(value, text)


def compose_file(*names: str) -> dict[str, Any]:
    """One or more compose files, interpolated and merged as ``docker compose -f a -f b`` does
    (mappings merge key by key, a later scalar or ``command`` wins)."""
    merged: dict[str, Any] = {}
    for name in names:
        merged = _merge(merged, yaml.safe_load(interpolate((DOCKER / name).read_text())))
    return merged


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base[key], value) if key in base and key != "command" else value
        return out
    return override


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a ``sh -c`` script joined by ``&&`` or ``;`` (no quoting tricks
    are used in docker/), with a leading ``exec`` dropped."""
    commands = []
    for part in re.split(r"&&|;", script):
        words = shlex.split(part)
        if words and words[0] == "exec":
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def ray_start_args(words: list[str]) -> list[str]:
    """The arguments of a ``ray start`` command line; fails the test for any other command."""
    assert words[:2] == ["ray", "start"], f"not a ray start command: {shlex.join(words)}"
    return words[2:]


def parse_ray_start(args: list[str]) -> dict[str, Any]:
    """Parse with Ray's own click command, so an unknown flag or a bad value fails here."""
    from ray.scripts.scripts import start

    return start.make_context("start", list(args)).params


def parse_sweep(words: list[str]) -> Any:
    """``python -m sweeps.run ARGS`` through the CLI's own parser and validation."""
    from sweeps.config import parse

    assert words[:3] == ["python", "-m", "sweeps.run"], f"not the sweep CLI: {shlex.join(words)}"
    return parse(words[3:])


@pytest.fixture(scope="session")
def compose_schema() -> dict[str, Any]:
    """The compose-spec JSON schema that check-jsonschema vendors (``--builtin-schema
    vendor.compose-spec``)."""
    path = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def docker() -> SimpleNamespace:
    return SimpleNamespace(
        root=ROOT,
        folder=DOCKER,
        image_uid=IMAGE_UID,
        token_secret=TOKEN_SECRET,
        read_yaml=read_yaml,
        read_yaml_documents=read_yaml_documents,
        interpolate=interpolate,
        compose_file=compose_file,
        argv=argv,
        shell_commands=shell_commands,
        ray_start_args=ray_start_args,
        parse_ray_start=parse_ray_start,
        parse_sweep=parse_sweep,
    )


@pytest.fixture(scope="session")
def engine_module() -> Any:
    """tests/docker/engine.py, imported by path (test modules are not importable here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "sweeps_docker_engine", ROOT / "tests" / "docker" / "engine.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
