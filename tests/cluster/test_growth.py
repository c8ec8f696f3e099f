"""A sweep follows its cluster: a node that joins a running sweep gets trials, and a cluster
under Ray's autoscaler grows from no worker to its maximum for the sweep, which finishes.

Every node here is a process of this machine on 127.0.0.1, in a Ray temp dir of the test's
own: the joining node through ``ray.cluster_utils.Cluster`` (in-process nodes, stopped by their
own process ids), the autoscaling cluster through ``ray start --head --block`` with Ray's fake
multi-node provider (``RAY_FAKE_CLUSTER=1``, as ``ray.cluster_utils.AutoscalingCluster`` starts
it, but never with ``ray stop``), whose worker nodes are processes of its monitor; its process
group and every process left in its temp dir are killed by id at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

# Ray on 127.0.0.1 (see sweeps.head), no token: a test cluster neither reads nor writes
# ~/.ray/auth_token.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}
# Trials of seconds each, bound by time rather than by this machine's 2 cores: every batch of
# this user model sleeps, so an epoch takes about 0.2 s however many trials share the cores, a
# run to 30 epochs 6 s, and a sweep on one CPU slot lasts well past a new node's start (its
# worker processes' imports: 10-20 s on a busy machine). A sweep of CPU-bound epochs ended
# before the joined node's workers were up.
SLEEPY_MODEL = """
import time
from torch import nn


class SleepyMLP(nn.Module):
    def __init__(self, num_classes, num_features, activation=nn.ReLU):
        super().__init__()
        pieces = getattr(activation(), "pieces", 1)  # maxout takes pairs
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(num_features, 32 * pieces),
                                 activation(), nn.Linear(32, num_classes))

    def forward(self, x):
        time.sleep(0.006)
        return self.net(x)
"""
TRIALS = ["--num-trials", "12", "--max-epochs", "30", "--patience", "30", "--grace-period", "10",
          "--confirm-seeds", "0", "--checkpoint-every", "10"]  # fmt: skip


def sweep(address: str, storage: Path, *args: str) -> subprocess.Popen:
    """``python -m sweeps.run`` joining the cluster at ``address``, in a session of its own."""
    log = (storage / "sweep.log").open("ab")
    model = storage / "sleepy_model.py"
    model.write_text(SLEEPY_MODEL)
    return subprocess.Popen(
        [sys.executable, "-m", "sweeps.run", "--address", address, "--storage", str(storage),
         "--name", "grow", "--model", f"{model}:SleepyMLP", *TRIALS, *args],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **RAY_ENV},
    )  # fmt: skip


def finish(process: subprocess.Popen, storage: Path, timeout: float = 400) -> None:
    try:
        code = process.wait(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert code == 0, (storage / "sweep.log").read_text()[-4000:]


def at_once(storage: Path) -> list[tuple[float, int]]:
    """(time, trials training then) at each epoch the sweep recorded: a trial trains from its
    first recorded epoch to its last."""
    epochs = pq.read_table(storage / "grow" / "epochs.parquet").to_pylist()
    spans: dict[str, list[float]] = {}
    for row in epochs:
        spans.setdefault(row["trial_id"], []).append(row["reported_at"])
    intervals = [(min(times), max(times)) for times in spans.values()]
    return [
        (t, sum(start <= t <= end for start, end in intervals))
        for t in sorted(row["reported_at"] for row in epochs)
    ]


def recorded_epochs(storage: Path) -> int:
    """How many epochs the sweep has recorded so far (its journal's epoch lines)."""
    journal = storage / "grow" / "optuna.journal"
    return journal.read_text().count('"epoch:') if journal.exists() else 0


def wait_for(what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"no {what} in {timeout:g}s"
        time.sleep(0.5)


@pytest.fixture
def ray_tmp(monkeypatch) -> Iterator[Path]:
    """A Ray temp dir of the test's own (short: Ray's socket paths must stay short)."""
    folder = Path(tempfile.mkdtemp(prefix="rg-", dir="/tmp"))
    for name, value in RAY_ENV.items():
        monkeypatch.setenv(name, value)
    # ray.cluster_utils notes its address in $RAY_TMPDIR/ray, its default temp dir.
    monkeypatch.setenv("RAY_TMPDIR", str(folder))
    (folder / "ray").mkdir()
    try:
        yield folder / "ray"
    finally:
        kill_processes_in(folder)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kill_processes_in(folder: Path) -> None:
    """Kill, by id, every process whose command line names ``folder`` (a Ray node's)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if str(folder) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)


def test_a_node_that_joins_a_running_sweep_gets_trials_at_once(ray_tmp, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "temp_dir": str(ray_tmp), "node_ip_address": "127.0.0.1",
                        "include_dashboard": False},
    )  # fmt: skip
    try:
        process = sweep(cluster.address, tmp_path)
        wait_for("first epochs on the one-CPU head", lambda: recorded_epochs(tmp_path) >= 3, 180)
        joined = time.time()
        cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
        finish(process, tmp_path)
    finally:
        cluster.shutdown()
    before = [n for t, n in at_once(tmp_path) if t < joined]
    after = [n for t, n in at_once(tmp_path) if t > joined]
    assert max(before) == 1, before  # one CPU: one trial at a time
    assert max(after) == 3, after  # the joined node's two CPUs filled at once
    filled = min(t for t, n in at_once(tmp_path) if n == 3) - joined
    print(f"\nthree trials at once {filled:.1f}s after the node joined")
    table = pq.read_table(tmp_path / "grow" / "trials.parquet").to_pylist()
    assert len(table) == 12 and {t["status"] for t in table} <= {"COMPLETE", "PRUNED"}


AUTOSCALING = {
    "cluster_name": "fake-multinode",
    "max_workers": 2,
    "provider": {"type": "fake_multinode", "disable_launch_config_check": True,
                 "disable_node_updaters": True, "use_node_id_as_ip": True},
    "auth": {"ssh_user": "ubuntu"},
    "available_node_types": {
        "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
        "cpu_node": {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0,
                     "max_workers": 2},
    },
    "head_node_type": "ray.head.default",
    "upscaling_speed": 1.0,
    "idle_timeout_minutes": 0.1,
    "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
    "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
    "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
}  # fmt: skip


@pytest.fixture
def autoscaling_head(ray_tmp, tmp_path) -> Iterator[str]:
    """A head with no CPU under Ray's autoscaler, whose worker nodes (2 CPUs, at most 2) come
    and go with demand; its address."""
    port = free_port()  # the fake provider's nodes join the GCS at the address it is given
    provider = {**AUTOSCALING["provider"], "gcs_address": f"127.0.0.1:{port}"}
    config = tmp_path / "autoscaling.json"
    config.write_text(json.dumps({**AUTOSCALING, "provider": provider}))
    log = (tmp_path / "head.log").open("ab")
    head = subprocess.Popen(
        ["ray", "start", "--head", "--block", "--port", str(port), "--temp-dir", str(ray_tmp),
         "--num-cpus", "0", "--include-dashboard", "false", "--disable-usage-stats",
         f"--autoscaling-config={config}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **RAY_ENV, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"},
    )  # fmt: skip
    try:
        address_file = ray_tmp / "ray_current_cluster"
        wait_for("head", lambda: address_file.exists() and address_file.read_text().strip(), 120)
        yield address_file.read_text().strip()
    finally:
        # Its processes and its nodes' are killed, not drained: nothing of it is kept.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def test_an_autoscaling_cluster_grows_from_no_worker_to_its_maximum_for_the_sweep(
    autoscaling_head, tmp_path
):
    started = time.time()
    finish(sweep(autoscaling_head, tmp_path), tmp_path)
    most = max(n for _, n in at_once(tmp_path))
    assert most == 4, at_once(tmp_path)  # two nodes of two CPUs, each trial one
    filled = min(t for t, n in at_once(tmp_path) if n == 4) - started
    print(f"\nfour trials at once {filled:.1f}s after the sweep started on no worker")
    table = pq.read_table(tmp_path / "grow" / "trials.parquet").to_pylist()
    assert len(table) == 12 and {t["status"] for t in table} <= {"COMPLETE", "PRUNED"}
