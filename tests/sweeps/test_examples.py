"""Each example runs as its docstring and the README's "Your own model and data" say (cut to a
test's size by appending options), and the README shows the examples' code as it is."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sweeps.run import main

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
SECTION = "## Your own model and data"
CLI, SCRIPT = "python -m sweeps.run ", "python examples/"
TINY = {"num_trials": 2, "max_epochs": 2, "grace_period": 1}


def commands(text: str) -> list[str]:
    """The sweep commands in ``text``: lines (backslash continuations joined) and `code` spans
    that start with ``python -m sweeps.run`` or ``python examples/``."""
    joined = re.sub(r"\\\n\s*", "", text)
    lines = [line.strip() for line in joined.splitlines()]
    spans = re.findall(r"`(python [^`]+)`", joined)
    return [c for c in lines + spans if c.startswith((CLI, SCRIPT))]


def section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index(SECTION)
    return readme[start : readme.index("\n## ", start + len(SECTION))]


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def sized_out(command: str) -> str:
    """The command without the options the test sets: commands differing only there run once."""
    words = shlex.split(command)
    sizes = {f"--{key.replace('_', '-')}" for key in TINY}
    kept = [w for i, w in enumerate(words) if w not in sizes and not (i and words[i - 1] in sizes)]
    return shlex.join(kept)


def sources() -> dict[str, list[str]]:
    """command -> where it is written (example files, README)."""
    found: dict[str, list[str]] = {}
    written = [(p.name, c) for p in EXAMPLES for c in commands(docstring(p))]
    for where, command in [*written, *(("README", c) for c in commands(section()))]:
        found.setdefault(sized_out(command), []).append(where)
    return found


COMMANDS = sources()


def cases(prefix: str) -> list:
    return [pytest.param(c, id=",".join(w)) for c, w in COMMANDS.items() if c.startswith(prefix)]


@pytest.fixture
def ray_tmp():
    """A Ray temp dir for a sweep's own local Ray (short, for its socket paths), removed after."""
    path = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_every_example_says_how_to_run_it():
    for path in EXAMPLES:
        assert commands(docstring(path)), f"{path.name}'s docstring has no command"
    assert {c for c, where in COMMANDS.items() if "README" in where}, "the README has none"


def test_the_readme_shows_the_examples_code_as_it_is():
    blocks = re.findall(r"```python\n# (examples/\S+\.py)\n(.*?)```", section(), re.S)
    assert {name for name, _ in blocks} == {f"examples/{p.name}" for p in EXAMPLES}
    for name, code in blocks:
        assert code in (REPO / name).read_text(), f"the README's {name} differs from the file"


def tiny_flags(storage: Path) -> list[str]:
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    return [*flags, "--storage", str(storage), "--name", "example"]


@pytest.mark.parametrize("command", cases(CLI))
def test_a_cli_command_runs(ray_cluster, tmp_path, monkeypatch, command):
    monkeypatch.chdir(REPO)  # the commands name the examples from the repository root
    args = shlex.split(command)[len(shlex.split(CLI)) :]
    assert main([*args, *tiny_flags(tmp_path)]) == 0
    best = json.loads((tmp_path / "example" / "best.json").read_text())
    assert math.isfinite(best["test_loss"])


# The example's own sweeps.sweep call, with the test's options laid over its keyword arguments.
RUN_TINY = """
import json, runpy, sys
import sweeps
from sweeps import api

script, options = sys.argv[1], json.loads(sys.argv[2])
sweeps.sweep = lambda **kwargs: api.sweep(**{**kwargs, **options})
sys.path.insert(0, str(__import__("pathlib").Path(script).parent))  # as `python script` does
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize("command", cases(SCRIPT))
def test_a_python_script_runs(tmp_path, ray_tmp, command):
    """In a process of its own, as ``python examples/...`` runs (Ray takes its sys.path)."""
    script = REPO / shlex.split(command)[1]
    options = {**TINY, "storage": str(tmp_path), "name": "example"}
    done = subprocess.run(
        [sys.executable, "-c", RUN_TINY, str(script), json.dumps(options)], cwd=REPO,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads((tmp_path / "example" / "best.json").read_text())
    model = f"{REPO / 'examples' / 'my_models.py'}:SmallCNN"  # the module beside it, by path
    assert best["model"] == model and math.isfinite(best["test_loss"])
    assert str(tmp_path / "example") in done.stdout  # what the script prints: results.folder
