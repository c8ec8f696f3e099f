"""Worker nodes killed mid-sweep on a real multi-node Ray cluster (several raylets here).

The head has no CPUs, so trials run only on worker nodes. Killing the node of a running trial
(SIGKILL of its raylet and workers) must move the trial to the other node, resuming from its
checkpoint; killing every worker must leave the trials waiting until a new node joins. A trial
moved is a new Ray trial of the same number, in a folder of its own (``trial_NNN_<Ray id>``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ray import ray_constants
from ray.cluster_utils import Cluster

pytestmark = pytest.mark.slow

EPOCHS = 40
ARGS = [
    "--name", "nodes", "--num-trials", "6", "--max-epochs", str(EPOCHS),
    "--grace-period", str(EPOCHS), "--patience", str(EPOCHS), "--checkpoint-every", "1",
    "--max-failures", "4", "--hidden", "128,128", "--batch-size", "8", "--max-concurrent", "2",
    "--space", "small",
]  # fmt: skip
WINDOW = range(3, EPOCHS - 15)  # epochs at which a trial is killed: well before it ends


@pytest.fixture
def cluster(monkeypatch):
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short socket paths
    # Cluster writes its address to <RAY_TMPDIR>/ray/ray_current_cluster: keep it in this
    # test's folder, not in a /tmp/ray that a fresh machine does not have.
    monkeypatch.setenv("RAY_TMPDIR", temp_dir)
    Path(temp_dir, "ray").mkdir()
    cluster = Cluster(
        initialize_head=True, connect=False,
        head_node_args={"num_cpus": 0, "temp_dir": temp_dir, "include_dashboard": False},
    )  # fmt: skip
    try:
        yield cluster
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def raylet_pid(node) -> int:
    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def parent(pid: int) -> int:
    """The parent of a process (a Ray worker's is its node's raylet)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def run_of(trial_folder: str) -> str:
    """The record's name of the trial a Ray trial's folder belongs to: ``trial_003``."""
    return trial_folder.rsplit("_", 1)[0]


def results(folder: Path) -> dict[str, list[dict]]:
    found = {}
    for path in folder.glob("trial_*/result.json"):
        lines = path.read_text().splitlines()
        found[path.parent.name] = [json.loads(line) for line in lines if line.endswith("}")]
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running(folder: Path, nodes: list) -> tuple[object, str, dict] | None:
    """(node, trial, last result) of a trial in the middle of its epochs (``WINDOW``) that runs
    on one of ``nodes``, as its worker's parent process (the node's raylet) tells."""
    raylets = {raylet_pid(node): node for node in nodes}
    for trial, reported in results(folder).items():
        last = reported[-1] if reported else None
        if not last or last["epoch"] not in WINDOW:
            continue
        try:
            node = raylets.get(parent(last["pid"]))
        except FileNotFoundError:  # the worker has gone since
            continue
        if node is not None:
            return node, trial, last
    return None


def restored(folder: Path, since: float, run: str | None = None) -> list[dict]:
    """Results that were the first after a restore from a checkpoint, reported after ``since``
    (by the Ray trials that ran the trial named ``run``)."""
    return [
        r
        for name, reported in results(folder).items()
        for r in reported
        if (run is None or run_of(name) == run)
        and r["timestamp"] >= int(since)
        and r["iterations_since_restore"] == 1
        and r["epoch"] > 1
    ]


def test_trials_move_off_a_killed_node_and_wait_for_a_new_one(
    cluster, tmp_path, sweep_process, figures
):
    first = cluster.add_node(num_cpus=2)
    second = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    folder = tmp_path / "nodes"
    run = sweep_process(*ARGS, "--storage", str(tmp_path), "--address", cluster.address)

    # 1. Kill the node of a running trial: it moves to the other node and resumes there.
    doomed, trial, _ = wait_for(lambda: running(folder, [first, second]), 120, "a trial")
    survivor = second if doomed is first else first
    killed_at = time.time()
    cluster.remove_node(doomed, allow_graceful=False)
    (moved,) = wait_for(
        lambda: restored(folder, killed_at, run_of(trial)), 120, "the trial to move"
    )
    move_s = time.time() - killed_at
    assert parent(moved["pid"]) == raylet_pid(survivor)
    assert moved["epoch"] > 1  # resumed from a checkpoint, not from scratch
    before = results(folder)[trial][-1]  # its last result on the killed node
    lost_on_move = before["epoch"] - (moved["epoch"] - 1)

    # 2. Kill every worker node: the trials wait, then finish on a node that joins later.
    wait_for(lambda: running(folder, [survivor]), 120, "a trial on the surviving node")
    cluster.remove_node(survivor, allow_graceful=False)
    emptied_at = time.time()
    time.sleep(5)
    assert run.running()  # waiting, not failed
    cluster.add_node(num_cpus=2)
    joined_at = time.time()
    assert run.wait(timeout=300) == 0, run.log.read_text()[-3000:]

    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert len(trials) == 6 and {t["status"] for t in trials} == {"COMPLETE"}
    epochs = pq.read_table(folder / "epochs.parquet").to_pylist()
    for row in trials:
        mine = [e["epoch"] for e in epochs if e["trial_id"] == row["trial_id"]]
        assert mine == list(range(1, EPOCHS + 1))
    assert restored(folder, joined_at), "no trial resumed from a checkpoint on the new node"
    figures.record(
        "worker node killed", faults_injected=2, nodes="head (0 CPUs) + 2 workers, 1 joined later",
        trials_finished=len(trials), trials_resumed_from_checkpoint=len(restored(folder, 0)),
        epochs_lost_on_move=lost_on_move, time_to_resume_on_other_node_s=round(move_s, 1),
        waited_without_workers_s=round(joined_at - emptied_at, 1),
    )  # fmt: skip
