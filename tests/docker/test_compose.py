"""docker/compose.yaml (and its GPU override): valid compose, every Ray process on token auth,
ports published on the host's loopback only, and commands that Ray's, TensorBoard's and our own
parsers accept, with compose's variables resolved to their defaults."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import ray
import yaml

BASE = ("compose.yaml",)
GPU = ("compose.yaml", "compose.gpu.yaml")
VARIANTS = pytest.mark.parametrize("files", [BASE, GPU], ids=["cpu", "gpu"])
RAY_SERVICES = ("head", "worker", "sweep")


def ray_start_line(docker: SimpleNamespace, service: dict[str, Any]) -> list[str]:
    words = docker.argv(service["command"])
    if words[:2] == ["sh", "-c"]:
        (words,) = [w for w in docker.shell_commands(words[2]) if w[:2] == ["ray", "start"]]
    return docker.ray_start_args(words)


@pytest.mark.parametrize(
    "names", [BASE, ("compose.gpu.yaml",), GPU], ids=["cpu", "override", "gpu"]
)
def test_valid_compose_spec(
    docker: SimpleNamespace, names: tuple[str, ...], compose_schema: dict[str, Any]
) -> None:
    jsonschema.validate(docker.compose_file(*names), compose_schema)


@VARIANTS
def test_published_ports_are_on_loopback_only(
    docker: SimpleNamespace, files: tuple[str, ...]
) -> None:
    published = {}
    for name, service in docker.compose_file(*files)["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"
            published[name] = port
    assert published == {"head": "127.0.0.1:8265:8265", "tensorboard": "127.0.0.1:6006:6006"}


@VARIANTS
def test_every_ray_service_uses_token_auth_from_the_secret(
    docker: SimpleNamespace, files: tuple[str, ...]
) -> None:
    compose = docker.compose_file(*files)
    secret = docker.token_secret
    assert set(compose["secrets"]) == {secret}
    assert (docker.folder / compose["secrets"][secret]["file"]).resolve() == (
        docker.folder / "ray_auth" / "token"
    )
    for name in RAY_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env.get("RAY_AUTH_MODE") == "token", name
        assert env.get("RAY_AUTH_TOKEN_PATH") == f"/run/secrets/{secret}", name
        assert secret in service["secrets"], name
        assert "RAY_AUTH_TOKEN" not in env, f"{name}: a token in the file would be committed"


def test_token_variable_is_the_one_ray_reads() -> None:
    """Ray's C++ token loader reads the token file's path from RAY_AUTH_TOKEN_PATH."""
    raylet = Path(ray.__file__).parent / "_raylet.so"
    assert b"RAY_AUTH_TOKEN_PATH" in raylet.read_bytes()


@VARIANTS
def test_results_volume_is_shared(docker: SimpleNamespace, files: tuple[str, ...]) -> None:
    compose = docker.compose_file(*files)
    assert "results" in compose["volumes"]
    for name in (*RAY_SERVICES, "tensorboard"):
        mounts = [volume.split(":")[:2] for volume in compose["services"][name]["volumes"]]
        assert ["results", "/results"] in mounts, name


@VARIANTS
def test_ray_start_commands_parse(docker: SimpleNamespace, files: tuple[str, ...]) -> None:
    services = docker.compose_file(*files)["services"]
    started = {
        name: docker.parse_ray_start(ray_start_line(docker, services[name]))
        for name in RAY_SERVICES
    }
    head = started["head"]
    assert head["head"] and head["block"] and head["num_cpus"] == 0 and head["port"] == 6379
    assert (head["dashboard_host"], head["dashboard_port"]) == ("0.0.0.0", 8265)
    assert started["worker"]["block"], "the worker's container would exit at once"
    for name in ("worker", "sweep"):
        assert started[name]["address"] == "head:6379", name
    assert started["sweep"]["num_cpus"] == 0, "trials would run next to the driver"


@VARIANTS
def test_sweep_command_parses_with_the_cli(docker: SimpleNamespace, files: tuple[str, ...]) -> None:
    words = docker.argv(docker.compose_file(*files)["services"]["sweep"]["command"])
    assert words[:2] == ["sh", "-c"]
    config = docker.parse_sweep(docker.shell_commands(words[2])[-1])
    assert (config.address, config.storage, config.name) == ("auto", "/results", "demo")


def test_sweep_variables_reach_the_cli(docker: SimpleNamespace) -> None:
    text = docker.interpolate(
        (docker.folder / "compose.yaml").read_text(),
        {"SWEEP_NAME": "big", "SWEEP_ARGS": "--num-trials 96 --smoke"},
    )
    script = yaml.safe_load(text)["services"]["sweep"]["command"][2]
    config = docker.parse_sweep(docker.shell_commands(script)[-1])
    assert (config.name, config.num_trials, config.smoke) == ("big", 96, True)


@VARIANTS
def test_tensorboard_command_parses(docker: SimpleNamespace, files: tuple[str, ...]) -> None:
    from tensorboard import program

    words = docker.argv(docker.compose_file(*files)["services"]["tensorboard"]["command"])
    assert words[0] == "tensorboard"
    board = program.TensorBoard()
    board.configure(argv=[None, *words[1:]])
    assert (board.flags.logdir, board.flags.host, board.flags.port) == ("/results", "0.0.0.0", 6006)


def test_healthchecks_use_paths_ray_serves_without_a_token(docker: SimpleNamespace) -> None:
    dashboard = Path(ray.__file__).parent / "dashboard"
    public = "".join(
        (dashboard / f).read_text() for f in ("http_server_head.py", "http_server_agent.py")
    )
    services = docker.compose_file(*BASE)["services"]
    for name, port in (("head", 8265), ("worker", 52365)):
        test = " ".join(services[name]["healthcheck"]["test"])
        url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", test)
        assert url and int(url.group(1)) == port, f"{name}: {test}"
        assert f'"{url.group(2)}"' in public, f"{name}: Ray does not serve {url.group(2)} openly"


def test_gpu_override_gives_one_worker_all_gpus(docker: SimpleNamespace) -> None:
    worker = docker.compose_file(*GPU)["services"]["worker"]
    assert worker["deploy"]["replicas"] == 1, "replicas would each count the same GPUs"
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["count"] == "all"
    assert docker.compose_file(*BASE)["services"]["worker"]["deploy"]["replicas"] == 2
    for files, index in ((GPU, "cu128"), (BASE, "cpu")):
        for name, service in docker.compose_file(*files)["services"].items():
            assert service["build"]["args"]["TORCH_INDEX"] == index, name
            assert service["image"] == f"sweeps:{index}", name
