"""Tests for trainable.user_code: a user's code by ``module:attr`` or ``file.py:attr``, and the
one-line errors that name the user's file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from trainable import models, user_code
from trainable.user_code import UserCodeError

MODEL = """\
from torch import nn


class Tiny(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(x)


def make():
    return Tiny(3)


WIDTH = 8
"""


def _on_sys_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Puts ``folder`` first on ``sys.path`` until the test ends, as an installed package is."""
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])


def _error(reference: str, what: str = "model") -> str:
    with pytest.raises(UserCodeError) as info:
        user_code.load(reference, what)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_file_path_loads_its_attribute(user_file) -> None:
    path = user_file("tiny_model.py", MODEL)
    cls = user_code.load(f"{path}:Tiny", "model")
    assert cls.__name__ == "Tiny" and issubclass(cls, nn.Module)
    assert cls.__module__ == "tiny_model"
    # Loaded once: a second load is the same module, not a second copy of its classes.
    assert user_code.load(f"{path}:make", "model")().__class__ is cls


def test_a_relative_file_path_loads_from_the_current_folder(user_file, monkeypatch) -> None:
    path = user_file("tiny_model.py", MODEL)
    monkeypatch.chdir(path.parent)
    assert user_code.load("tiny_model.py:Tiny", "model").__name__ == "Tiny"


def test_a_module_path_loads_its_attribute(user_file, monkeypatch) -> None:
    path = user_file("tiny_module.py", MODEL)
    _on_sys_path(monkeypatch, path.parent)
    assert user_code.load("tiny_module:Tiny", "model").__name__ == "Tiny"
    assert user_code.load("trainable.models:mlp", "model") is models.mlp
    assert user_code.load("torch.nn:Linear", "model") is nn.Linear


def test_a_dotted_attribute_is_followed(user_file) -> None:
    path = user_file("nested_attr.py", "class Outer:\n    class Inner:\n        pass\n")
    assert user_code.load(f"{path}:Outer.Inner", "model").__qualname__ == "Outer.Inner"


def test_a_file_imports_its_sibling_module(user_file) -> None:
    user_file("sibling_layers.py", "WIDTH = 7\n")
    path = user_file("uses_sibling.py", "from sibling_layers import WIDTH\n\ndef width():\n"
                     "    return WIDTH\n")  # fmt: skip
    assert user_code.load(f"{path}:width", "model")() == 7


def test_a_missing_absolute_file_falls_back_to_the_module_shipped_to_workers(
    user_file, monkeypatch, tmp_path
) -> None:
    """A worker on another node has no such path; Ray's runtime env ships the file as a module."""
    path = user_file("shipped_model.py", MODEL)
    _on_sys_path(monkeypatch, path.parent)
    elsewhere = tmp_path / "on" / "the" / "driver" / "shipped_model.py"
    assert user_code.load(f"{elsewhere}:Tiny", "model").__name__ == "Tiny"


def test_a_missing_file_is_named(tmp_path) -> None:
    missing = tmp_path / "absent_model.py"
    assert _error(f"{missing}:Net") == f"model file not found: {missing}"
    assert _error("no/such/relative_model.py:Net") == (
        "model file not found: no/such/relative_model.py"
    )


def test_a_missing_module_says_how_to_name_a_file() -> None:
    assert _error("no_such_module_here:Net", "dataset") == (
        "dataset module 'no_such_module_here' not found (not installed, and not in the current "
        "folder); or name a file: path/to/file.py:attr"
    )


def test_a_missing_attribute_lists_what_the_module_has(user_file) -> None:
    path = user_file("tiny_model.py", MODEL)
    assert _error(f"{path}:Small") == (
        f"model '{path}:Small': tiny_model has no attribute 'Small'; it has: Tiny, WIDTH, make, nn"
    )


def test_an_attribute_that_is_not_callable_is_refused(user_file) -> None:
    path = user_file("tiny_model.py", MODEL)
    message = _error(f"{path}:WIDTH")
    assert message.startswith(f"model '{path}:WIDTH' is a")
    assert message.endswith("int, not a callable (a class or function)")


def test_a_syntax_error_names_the_users_file_and_line(user_file) -> None:
    path = user_file("broken_syntax.py", "import math\n\n\ndef net(:\n    pass\n")
    message = _error(f"{path}:net")
    assert message.startswith(f"model file {path} raised SyntaxError: ")
    assert message.endswith(f"({path}:4)")
    assert "broken_syntax" not in sys.modules  # a later, fixed load starts afresh


def test_an_exception_at_import_names_the_users_file_and_line(user_file) -> None:
    path = user_file("raises_on_import.py", "import math\n\nROOT = math.sqrt(4)\n"
                     "raise RuntimeError('no GPU here\\nsecond line')\n")  # fmt: skip
    assert _error(f"{path}:ROOT") == (
        f"model file {path} raised RuntimeError: no GPU here ({path}:4)"
    )


def test_a_failing_import_inside_the_users_file_names_the_file(user_file) -> None:
    path = user_file("bad_import.py", "x = 1\nimport not_a_real_module_xyz\n")
    assert _error(f"{path}:x") == (
        f"model file {path} raised ModuleNotFoundError: No module named "
        f"'not_a_real_module_xyz' ({path}:2)"
    )


def test_an_exception_importing_a_users_module_names_its_file_and_line(
    user_file, monkeypatch
) -> None:
    path = user_file("raising_module.py", "\n\nraise KeyError('config.yaml')\n")
    _on_sys_path(monkeypatch, path.parent)
    assert _error("raising_module:Net") == (
        f"model module raising_module raised KeyError: 'config.yaml' ({path}:3)"
    )


def test_a_file_name_that_is_not_a_module_name_is_refused(user_file) -> None:
    path = user_file("my-model.py", MODEL)
    assert "'my-model' is not a Python module name; rename the file" in _error(f"{path}:Tiny")


def test_a_file_whose_name_a_module_already_has_is_refused(user_file) -> None:
    path = user_file("json.py", MODEL)
    message = _error(f"{path}:Tiny")
    assert message.startswith(f"model file {path}: the module name 'json' is taken by ")
    assert message.endswith("; rename the file")


@pytest.mark.parametrize("text", ["mlp", "module:", ":attr", "module:1st", "a.py:b-c"])
def test_a_reference_spelled_wrong_says_how_to_spell_it(text: str) -> None:
    assert _error(text) == (
        f"{text!r} is not an import path; write package.module:attr or path/to/file.py:attr"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mlp", False),
        ("digits", False),
        ("data.parquet", False),
        ("s3://bucket/data.parquet", False),
        ("file:///data/table.csv", False),
        ("pkg.mod:attr", True),
        ("path/to/file.py:attr", True),
    ],
)
def test_is_reference(text: str, expected: bool) -> None:
    assert user_code.is_reference(text) is expected


def test_normalize_makes_a_file_path_absolute_and_leaves_a_module_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert user_code.normalize("models/net.py:Net") == f"{tmp_path.resolve()}/models/net.py:Net"
    assert user_code.normalize("~/net.py:Net") == f"{Path.home().resolve()}/net.py:Net"
    assert user_code.normalize("pkg.models:Net") == "pkg.models:Net"
    with pytest.raises(UserCodeError, match="is not an import path"):
        user_code.normalize("net.py")


def test_reference_of_a_module_level_class_or_function_loads_it_back(user_file) -> None:
    assert user_code.reference_of(nn.Linear, "model") == "torch.nn.modules.linear:Linear"
    assert user_code.reference_of(models.mlp, "model") == "trainable.models:mlp"
    path = user_file("tiny_model.py", MODEL)
    cls = user_code.load(f"{path}:Tiny", "model")
    reference = user_code.reference_of(cls, "model")
    assert reference == f"{path.resolve()}:Tiny"  # a module beside the user's code: by path
    assert user_code.load(reference, "model") is cls
    assert user_code.reference_of("already:a_reference", "model") == "already:a_reference"


def test_reference_of_a_nested_function_or_a_lambda_is_refused() -> None:
    def local_model():
        return nn.Linear(2, 2)

    for obj in (local_model, lambda: nn.Linear(2, 2)):
        with pytest.raises(UserCodeError) as info:
            user_code.reference_of(obj, "model")
        assert "is not a module-level class or function; define it at the top level" in str(
            info.value
        )
        assert "\n" not in str(info.value)


def test_reference_of_a_non_callable_is_refused() -> None:
    with pytest.raises(UserCodeError, match="is not a module-level class or function"):
        user_code.reference_of(nn.Linear(2, 2).weight, "model")


def test_reference_of_an_object_of_a_script_names_the_scripts_file(user_file) -> None:
    script = user_file(
        "sweep_script.py",
        "from trainable import user_code\n\nclass Net:\n    pass\n\n"
        "print(user_code.reference_of(Net, 'model'))\n",
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    assert result.stdout.strip() == f"{script.resolve()}:Net"


def test_reference_of_an_object_of_an_interactive_session_is_by_value() -> None:
    code = (
        "from trainable import by_value, user_code\nclass Net:\n    pass\n"
        "reference = user_code.reference_of(Net, 'model')\n"
        "print(reference, user_code.load(reference, 'model') is Net)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "__main__:Net True"


def test_source_file_is_none_for_installed_code_and_the_file_for_a_users(
    user_file, monkeypatch
) -> None:
    assert user_code.source_file("optuna.samplers:TPESampler") is None
    assert user_code.source_file("torch.nn:Linear") is None
    assert user_code.source_file("trainable.models:mlp") is None  # this project's own
    path = user_file("tiny_model.py", MODEL)
    assert user_code.source_file(f"{path}:Tiny") == path
    _on_sys_path(monkeypatch, path.parent)
    assert user_code.source_file("tiny_model:Tiny") == path


def test_source_file_is_none_for_the_standard_library() -> None:
    """Also from a virtual environment, whose sys.prefix is not where the standard library is."""
    assert user_code.source_file("json:loads") is None
    assert user_code.source_file("collections.abc:Mapping") is None


def test_source_file_of_a_users_package_is_its_folder(user_file, monkeypatch, tmp_path) -> None:
    (tmp_path / "my_pkg").mkdir()
    user_file("my_pkg/__init__.py", "")
    user_file("my_pkg/nets.py", MODEL)
    _on_sys_path(monkeypatch, tmp_path)
    assert user_code.source_file("my_pkg.nets:Tiny") == tmp_path / "my_pkg"


def test_raised_names_the_innermost_frame_of_the_users_code(user_file) -> None:
    path = user_file("calls_torch.py", "from torch import nn\n\ndef build():\n"
                     "    return nn.Linear(-1, 2)\n")  # fmt: skip
    build = user_code.load(f"{path}:build", "model")
    try:
        build()
    except Exception as err:
        error = user_code.raised("model", f"{path}:build", err)
    message = str(error)
    assert message.startswith(f"model {path}:build raised RuntimeError: ")
    assert message.endswith(f"({path}:4)")  # not torch's own frame inside nn.Linear
    assert "\n" not in message


def test_where_in_a_formatted_traceback_finds_the_users_frame(user_file) -> None:
    path = user_file("calls_torch.py", "x = 1\n")
    text = (
        "Traceback (most recent call last):\n"
        f'  File "{user_code.PACKAGE_ROOTS[0]}/run.py", line 40, in __init__\n'
        f'  File "{path}", line 12, in __init__\n'
        f'  File "{Path(nn.__file__).parent}/modules/linear.py", line 99, in __init__\n'
        "RuntimeError: bad size\n"
    )
    assert user_code.where_in(text) == f"{path}:12"
    assert user_code.where_in(text.replace(str(path), "<string>")) is None
