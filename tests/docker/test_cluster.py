"""docker/cluster.yaml for ``ray up``: valid against Ray's ray-schema.json and accepted by the
cluster launcher's own preparation and validation; its ``ray start`` lines parse; token, GPUs
and results reach the containers as the other files expect."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
from ray.autoscaler._private.util import prepare_config, validate_config


@pytest.fixture(scope="module")
def cluster(docker: SimpleNamespace) -> dict[str, Any]:
    return docker.read_yaml("cluster.yaml")


def test_valid_against_rays_schema(cluster: dict[str, Any]) -> None:
    """Every key but ``min_workers``, the local provider's own, which ``ray up`` moves into the
    worker node type before it validates (ray/autoscaler/_private/local/config.py)."""
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate({k: v for k, v in cluster.items() if k != "min_workers"}, schema)


def test_accepted_by_the_cluster_launcher(cluster: dict[str, Any]) -> None:
    prepared = prepare_config(copy.deepcopy(cluster))  # what `ray up` does before validating
    validate_config(prepared)
    assert prepared["max_workers"] == len(cluster["provider"]["worker_ips"])
    # An autoscaling cluster: one worker kept up, the others started when a sweep asks.
    nodes = prepared["available_node_types"].values()  # the local provider's one node type
    assert [(t["min_workers"], t["max_workers"]) for t in nodes] == [(1, 4)]


def test_ray_start_commands_parse(docker: SimpleNamespace, cluster: dict[str, Any]) -> None:
    started = {}
    for role in ("head", "worker"):
        lines = [
            words
            for command in cluster[f"{role}_start_ray_commands"]
            # $RAY_HEAD_IP is filled in by the launcher on the worker.
            for words in docker.shell_commands(command.replace("$RAY_HEAD_IP", "192.0.2.10"))
            if words[:2] == ["ray", "start"]
        ]
        (line,) = lines
        started[role] = docker.parse_ray_start(docker.ray_start_args(line))
    assert started["head"]["head"] and started["head"]["num_cpus"] == 0
    assert started["head"]["dashboard_host"] == "127.0.0.1", "dashboard beyond loopback"
    assert started["worker"]["address"] == "192.0.2.10:6379"


def _options(words: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for word in words:
        for part in shlex.split(word):
            flag, _, value = part.partition("=")
            found.setdefault(flag, []).append(value)
    return found


def test_containers_get_token_results_and_gpus(cluster: dict[str, Any]) -> None:
    docker_config = cluster["docker"]
    every = _options(docker_config["run_options"])
    env = dict(item.split("=", 1) for item in every["--env"])
    assert env["RAY_AUTH_MODE"] == "token"
    token_path = env["RAY_AUTH_TOKEN_PATH"]
    (mount,) = [m for m in cluster["file_mounts"] if token_path.startswith(m + "/")]
    assert cluster["file_mounts"][mount] == "docker/ray_auth", "not the git-ignored token folder"
    assert "RAY_AUTH_TOKEN" not in env, "a token in the file would be committed"
    assert any(v.endswith(":/results") for v in every["--volume"])
    assert "--gpus" in _options(docker_config["worker_run_options"])
    assert "--gpus" not in every and "--gpus" not in _options(
        docker_config.get("head_run_options", [])
    )
    assert re.fullmatch(r"sweeps:cu128", docker_config["image"]), "not the CUDA image"
