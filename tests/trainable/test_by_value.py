"""Code by value: objects of a notebook or an interactive session named ``__main__:Name``,
serialised for workers and the sweep folder, and found again by every process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from trainable import by_value, user_code
from trainable.user_code import UserCodeError

REPO = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    monkeypatch.setattr(by_value, "_objects", {})


def defined_in_main(name: str, source: str):
    """A class or function as a notebook cell defines it: in ``__main__``, with no file."""
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def test_an_object_of_a_notebook_is_named_in_main_and_loads_in_the_same_process(monkeypatch):
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    scale = defined_in_main("scale", "def scale(x, factor=2):\n    return x * factor\n")
    reference = user_code.reference_of(scale, "model")
    assert reference == "__main__:scale"
    assert user_code.load(reference, "model") is scale
    assert user_code.source_file(reference) is None  # nothing to ship by file


def test_the_payload_rebuilds_the_object_in_a_process_that_never_saw_it(tmp_path):
    cls = defined_in_main("Doubler", """
        class Doubler:
            factor = 2
            def __call__(self, x):
                return x * self.factor
    """)  # fmt: skip
    by_value.register("__main__:Doubler", cls)
    payload = user_code.payload(["__main__:Doubler", "digits", "mlp"])
    (tmp_path / by_value.FILENAME).write_bytes(payload)
    checkpoint = tmp_path / "trial_000_x" / "checkpoint_000001"
    checkpoint.mkdir(parents=True)
    script = (
        "import sys\n"
        "from trainable import by_value, user_code\n"
        "by_value.install(by_value.find_file(sys.argv[1]).read_bytes())\n"
        "print(user_code.load('__main__:Doubler', 'model')()(21))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(checkpoint)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_no_payload_without_code_by_value():
    assert user_code.payload(["digits", "mlp", "examples/my_models.py:SmallCNN"]) is None


def test_an_object_that_cannot_be_serialised_is_a_one_line_error():
    lock = threading.Lock()
    holder = defined_in_main("holder", "def holder():\n    return LOCK\n")
    holder.__globals__["LOCK"] = lock
    by_value.register("__main__:holder", holder)
    with pytest.raises(UserCodeError, match=r"__main__:holder cannot be sent to workers") as err:
        user_code.payload(["__main__:holder"])
    assert "\n" not in str(err.value) and "lock" in str(err.value)


def test_a_missing_object_says_where_it_came_from_and_how_to_pass_it():
    with pytest.raises(UserCodeError, match=r"notebook or an interactive session") as err:
        user_code.load("__main__:Net", "model")
    assert "model=..." in str(err.value) and by_value.FILENAME in str(err.value)


def test_an_object_passed_wins_over_the_folder_copy():
    first, second = object.__new__(type("A", (), {})), object.__new__(type("B", (), {}))
    by_value.register("__main__:thing", first)
    payload = by_value.dumps(["__main__:thing"])
    by_value.register("__main__:thing", second)
    assert by_value.install(payload, replace=False) == []
    assert by_value.lookup("__main__:thing") is second
    assert by_value.install(payload) == ["__main__:thing"]  # a worker: the payload wins
    assert type(by_value.lookup("__main__:thing")).__name__ == "A"


def test_the_code_file_is_found_at_most_three_folders_up(tmp_path):
    (tmp_path / by_value.FILENAME).write_bytes(b"")
    assert by_value.find_file(tmp_path / "a" / "b" / "c") == tmp_path / by_value.FILENAME
    assert by_value.find_file(tmp_path / "a" / "b" / "c" / "d") is None
