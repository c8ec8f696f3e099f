"""How ``sweeps.run`` starts and ends: input checked without the heavy imports, which run while
Ray starts; results written while Ray shuts down; no garbage collection at exit; no idle
workers prestarted; the user's model and data code sent to a cluster's workers."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from sweeps import config, outputs, run
from sweeps.config import SweepConfig
from sweeps.storage import SweepFolder
from sweeps.tune import tuner


def test_checking_a_sweep_imports_neither_torch_nor_ray_tune_nor_matplotlib(tmp_path):
    code = (
        "import sys; from sweeps import config, run; "
        f"run.prepare(config.parse(['--storage', {str(tmp_path)!r}, '--space', 'small'])); "
        "print([m for m in ('torch', 'ray.tune', 'matplotlib', 'tensorboard') if m in sys.modules])"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"
    assert all(importlib.util.find_spec(name) for name in run.SWEEP_MODULES)


@pytest.fixture
def folder(tmp_path):
    return SweepFolder.in_storage(str(tmp_path), "s")


resumed = SweepConfig(name="s", resume=True)


def test_the_sweep_modules_are_imported_while_ray_starts(monkeypatch, folder):
    importing, imported = threading.Event(), []

    def import_modules(names):
        importing.set()
        imported.append((names, threading.current_thread().name))

    @contextlib.contextmanager
    def session(cfg, runtime_env):
        assert importing.wait(10), "the sweep's modules were not being imported as Ray started"
        yield

    monkeypatch.setattr(run, "import_modules", import_modules)
    monkeypatch.setattr(run, "ray_session", session)
    monkeypatch.setattr(run.cluster, "check_resources", lambda cfg: None)
    monkeypatch.setattr(run.cluster, "check_shared_storage", lambda folder: None)
    monkeypatch.setattr(tuner, "build", lambda cfg, folder, space, code, budget: None)
    monkeypatch.setattr(outputs, "write", lambda cfg, folder: None)
    run.run(run.Plan(resumed, folder=folder, space=SimpleNamespace(text=None), runtime_env={}))
    [(names, thread)] = imported
    assert names == run.SWEEP_MODULES
    assert thread != "MainThread"


def test_the_results_are_written_while_ray_shuts_down(monkeypatch, folder):
    writing, written = threading.Event(), object()

    @contextlib.contextmanager
    def session(cfg, runtime_env):
        yield
        assert writing.wait(10), "the results were not being written during Ray's shutdown"

    def write_results(cfg, folder):
        writing.set()
        return written

    monkeypatch.setattr(run, "ray_session", session)
    monkeypatch.setattr(outputs, "write", write_results)
    monkeypatch.setattr(run.cluster, "check_resources", lambda cfg: None)
    monkeypatch.setattr(run.cluster, "check_shared_storage", lambda folder: None)
    monkeypatch.setattr(tuner, "build", lambda cfg, folder, space, code, budget: None)
    plan = run.Plan(resumed, folder=folder, space=SimpleNamespace(text=None), runtime_env={})
    assert run.run(plan) is written


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


def test_a_local_ray_prestarts_no_worker_outside_the_sweeps_job(ray_cluster):
    import ray

    @ray.remote
    def pid() -> int:
        return os.getpid()

    # A prestarted worker starts as the driver connects, before any of the job's own; Ray names
    # its log after the job: worker-<id>-ffffffff-<pid>.out for a worker of no job.
    worker_pid = ray.get(pid.remote())
    logs = Path(ray._private.worker.global_worker.node.get_logs_dir_path())
    own = [p.name for p in logs.glob("worker-*.out") if p.name.endswith(f"-{worker_pid}.out")]
    assert own, "the job's worker left no log under the name this test expects"
    assert not list(logs.glob("worker-*-ffffffff-*.out"))


def test_a_cluster_is_sent_the_users_model_and_data_files_and_a_local_ray_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = config.validate({
        "model": f"{tmp_path}/net.py:Net", "dataset": f"{tmp_path}/data.py:load",
        "space": f"{tmp_path}/space.py:space",  # drawn in the driver only
    })  # fmt: skip
    assert run.runtime_env(cfg) == {}
    shipped = {"py_modules": [str(tmp_path / "data.py"), str(tmp_path / "net.py")]}
    assert run.runtime_env(cfg.model_copy(update={"address": "auto"})) == shipped
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert run.runtime_env(cfg) == shipped
    for model in ("cnn", "trainable.models:cnn", "torch.nn:Linear"):  # on every node already
        assert run.runtime_env(config.validate({"model": model})) == {}


@pytest.mark.parametrize("package", ["regular", "namespace"])
def test_a_cluster_is_sent_the_users_package(package, tmp_path, monkeypatch):
    folder = tmp_path / f"{package}_models"
    folder.mkdir()
    (folder / "nets.py").write_text("def Net(num_classes):\n    return None\n")
    if package == "regular":
        (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    cfg = config.validate({"model": f"{package}_models.nets:Net"})
    assert run.runtime_env(cfg) == {"py_modules": [str(folder)]}


def test_importing_the_sweep_changes_no_process_wide_setting():
    """A notebook that imports sweeps keeps its environment and Optuna's logging until it runs
    a sweep; preparing one makes the sweep's settings."""
    code = (
        "import os, optuna\n"
        "before = (dict(os.environ), optuna.logging.get_verbosity())\n"
        "import sweeps, sweeps.api, sweeps.run, sweeps.session\n"
        "print(before == (dict(os.environ), optuna.logging.get_verbosity()))\n"
        "sweeps.session.settings()\n"
        "print(os.environ['RAY_AIR_NEW_OUTPUT'], optuna.logging.get_verbosity())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AIR", "TUNE_WARN"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=True)  # fmt: skip
    assert done.stdout.split() == ["True", "0", str(optuna.logging.WARNING)]
