"""Every use of a private name of Ray, in one place: what each relies on, and why no public
mechanism serves.

``tests/sweeps/test_compat.py`` checks each against the installed Ray and fails naming its
version when Ray renames or reshapes one, before a user meets the change as a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the sweep's checks import this module, and Ray Tune only later
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import AsyncHyperBandScheduler


def listen_on_loopback() -> None:
    """Make the Ray that ``ray.init`` starts here bind every server to 127.0.0.1.

    Ray binds its servers to the node's IP, which it finds by routing towards the internet
    unless Ray clusters are switched off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the macOS and
    Windows default): then the node is 127.0.0.1. Ray reads that variable when it is imported,
    which a notebook may have done before the sweep, so the switch it sets is set directly.
    """
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def use_token_auth() -> None:
    """Make this process send Ray's auth token, as ``RAY_AUTH_MODE=token`` at its start would.

    Ray reads the mode when it is imported. It switches it on later by itself only for a new
    Ray and for a running one it finds itself (``ray.init()`` or ``"auto"``), not for one given
    by its address, as a sweep gives the warm head it found (``sweeps.head``); this is the
    switch Ray flips then.
    """
    from ray._private.authentication.authentication_token_setup import _enable_token_auth

    _enable_token_auth()


def trial_actor(trial: Trial) -> Any | None:
    """The actor running ``trial`` (None when it has none): Tune lets callbacks see trials but
    not stop a hung one, which only killing its actor does."""
    return trial.temporary_state.ray_actor


def starting_trials(tune_controller: Any) -> set[Trial]:
    """The pending trials whose actor already holds its resources and is being built: a worker
    process starting and importing, or a node that is slow to start one.

    With actor reuse, Tune hands a worker that frees up to the trial its scheduler picks, and
    if that trial's actor is still starting, kills it. A scheduler sees pending trials but not
    which of them are starting; Tune's controller knows, behind the wrapper it passes.
    """
    controller = getattr(tune_controller, "_tune_controller", tune_controller)
    manager = controller._actor_manager
    return {
        trial
        for trial, actor in controller._trial_to_actor.items()
        if trial.status == "PENDING" and manager.is_actor_started(actor)
    }


def asha_milestones(scheduler: AsyncHyperBandScheduler, trial: Trial) -> set[float]:
    """The milestones (rungs) at which ``scheduler`` has recorded ``trial``'s metric so far.

    ASHA answers CONTINUE or STOP, not which rung it compared the trial at; a milestone that
    appears here after a result is the rung that result was judged at.
    """
    bracket = scheduler._trial_info.get(trial.trial_id)
    if bracket is None:
        return set()
    return {milestone for milestone, recorded in bracket._rungs if trial.trial_id in recorded}
