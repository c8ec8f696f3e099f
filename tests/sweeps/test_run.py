"""How ``sweeps.run`` ends: results written while Ray shuts down, no garbage collection at exit."""

from __future__ import annotations

import contextlib
import gc
import threading
from types import SimpleNamespace

import pytest

from sweeps import run
from sweeps.config import SweepConfig


def test_the_results_are_written_while_ray_shuts_down(monkeypatch):
    writing, grid = threading.Event(), object()

    @contextlib.contextmanager
    def session(cfg):
        yield
        assert writing.wait(10), "the results were not being written during Ray's shutdown"

    def write_results(got, cfg, folder):
        writing.set()
        return got

    monkeypatch.setattr(run, "ray_session", session)
    monkeypatch.setattr(run, "write_results", write_results)
    monkeypatch.setattr(run.cluster, "check_shared_storage", lambda folder: None)
    monkeypatch.setattr(run.tuner, "restore", lambda cfg, folder: SimpleNamespace(fit=lambda: grid))
    plan = run.Plan(SweepConfig(), folder=None, space=None, new_trials=0)
    assert run.run(plan) is grid


def test_an_error_on_the_writing_thread_reaches_the_caller():
    def fails():
        raise OSError("disk full")

    written = run.in_background(fails)
    with pytest.raises(OSError, match="disk full"):
        written.result(timeout=10)
    assert run.in_background(threading.current_thread).result(timeout=10).name != "MainThread"


def test_the_cli_skips_garbage_collection_at_exit(monkeypatch, tmp_path):
    registered = []
    monkeypatch.setattr(run.atexit, "register", registered.append)
    assert run.main(["--storage", str(tmp_path), "--dataset", "mnist"]) == 2
    assert registered == [gc.freeze]
