"""docker/compose.yaml (and its GPU override): valid compose, every Ray process on token auth,
ports published on the host's loopback only, and commands that Ray's, TensorBoard's and our own
parsers accept, with compose's variables resolved to their defaults."""

from __future__ import annotations

import http.server
import json
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
ROOT = Path(__file__).resolve().parents[2]


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


@VARIANTS
def test_one_image_built_once(docker: SimpleNamespace, files: tuple[str, ...]) -> None:
    """Only `head` builds; every service runs that one image (no copies, no dangling ones)."""
    index = "cu128" if files == GPU else "cpu"
    services = docker.compose_file(*files)["services"]
    assert [name for name, s in services.items() if "build" in s] == ["head"]
    assert services["head"]["build"]["args"]["TORCH_INDEX"] == index
    assert {s["image"] for s in services.values()} == {f"sweeps:{index}"}


@VARIANTS
def test_ray_nodes_restart_and_stop_cleanly(
    docker: SimpleNamespace, files: tuple[str, ...]
) -> None:
    services = docker.compose_file(*files)["services"]
    for name in ("head", "worker", "tensorboard"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["sweep"]["restart"] == "no", "a finished sweep would run again"
    for name in RAY_SERVICES:
        assert services[name]["entrypoint"] == ["python", "/usr/local/bin/sweeps-entrypoint"]
        assert services[name]["init"] is True, name


@VARIANTS
def test_object_store_fits_the_shared_memory(
    docker: SimpleNamespace, files: tuple[str, ...]
) -> None:
    services = docker.compose_file(*files)["services"]
    for name in RAY_SERVICES:
        shm = services[name]["shm_size"]
        assert shm.endswith("gb"), shm
        store = docker.parse_ray_start(ray_start_line(docker, services[name]))
        assert 75e6 <= store["object_store_memory"] <= 0.8 * int(shm[:-2]) * 2**30, name


def test_token_file_can_be_named(docker: SimpleNamespace) -> None:
    text = docker.interpolate(
        (docker.folder / "compose.yaml").read_text(), {"SWEEPS_TOKEN_FILE": "/tmp/x/token"}
    )
    assert yaml.safe_load(text)["secrets"]["ray_token"]["file"] == "/tmp/x/token"


# --- For real: the image built and the cluster run on a Docker engine of the test's own -------
# (marker `docker`, only with `-m docker`; root, about 5 minutes, a few GB of disk)

PROJECT = "sweepstest"
SWEEP = "demo"
# 16 trials of 12 epochs, none pruned (grace period = max epochs), a checkpoint every epoch,
# batch size 2 so an epoch lasts about a second: long enough (a minute or two on 2 cores) to add
# a worker and kill one mid-sweep.
TRIALS, EPOCHS = 16, 12
SMALL_SWEEP = (
    f"--space small --num-trials {TRIALS} --max-epochs {EPOCHS} --grace-period {EPOCHS} "
    f"--patience {EPOCHS} --hidden 64,64 --batch-size 2 --checkpoint-every 1 --confirm-seeds 0"
)
PROGRESS = """
import glob, json, os, sys
out = {}
for path in glob.glob(f"/results/{sys.argv[1]}/trial_*/result.json"):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if rows:  # a trial's result.json is there before its first result
        out[os.path.basename(os.path.dirname(path))] = [
            [r.get("node_ip"), r.get("training_iteration"), r.get("timestamp")] for r in rows
        ]
print(json.dumps(out))
"""
TABLES = """
import json, sys
import pyarrow.parquet as pq
folder = f"/results/{sys.argv[1]}"
trials = pq.read_table(folder + "/trials.parquet").to_pylist()
epochs = pq.read_table(folder + "/epochs.parquet").to_pylist()
best = json.load(open(folder + "/best.json"))
print(json.dumps({
    "trials": [{k: t[k] for k in ("trial_id", "trial_index", "status", "epochs")} for t in trials],
    "epochs": [[e["trial_id"], e["epoch"]] for e in epochs],
    "best": sorted(best),
}))
"""


def _http(url: str, token: str | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _torch_index(folder: Path) -> Path | None:
    """A one-project index of pip's local torch 2.13.0 CPU wheel (pip's find-links folders), or
    None: then the build uses PyTorch's own index, the Dockerfile's default."""
    import configparser
    import os

    links = os.environ.get("PIP_FIND_LINKS", "").split()
    for conf in ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", str(Path.home() / ".pip/pip.conf")):
        parser = configparser.ConfigParser()
        parser.read(conf)
        links += parser.get("global", "find-links", fallback="").split()
    for link in links:
        for wheel in Path(link.removeprefix("file://")).glob("torch-2.13.0+cpu-cp311-*.whl"):
            (folder / "torch").mkdir(parents=True)
            (folder / "torch" / wheel.name).symlink_to(wheel)
            name = wheel.name.replace("+", "%2B")
            (folder / "torch" / "index.html").write_text(f'<a href="{name}">{wheel.name}</a>\n')
            return folder
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class Cluster:
    """`docker compose -p sweepstest -f docker/compose.yaml ...` on the test's engine."""

    def __init__(self, engine: Any, token_file: Path) -> None:
        self.engine = engine
        self.env = {
            **engine.env,
            "SWEEPS_TOKEN_FILE": str(token_file),
            "SWEEP_NAME": SWEEP,
            "SWEEP_ARGS": SMALL_SWEEP,
        }

    def compose(self, *args: str, files: tuple[str, ...] = (), timeout: float = 900) -> str:
        import subprocess

        argv = ["docker", "compose", "-p", PROJECT, "-f", "docker/compose.yaml"]
        for extra in files:
            argv += ["-f", extra]
        done = subprocess.run(
            [*argv, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def container(self, service: str, index: int = 1) -> dict[str, Any]:
        import json

        (found,) = self.engine.containers(
            f"label=com.docker.compose.project={PROJECT}",
            f"label=com.docker.compose.service={service}",
            f"label=com.docker.compose.container-number={index}",
        )
        return json.loads(self.engine.docker("inspect", found["ID"]).stdout)[0]

    def address(self, service: str, index: int = 1) -> str:
        networks = self.container(service, index)["NetworkSettings"]["Networks"]
        (network,) = networks.values()
        return network["IPAddress"]

    def python(self, script: str, *args: str) -> Any:
        import json

        head = self.container("head")["Id"]
        return json.loads(self.engine.docker("exec", head, "python", "-c", script, *args).stdout)

    def remove_everything(self) -> None:
        """Containers, then networks and volumes of the project, each by its id."""
        label = f"label=com.docker.compose.project={PROJECT}"
        ids = [c["ID"] for c in self.engine.containers(label)]
        if ids:
            self.engine.docker("rm", "-f", "-v", *ids, check=False)
        for kind in ("network", "volume"):
            listed = self.engine.docker(kind, "ls", "-q", "--filter", label, check=False)
            ids = listed.stdout.split()
            if ids:
                self.engine.docker(kind, "rm", *ids, check=False)


def _wait(what: str, check: Any, timeout: float, every: float = 1.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@pytest.mark.docker
@pytest.mark.timeout(2400)
def test_the_compose_cluster_for_real(engine_module: Any, tmp_path: Path) -> None:
    import secrets
    import threading
    import time
    from functools import partial

    figures: dict[str, Any] = {}
    engine = engine_module.Engine()
    server = None
    cluster = None
    try:
        started = time.monotonic()
        engine.start()
        base = engine.base_image()
        figures["engine and base image ready (s)"] = round(time.monotonic() - started, 1)

        # The build: BASE_IMAGE and TORCH_INDEX_URL from an override of the test's own (this
        # machine reaches neither Docker Hub nor PyTorch's index); the network is the host's,
        # so pip reaches the local torch index on 127.0.0.1 and the package index as here.
        args = {"BASE_IMAGE": base}
        index = _torch_index(tmp_path / "torch-index")
        if index is not None:
            handler = partial(_QuietHandler, directory=str(index))
            try:  # the same port each run, so the URL (a build argument) keeps the torch layer
                server = http.server.ThreadingHTTPServer(("127.0.0.1", 18765), handler)
            except OSError:
                server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            args["TORCH_INDEX_URL"] = f"http://127.0.0.1:{server.server_address[1]}/"
        override = tmp_path / "build.yaml"
        override.write_text(
            yaml.safe_dump({"services": {"head": {"build": {"network": "host", "args": args}}}})
        )
        secret_dir = tmp_path / "ray_auth"
        secret_dir.mkdir(mode=0o700)
        token = secrets.token_hex(32)
        (secret_dir / "token").write_text(token + "\n")
        (secret_dir / "token").chmod(0o644)  # readable in the container, private on the host
        cluster = Cluster(engine, secret_dir / "token")
        tag = "sweeps:cpu"
        previous = engine.docker("images", "-q", tag).stdout.split()
        dangling_before = set(engine.docker("images", "-qf", "dangling=true").stdout.split())
        began = time.monotonic()
        log = cluster.compose("build", files=(str(override),))
        figures["build (s)"] = round(time.monotonic() - began, 1)
        assert log.count("naming to") == 1, f"not one image built:\n{log[-3000:]}"
        images = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout
        sweeps_images = [line for line in images.splitlines() if line.startswith("sweeps:")]
        assert len(sweeps_images) == 1, images
        figures["image size"] = sweeps_images[0].split()[1]
        dangling = set(engine.docker("images", "-qf", "dangling=true").stdout.split())
        # At most the image the tag named before this build (a rebuild replaces it).
        assert dangling - dangling_before <= set(previous), images
        engine.docker("image", "prune", "-f")  # this engine's own: keep its disk in check

        # The cluster, as the README starts it (the image exists: nothing is built again).
        began = time.monotonic()
        cluster.compose("up", "-d")
        figures["compose up, healthy (s)"] = round(time.monotonic() - began, 1)
        sweep_started = time.monotonic()
        for service, port in (("head", "8265"), ("tensorboard", "6006")):
            bindings = cluster.container(service)["NetworkSettings"]["Ports"][f"{port}/tcp"]
            assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], (service, bindings)
        for service in ("head", "worker"):
            policy = cluster.container(service)["HostConfig"]["RestartPolicy"]["Name"]
            assert policy == "unless-stopped", (service, policy)
        assert _http("http://127.0.0.1:6006/") == 200
        nodes = "http://127.0.0.1:8265/api/v0/nodes?detail=true&limit=100"
        assert _http(nodes) == 401, "the dashboard answered without the token"
        assert _http(nodes, "wrong") == 403
        assert _http(nodes, token) == 200
        sweep_address = cluster.address("sweep")
        before = {
            (s, i): cluster.container(s, i)["Id"]
            for s, i in (("worker", 1), ("worker", 2), ("sweep", 1))
        }

        # Mid-sweep: once 4 trials train (both workers full, one trial queued), a third worker.
        _wait("4 trials training", lambda: len(cluster.python(PROGRESS, SWEEP)) >= 4, 300)
        scaled = time.time()
        cluster.compose("up", "-d", "--scale", "worker=3", "--no-recreate", "worker")
        third = cluster.address("worker", 3)
        after = {key: cluster.container(*key)["Id"] for key in before}
        assert after == before, "`up --scale worker=3 --no-recreate worker` recreated a container"

        def on_third() -> float | None:
            times = [
                row[2]
                for rows in cluster.python(PROGRESS, SWEEP).values()
                for row in rows
                if row[0] == third
            ]
            return min(times) if times else None

        first_epoch = _wait("an epoch on the third worker", on_third, 180)
        figures["new worker's first epoch after `up --scale` (s)"] = round(first_epoch - scaled, 1)

        # Then a worker killed while it trains: its trials resume elsewhere.
        progress = cluster.python(PROGRESS, SWEEP)
        training = {
            index: [
                name
                for name, rows in progress.items()
                if rows[-1][0] == cluster.address("worker", index) and rows[-1][1] < EPOCHS
            ]
            for index in (1, 2)
        }
        index = max(training, key=lambda i: len(training[i]))
        victim, running = cluster.address("worker", index), training[index]
        engine.docker("kill", cluster.container("worker", index)["Id"])
        killed = time.time()

        sweep_id = cluster.container("sweep")["Id"]

        def ended() -> list[str] | None:
            state = engine.docker(
                "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", sweep_id
            )
            words = state.stdout.split()
            return words if words[0] == "exited" else None

        status = _wait("the sweep's end", ended, 600, every=2)
        figures["sweep wall, compose up to exit (s)"] = round(time.monotonic() - sweep_started, 1)
        logs = engine.docker("logs", "--tail", "40", sweep_id).stdout
        assert status[1] == "0", f"sweep exit {status[1]}:\n{logs}"

        tables = cluster.python(TABLES, SWEEP)
        assert len(tables["trials"]) == TRIALS
        assert all(t["status"] in ("COMPLETE", "PRUNED") for t in tables["trials"]), tables
        epochs = [tuple(e) for e in tables["epochs"]]
        assert len(epochs) == len(set(epochs)), "an epoch recorded twice"
        per_trial = {t["trial_id"]: t["epochs"] for t in tables["trials"]}
        for trial_id, count in per_trial.items():
            got = sorted(e for t, e in epochs if t == trial_id)
            assert got == list(range(1, count + 1)) or got == list(range(count)), (trial_id, got)
        figures["trials lost to the worker kill"] = TRIALS - len(per_trial)
        assert {"config", "test_acc"} <= set(tables["best"]), tables["best"]

        # A resumed trial runs in a new Ray trial folder: trial_NNN_<new id>.
        runs: dict[str, list[list[Any]]] = {}
        for name, rows in cluster.python(PROGRESS, SWEEP).items():
            runs.setdefault("_".join(name.split("_")[:2]), []).extend(rows)
        moved = [
            name
            for name in running
            if any(
                row[0] != victim and row[2] > killed for row in runs["_".join(name.split("_")[:2])]
            )
        ]
        figures["trials on the killed worker, resumed elsewhere"] = f"{len(moved)}/{len(running)}"
        # Each trial it was training resumed elsewhere, or had ended with its last result there
        # (ASHA or the stopper decided on it before the kill): the tables count its epochs.
        ended = {t["trial_index"]: t["epochs"] for t in tables["trials"]}
        there = [
            name for name in running if ended[int(name.split("_")[1])] == progress[name][-1][1]
        ]
        assert running and sorted(moved + there) == sorted(running), (running, moved, progress)

        # The driver's node left cleanly; a worker stopped on request exits 0.
        listed = json.loads(_get(nodes, token))["data"]["result"]["result"]
        (driver,) = [n for n in listed if n["node_ip"] == sweep_address]
        assert driver["state"] == "DEAD", driver
        assert "Expected termination" in (driver.get("state_message") or ""), driver
        worker2 = cluster.container("worker", 3 - index)["Id"]
        engine.docker("stop", worker2)
        code = engine.docker("inspect", "-f", "{{.State.ExitCode}}", worker2).stdout.strip()
        assert code == "0", f"a stopped worker exited {code}"
    finally:
        print("\ndocker figures:", json.dumps(figures, indent=1))
        if cluster is not None:
            cluster.remove_everything()
        if server is not None:
            server.shutdown()
        engine.stop()


def _get(url: str, token: str) -> str:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()
