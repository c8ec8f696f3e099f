"""Fixtures for a user's own code: small model and loader files written into the test's folder."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WriteFile = Callable[[str, str], Path]


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Train the tiny models here on one thread: a second one only adds synchronisation, and
    where the cores are busy its waiting made an epoch on digits take seconds instead of 60 ms."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteFile]:
    """Writes ``name`` with ``text`` (dedented) into ``tmp_path`` and returns its path.

    Loading a user's file puts its folder on ``sys.path`` and the file in ``sys.modules`` under
    its stem; both are undone afterwards, so another test may use the same file name, and the
    datasets cached per process are dropped.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        importlib.invalidate_caches()
        return path

    yield write
    for name in set(sys.modules) - before:
        origin = getattr(sys.modules[name], "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(tmp_path.resolve()):
            del sys.modules[name]
    from trainable import data

    data.load.cache_clear()


@pytest.fixture
def refusal() -> Callable[..., str]:
    """``refusal(reference, error=DataError)``: the error ``data.load`` raises for the user's
    loader ``reference``, which must be of type ``error`` and one line."""
    from trainable import data
    from trainable.sources import DataError

    def refused(reference: str, error: type[Exception] = DataError) -> str:
        with pytest.raises(error) as info:
            data.load(reference, seed=0)
        message = str(info.value)
        assert "\n" not in message
        return message

    return refused
