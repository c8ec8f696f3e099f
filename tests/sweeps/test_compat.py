"""The private names of Ray and Optuna that sweeps.tune.ray_compat and sweeps.record.optuna_compat
rely on, checked against the installed versions: a failure names the version that changed them."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import optuna
import ray
from ray.exceptions import ActorDiedError, RayTaskError
from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial
from ray.tune.experiment.trial import _TemporaryTrialState
from ray.tune.schedulers import ASHAScheduler

from sweeps.record import optuna_compat
from sweeps.tune import errors, ray_compat

RAY = f"Ray {ray.__version__}"
OPTUNA = f"Optuna {optuna.__version__}"


def space(trial: optuna.Trial) -> None:
    trial.suggest_float("lr", 1e-3, 1e-1)


def test_ray_still_has_the_cluster_switch_it_reads_for_the_node_ip(monkeypatch):
    from ray._private import ray_constants, services, worker

    monkeypatch.setattr(worker, "_global_node", None)  # a Ray of this session answers first
    assert isinstance(getattr(ray_constants, "ENABLE_RAY_CLUSTER", None), bool), (
        f"{RAY} has no bool ray._private.ray_constants.ENABLE_RAY_CLUSTER"
    )
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    ray_compat.listen_on_loopback()
    assert services.get_node_ip_address() == "127.0.0.1", (
        f"{RAY}: with ENABLE_RAY_CLUSTER off, the node's IP is no longer 127.0.0.1"
    )


def test_ray_still_lets_a_running_process_switch_token_auth_on():
    # In a process of its own: this one's Ray may have switched it on already.
    code = (
        "from ray._raylet import AuthenticationMode, get_authentication_mode as mode\n"
        "from sweeps.tune import ray_compat\n"
        "before = mode()\n"
        "ray_compat.use_token_auth()\n"
        "print(before == AuthenticationMode.TOKEN, mode() == AuthenticationMode.TOKEN)"
    )
    env = {key: value for key, value in os.environ.items() if key != "RAY_AUTH_MODE"}
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert ran.stdout.split() == ["False", "True"], (
        f"{RAY}: _enable_token_auth no longer switches token auth on ({ran.stderr[-500:]})"
    )


def test_ray_still_keeps_a_trials_actor_in_its_temporary_state():
    assert hasattr(_TemporaryTrialState(), "ray_actor"), (
        f"{RAY}: a trial's temporary state has no ray_actor"
    )


def test_ray_still_keeps_the_results_asha_recorded_per_rung_in_a_trials_bracket():
    scheduler = ASHAScheduler(
        time_attr="epoch", metric="val_loss", mode="min",
        max_t=10, grace_period=1, reduction_factor=3,
    )  # fmt: skip
    trial = Trial("t", stub=True)
    scheduler.on_trial_add(None, trial)
    assert ray_compat.asha_milestones(scheduler, trial) == set(), (
        f"{RAY}: ASHAScheduler._trial_info or _Bracket._rungs changed"
    )
    scheduler.on_trial_result(None, trial, {"epoch": 1, "val_loss": 0.5})
    assert ray_compat.asha_milestones(scheduler, trial) == {1}, (
        f"{RAY}: ASHA no longer records a result at its rung in _Bracket._rungs"
    )


def test_optuna_still_reopens_a_running_trial_by_its_storage_id():
    study = optuna.create_study()
    asked = study.ask()
    asked.report(0.5, step=1)
    frozen = study.get_trials(deepcopy=False)[0]
    assert isinstance(optuna_compat.storage_id(frozen), int), f"{OPTUNA}: no FrozenTrial._trial_id"
    reopened = optuna_compat.reopen(study, frozen)
    assert reopened.number == asked.number, f"{OPTUNA}: Trial(study, trial_id) changed"
    reopened.report(0.25, step=2)
    assert optuna_compat.stored(study, reopened).intermediate_values == {1: 0.5, 2: 0.25}, (
        f"{OPTUNA}: study._storage.get_trial(trial_id) changed"
    )


def test_ray_still_writes_a_failed_trials_error_to_its_staging_folder_at_once(
    ray_cluster, tmp_path
):
    """``Trial.handle_error`` (which Tune calls before any callback hears of the failure)
    writes error.pkl and error.txt where ``sweeps.tune.errors`` reads them first: the trial's
    staging folder on the driver. The sweep folder gets them later, in the background."""
    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="exp")
    trial = Trial("t", trial_id="a", storage=storage, stub=True)
    trial.init_local_path()
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError as err:
        trial.handle_error(RayTaskError("train", traceback.format_exc(), err))
    line, signature = errors.described(trial)
    assert line.startswith("RuntimeError: boom (") and "test_compat.py:" in line, (
        f"{RAY}: a failed trial's error is no longer in Trial.pickled_error_file at once ({line})"
    )
    assert signature == line
    Path(trial.pickled_error_file).unlink()  # an exception Ray could not pickle: its text
    assert errors.described(trial) == (line, line), f"{RAY}: Trial.error_file changed"
    trial.handle_error(ActorDiedError())
    assert errors.described(trial)[1] is None  # a lost worker: not the trial's own error


def test_ray_still_lets_a_scheduler_tell_which_pending_trials_have_a_starting_actor():
    import inspect

    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.tune.execution.tune_controller import TrialRunnerWrapper, TuneController

    controller = inspect.getsource(TuneController.__init__)
    assert "self._actor_manager" in controller and "self._trial_to_actor" in controller, (
        f"{RAY}: TuneController no longer keeps _actor_manager and _trial_to_actor"
    )
    assert "self._tune_controller = tune_controller" in inspect.getsource(
        TrialRunnerWrapper.__init__
    ), f"{RAY}: the wrapper a scheduler gets no longer keeps _tune_controller"
    assert callable(getattr(RayActorManager, "is_actor_started", None)), (
        f"{RAY}: RayActorManager.is_actor_started is gone"
    )
