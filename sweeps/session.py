"""The Ray session a sweep runs in, and the process-wide settings a sweep makes when it starts.

Importing :mod:`sweeps` (in a notebook, say) changes nothing in the process; :func:`settings`
is called when a sweep is prepared, and :func:`ray_session` joins or starts Ray for it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import optuna
import ray

from sweeps import head
from sweeps.config import ConfigError, SweepConfig
from sweeps.tune import ray_compat

T = TypeVar("T")


def settings() -> None:
    """What a sweep sets for its process: Ray's and Optuna's output, and how a Ray it starts
    starts its workers (set before Ray starts; a value the user set is kept)."""
    # Ray's classic progress table (one table, refreshed), not a panel per trial start and end.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ray Tune snapshots the experiment each time a trial has saved --keep-checkpoints
    # checkpoints since the last snapshot (so that a restore never points at a deleted one), and
    # warns, in six lines each time, when that happens twice within 5 s, as it does in every
    # short sweep. The snapshots make resuming safe: the warning is switched off, not them.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # A Ray started here does not prestart a Python worker per CPU before the driver connects:
    # those belong to no job, so the trials' actors never run in them, and on a small machine
    # their start competes with the sweep's own.
    os.environ.setdefault("RAY_prestart_worker_first_driver", "0")
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def ray_session(cfg: SweepConfig, runtime_env: dict[str, Any]) -> Iterator[None]:
    """Join ``--address`` (or RAY_ADDRESS), or the warm local head ``python -m sweeps.head``
    started, or start Ray locally; reuse one already started.

    A warm head is a local Ray in all but who started it: its workers read the driver's files
    and it has all the resources it will have, so the checks keyed on ``--address`` treat it
    as local. A local Ray listens on 127.0.0.1 only, and one started here starts its dashboard
    only for ``--dashboard``. ``runtime_env`` is the job's: what every worker gets before a
    trial starts. Leaving a joined Ray disconnects from it; the warm head keeps running.
    """
    if ray.is_initialized():
        yield
        return
    warm = None
    if not cfg.joins_cluster:
        ray_compat.listen_on_loopback()  # a warm head's node is 127.0.0.1 too
        warm = head.running()
    if warm is not None and warm.token_auth and "RAY_AUTH_MODE" not in os.environ:
        ray_compat.use_token_auth()
    try:
        context = ray.init(
            address=warm.address if warm else cfg.address,
            include_dashboard=cfg.dashboard,
            dashboard_host="127.0.0.1",
            logging_level=logging.WARNING,
            runtime_env=runtime_env or None,
        )
    except (ConnectionError, RuntimeError) as err:  # a token or a Ray version that differs
        if warm is None:
            raise
        raise ConfigError(
            f"cannot join the local Ray head at {warm.address} ({str(err).splitlines()[0]}); "
            "run with the RAY_AUTH_* settings it was started with, or stop it with "
            "python -m sweeps.head stop"
        ) from None
    if warm is not None:
        print(
            f"joined the local Ray head at {warm.address} (python -m sweeps.head stop to stop it)",
            flush=True,
        )
    if cfg.dashboard:
        url = context.dashboard_url
        print(f"Ray dashboard: http://{url}" if url else "Ray dashboard: not running", flush=True)
    try:
        yield
    finally:
        ray.shutdown()


def import_modules(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


def in_background(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` on a thread of its own; the future returns its result or raises its error."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=fn.__name__)
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)  # the thread ends when fn returns
    return future
