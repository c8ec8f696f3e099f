"""Checks a sweep makes of the Ray cluster it runs on, before it writes anything.

A trial that asks for more than the cluster has would wait forever, and a ``--storage`` folder
that some node cannot see would lose that node's checkpoints and results. Both are refused
with one line naming the problem.
"""

from __future__ import annotations

import math
import secrets
import time
from pathlib import Path

import ray
from ray.autoscaler.sdk import request_resources
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from sweeps.config import ConfigError, SweepConfig
from sweeps.storage import SweepFolder

# Trials an autoscaler is asked room for when nothing else bounds them; it caps the request at
# its own maximum.
ASK_AT_MOST = 64
PROBE_WAIT_S = 60  # a node's first task starts a worker process: seconds on a busy node


def check_resources(cfg: SweepConfig) -> None:
    """Every trial fits the cluster; a joined cluster gets ``--node-wait`` for its nodes.

    A driver started beside the cluster (compose's ``sweep`` service, a KubeRay submitter) can
    be up before the worker nodes have joined, and an autoscaling cluster may have none until
    asked, so a shortfall there is waited out; a local Ray has all it will ever have.
    """
    joined, wait_s = cfg.joins_cluster, cfg.node_wait
    if joined:  # an autoscaling cluster may have no worker node until it is asked for trials
        ask_autoscaler(wanted(cfg), cfg)
    deadline = time.monotonic() + (wait_s if joined else 0)
    announced = False
    while shortfall := _shortfall(cfg, ray.cluster_resources()):
        if time.monotonic() >= deadline:
            raise ConfigError(shortfall)
        if not announced:
            print(f"{shortfall}; waiting up to {wait_s:g}s for nodes to join", flush=True)
            announced = True
        time.sleep(1)


def wanted(cfg: SweepConfig, trials: float = math.inf) -> int:
    """How many of ``trials`` left to run the autoscaler is asked room for: at most
    ``--max-concurrent`` and the search's trials; :data:`ASK_AT_MOST` when neither bounds it
    (a search that runs until its time budget is spent)."""
    bounds = (trials, cfg.max_concurrent or math.inf, cfg.trial_limit or math.inf)
    least = min(bounds)
    return ASK_AT_MOST if least == math.inf else int(least)


def ask_autoscaler(trials: int, cfg: SweepConfig) -> None:
    """Ask the cluster's autoscaler, if it has one, for room for ``trials`` of the sweep's
    trials at once (0: withdraw the request). Ray keeps one such request per cluster, the
    last one made: two sweeps on one autoscaling cluster ask in turn."""
    trial = {
        "CPU": cfg.cpus_per_trial,
        **({"GPU": cfg.gpus_per_trial} if cfg.gpus_per_trial else {}),
    }
    request_resources(bundles=[trial] * trials)


def withdraw(cfg: SweepConfig) -> None:
    """The sweep has ended: a joined cluster's autoscaler need keep nothing for it."""
    if cfg.joins_cluster:
        ask_autoscaler(0, cfg)


def _shortfall(cfg: SweepConfig, available: dict[str, float]) -> str | None:
    for name, per_trial in (("CPU", cfg.cpus_per_trial), ("GPU", cfg.gpus_per_trial)):
        if per_trial > available.get(name, 0):
            return (
                f"--{name.lower()}s-per-trial {per_trial:g} but the Ray cluster has "
                f"{available.get(name, 0):g} {name}s"
            )
    return None


def check_shared_storage(folder: SweepFolder, wait_s: float = PROBE_WAIT_S) -> None:
    """On a cluster of several nodes, a local ``--storage`` path must be the same folder on
    every node that can run a trial (NFS): each reads back a probe file the driver wrote there.

    URIs (s3://, gs://, ...) are shared by nature. Nodes with no CPU or GPU (a 0-CPU head, the
    node of an earlier driver container, which may still be listed alive for a while after it
    stopped) run no trial and are not asked; nor is one that leaves while it is probed.
    """
    here = ray.get_runtime_context().get_node_id()
    others = {
        n["NodeID"]: n["NodeManagerAddress"]
        for n in ray.nodes()
        if n["Alive"] and n["NodeID"] != here and _runs_trials(n["Resources"])
    }
    if not folder.is_local or not others:
        return
    token = secrets.token_hex(16)
    probe = Path(folder.root) / f".shared-probe-{token[:8]}"
    probe.write_text(token)
    try:
        reads = {
            node: _read_probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(str(probe))
            for node in others
        }
        blind = [others[node] for node, ref in reads.items() if not _sees(node, ref, token, wait_s)]
    finally:
        probe.unlink(missing_ok=True)
    if blind:
        raise ConfigError(
            f"--storage {folder.storage} is not shared with every node: node {blind[0]} cannot "
            "read it; use a folder all nodes mount (NFS) or a URI such as s3://bucket/runs"
        )


def _runs_trials(resources: dict[str, float]) -> bool:
    return resources.get("CPU", 0) > 0 or resources.get("GPU", 0) > 0


def _sees(node: str, ref: ray.ObjectRef, token: str, wait_s: float) -> bool:
    """Whether the node read the token back; a node gone meanwhile counts as seeing it."""
    try:
        return ray.get(ref, timeout=wait_s) == token
    except (ray.exceptions.RayError, TimeoutError):
        alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        if node not in alive:
            return True
        raise ConfigError(
            f"node {node[:12]} did not answer the --storage check in {wait_s:g}s"
        ) from None


@ray.remote(num_cpus=0, max_retries=0)
def _read_probe(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None
