"""A real multi-node Ray cluster run with the very commands of ``docker/compose.yaml``.

Each node is a host of its own: a Linux network namespace with its own address on a bridge
(in a namespace of its own too), its own PID namespace (the node dies whole when it is
stopped), and ``/etc/hosts`` naming the head ``head``, as compose's network does. Token
authentication is on, with the token in a 0600 file, as compose's secret.

What differs from compose, and why: a container has its own /tmp, so each ``ray start`` gets
``--temp-dir`` in a folder of its node (Ray otherwise puts every node's sockets in the head's
session folder, where two nodes on one filesystem collide); the ``results`` volume is a folder
every node sees, in place of ``/results``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
SUBNET = "10.233.71"
# Trials of several seconds (small batches): Ray Tune gives a trial whose actor is still
# starting to a worker that frees up first, so trials shorter than a worker's start would all
# run on the first node up.
SWEEP_ARGS = (
    "--space small --num-trials 4 --max-epochs 12 --grace-period 12 --patience 12 "
    "--hidden 64,64 --batch-size 2 --checkpoint-every 4"
)


def compose_commands(**environment: str) -> dict[str, list[str]]:
    """Each service's command, interpolated as compose does (``${VAR:-default}``)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    environment = {"SWEEP_ARGS": SWEEP_ARGS, "WORKER_CPUS": "1", **environment}
    return {name: _argv(service["command"], environment) for name, service in services.items()}


def _argv(command: str | list[str], environment: dict[str, str]) -> list[str]:
    def value(match: re.Match) -> str:
        return environment.get(match["name"], match["default"] or "")

    pattern = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")
    if isinstance(command, str):
        return shlex.split(pattern.sub(value, command))
    return [pattern.sub(value, part) for part in command]


def netns_permitted() -> str | None:
    """Why namespaced hosts cannot be made here, or None."""
    if any(shutil.which(tool) is None for tool in ("ip", "unshare", "nsenter")):
        return "needs iproute2's ip and util-linux's unshare and nsenter"
    probe = f"swprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"network namespaces not permitted: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


class Network:
    """A bridge in a namespace of its own, and hosts plugged into it."""

    def __init__(self, root: Path) -> None:
        self.tag = f"sw{os.getpid() % 100000}"
        self.root = root
        self.hosts: dict[str, str] = {}
        self.processes: list[subprocess.Popen] = []
        self.token = root / "token"
        self.token.write_text(secrets.token_hex(32))
        self.token.chmod(0o600)
        self.switch = self.tag + "-br"
        self._ip("netns", "add", self.switch)
        self._ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        self._ip("-n", self.switch, "link", "set", "br0", "up")

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def add_host(self, name: str) -> str:
        """A host named ``name`` (resolvable by every host) with the next address."""
        address = f"{SUBNET}.{len(self.hosts) + 2}"
        self.hosts[name] = address
        ns, veth = f"{self.tag}-{name}", f"v{len(self.hosts)}"
        self._ip("netns", "add", ns)
        self._ip("-n", ns, "link", "set", "lo", "up")
        self._ip(
            "-n", self.switch, "link", "add", veth, "type", "veth", "peer", "eth0", "netns", ns
        )
        self._ip("-n", self.switch, "link", "set", veth, "master", "br0", "up")
        self._ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        self._ip("-n", ns, "link", "set", "eth0", "up")
        # A default route lets Ray find the node's address the way it does on a real host.
        self._ip("-n", ns, "route", "add", "default", "dev", "eth0")
        (self.root / name).mkdir()
        self._write_etc()
        return address

    def _write_etc(self) -> None:
        """``ip netns exec`` puts /etc/netns/NS/* over /etc: hosts names every host, and no
        name server (there is none to reach: lookups must fail at once, not time out)."""
        names = "".join(f"{address} {name}\n" for name, address in self.hosts.items())
        for name in self.hosts:
            etc = Path("/etc/netns") / f"{self.tag}-{name}"
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(Path("/etc/hosts").read_text() + names)
            (etc / "resolv.conf").write_text("options timeout:1 attempts:1\n")

    def env(self, host: str) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token),
            "RAY_TMPDIR": str(self.root / host),  # where `--address auto` looks
            "RAY_USAGE_STATS_ENABLED": "0",
        }

    def start(self, host: str, argv: list[str], setup: str = "", **env: str) -> subprocess.Popen:
        """Run ``argv`` on ``host`` in a PID namespace of its own: when it ends or is killed,
        every process it started (raylet, workers, ...) dies with it."""
        script = f"{setup}\nexec {shlex.join(node_command(argv, self.root / host))}"
        log = (self.root / f"{host}.log").open("ab")
        process = subprocess.Popen(
            ["ip", "netns", "exec", f"{self.tag}-{host}",
             "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script],
            stdout=log, stderr=subprocess.STDOUT, env={**self.env(host), **env},
        )  # fmt: skip
        self.processes.append(process)
        return process

    def run(self, host: str, argv: list[str], timeout: float, **env: str) -> tuple[int, str]:
        """Run ``argv`` on ``host`` to its end: its exit code and what it printed."""
        log = self.root / f"{host}.log"
        offset = log.stat().st_size if log.exists() else 0
        process = self.start(host, argv, **env)
        try:
            process.wait(timeout=timeout)
        finally:
            process.kill()
        with log.open("rb") as out:
            out.seek(offset)
            return process.returncode, out.read().decode(errors="replace")

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        for name in self.hosts:
            subprocess.run(["ip", "netns", "del", f"{self.tag}-{name}"], check=False)
            shutil.rmtree(Path("/etc/netns") / f"{self.tag}-{name}", ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.switch], check=False)


def node_command(argv: list[str], temp_dir: Path) -> list[str]:
    """``argv`` with ``--temp-dir`` after each ``ray start``, in words or in a shell script."""
    flag = ["--temp-dir", f"{temp_dir}/ray"]
    out: list[str] = []
    for index, word in enumerate(argv):
        out.append(word.replace("ray start", f"ray start {shlex.join(flag)}"))
        if word == "start" and index and argv[index - 1] == "ray":
            out += flag
    return out


def sweep_command(network: Network, results: Path, **environment: str) -> list[str]:
    """Compose's ``sweep`` service, on the folder every node sees in place of /results."""
    argv = compose_commands(**environment)["sweep"]
    return [part.replace("/results", str(results)) for part in argv]


@pytest.fixture(scope="module")
def cluster():
    reason = netns_permitted()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="rmn-", dir="/tmp"))  # short socket paths
    network = Network(root)
    try:
        commands = compose_commands()
        for host in ("head", "worker1", "worker2", "sweep"):
            network.add_host(host)
        results = root / "results"
        results.mkdir()
        network.start("head", commands["head"])
        wait_healthy(network, "head", "head")
        for worker in ("worker1", "worker2"):
            network.start(worker, commands["worker"])
        for worker in ("worker1", "worker2"):
            wait_healthy(network, worker, "worker")
        yield network, results
    finally:
        network.close()
        shutil.rmtree(root, ignore_errors=True)


def wait_healthy(network: Network, host: str, service: str, timeout: float = 120) -> None:
    """Run the service's compose healthcheck on ``host`` until it passes."""
    test = yaml.safe_load(COMPOSE.read_text())["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    argv = ["ip", "netns", "exec", f"{network.tag}-{host}", *test[1:]]
    deadline = time.monotonic() + timeout
    while subprocess.run(argv, capture_output=True, env=network.env(host)).returncode:
        if time.monotonic() > deadline:
            log = (network.root / f"{host}.log").read_text()[-2000:]
            raise AssertionError(f"{service} on {host} not healthy in {timeout}s:\n{log}")
        time.sleep(1)


def trial_nodes(folder: Path) -> dict[str, str]:
    """Each trial's node address, as its results say."""
    nodes = {}
    for path in folder.glob("trial_*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        nodes[path.parent.name] = lines[-1]["node_ip"]
    return nodes


def test_compose_sweep_spreads_over_the_workers(cluster):
    network, results = cluster
    argv = sweep_command(network, results, SWEEP_NAME="compose")
    started = time.monotonic()
    code, log = network.run("sweep", argv, timeout=300)
    assert code == 0, log[-3000:]
    folder = results / "compose"
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert len(trials) == 4
    assert {row["status"] for row in trials} <= {"COMPLETE", "PRUNED"}
    nodes = trial_nodes(folder)
    workers = {network.hosts["worker1"], network.hosts["worker2"]}
    assert set(nodes.values()) == workers, nodes
    assert (folder / "best.json").is_file()
    print(f"compose sweep: {len(trials)} trials on {sorted(nodes.values())} in "
          f"{time.monotonic() - started:.1f}s")  # fmt: skip


def test_ray_job_submit_runs_the_sweep_on_the_cluster(cluster):
    """``ray job submit --working-dir <repo>``: the job's driver runs on the head with the
    uploaded code, its trials on the workers."""
    network, results = cluster
    submit = [
        "ray", "job", "submit", "--address", "http://head:8265", "--working-dir", str(REPO),
        "--", "python", "-m", "sweeps.run", "--storage", str(results), "--name", "job",
        *SWEEP_ARGS.split(),
    ]  # fmt: skip
    started = time.monotonic()
    code, log = network.run("sweep", submit, timeout=300)
    assert code == 0, log[-3000:]
    assert "Sweep finished: 4 trials" in log
    nodes = trial_nodes(results / "job")
    assert len(nodes) == 4
    assert set(nodes.values()) <= {network.hosts["worker1"], network.hosts["worker2"]}
    print(f"ray job submit: trials on {sorted(nodes.values())} in "
          f"{time.monotonic() - started:.1f}s")  # fmt: skip


JOBS = """
import sys, urllib.error, urllib.request
request = urllib.request.Request("http://head:8265/api/jobs/", headers=eval(sys.argv[1]))
try:
    print(urllib.request.urlopen(request, timeout=30).status)
except urllib.error.HTTPError as err:
    print(err.code)
"""


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, "401"), ({"Authorization": "Bearer wrong"}, "403"), ("token", "200")],
)
def test_dashboard_and_job_api_want_the_token(cluster, headers, status):
    network, _ = cluster
    if headers == "token":
        headers = {"Authorization": f"Bearer {network.token.read_text()}"}
    code, log = network.run("sweep", [sys.executable, "-c", JOBS, repr(headers)], timeout=60)
    assert code == 0, log[-1500:]
    assert log.split() == [status]


@pytest.mark.parametrize(
    ("environment", "refused"),
    [({"RAY_AUTH_TOKEN_PATH": "/dev/null", "RAY_AUTH_TOKEN": "0" * 64}, True),
     ({"RAY_AUTH_MODE": "disabled"}, True), ({}, False)],
)  # fmt: skip
def test_cluster_clients_want_the_token(cluster, environment, refused):
    network, _ = cluster
    status = ["ray", "status", "--address", "head:6379"]
    code, log = network.run("sweep", status, timeout=120, **environment)
    assert (code != 0) == refused, log[-2000:]
    assert ("AuthenticationError: RPC error: InvalidAuthToken" in log) == refused, log[-2000:]


# The user's own code: a model, the loader of its data and its search space, in files of the
# driver's folder only. The model's parameters are filled by name (num_features and num_classes
# from the data, width from the space).
USER_CODE = {
    "tiny_models.py": """\
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, num_features: int, num_classes: int, width: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(num_features, width), nn.ReLU(), nn.Linear(width, num_classes)
        )

    def forward(self, x):
        return self.layers(x)
""",
    "tiny_data.py": """\
import torch


def load(seed: int):
    features = torch.randn(240, 6, generator=torch.Generator().manual_seed(seed))
    return features, features[:, :3].argmax(dim=1)
""",
    "tiny_space.py": """\
def space(trial):
    trial.suggest_int("width", 4, 16)
""",
}
# Tries to load the model where it runs: a worker that has neither the file nor the module
# fails so, as a trial there would without the runtime environment.
LOAD_MODEL = """
import os, sys
from trainable import user_code
print("file there:", os.path.exists(sys.argv[1].rpartition(":")[0]))
user_code.load(sys.argv[1], "model")
"""


def private_files(folder: Path, files: dict[str, str]) -> str:
    """A node's setup script that writes ``files`` into ``folder`` on a tmpfs of the node's
    own mount namespace: there only, as on the driver's own machine, while the node runs."""
    writes = "".join(
        f"cat > {shlex.quote(str(folder / name))} <<'EOF'\n{text}EOF\n"
        for name, text in files.items()
    )
    return f"set -e\nmount -t tmpfs tmpfs {shlex.quote(str(folder))}\n{writes}"


def in_node(network: Network, host: str, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``argv`` in the mount and network namespaces of ``host``'s running node."""
    [node] = [
        process for process in network.processes
        if process.args[3] == f"{network.tag}-{host}" and process.poll() is None
    ]  # fmt: skip
    return subprocess.run(
        ["nsenter", "--target", str(node.pid), "--mount", "--net", "--", *argv],
        capture_output=True, text=True, env=network.env(host), timeout=120,
    )  # fmt: skip


def test_user_code_beside_the_driver_is_shipped_to_the_workers(cluster):
    """The model and data files exist in the driver's node only; ``--address`` ships them as
    the job's ``py_modules`` and the trials train on the workers, which never had them."""
    network, results = cluster
    code = network.root / "sweep" / "code"
    code.mkdir()
    model = f"{code}/tiny_models.py:TinyNet"
    args = (
        f"--model {model} --dataset {code}/tiny_data.py:load --space {code}/tiny_space.py:space "
        "--num-trials 2 --max-epochs 2 --grace-period 1"
    )
    argv = sweep_command(network, results, SWEEP_NAME="shipped", SWEEP_ARGS=args)
    log = network.root / "sweep.log"
    offset = log.stat().st_size if log.exists() else 0
    sweep = network.start("sweep", argv, setup=private_files(code, USER_CODE))
    try:
        deadline = time.monotonic() + 60
        while in_node(network, "sweep", ["test", "-f", f"{code}/tiny_data.py"]).returncode:
            assert time.monotonic() < deadline, log.read_text()[offset:][-2000:]
            time.sleep(0.2)
        assert not (code / "tiny_models.py").exists()  # nor on the filesystem the nodes share
        for worker in ("worker1", "worker2"):
            seen = in_node(network, worker, [sys.executable, "-c", LOAD_MODEL, model])
            assert seen.returncode == 1 and "file there: False" in seen.stdout, seen
            assert f"model file not found: {code}/tiny_models.py" in seen.stderr, seen.stderr
        assert sweep.poll() is None  # the driver had the files all the while
        assert sweep.wait(timeout=300) == 0, log.read_text()[offset:][-3000:]
    finally:
        sweep.kill()
    folder = results / "shipped"
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert len(trials) == 2, trials
    assert {row["status"] for row in trials} <= {"COMPLETE", "PRUNED"}, trials
    ran = {}
    for path in folder.glob("trial_*/result.json"):
        last = json.loads(path.read_text().splitlines()[-1])
        ran[last["trial_id"]] = (last["node_ip"], last["config"]["width"])
    assert {row["trial_id"]: row["width"] for row in trials} == {
        trial: width for trial, (_, width) in ran.items()
    }
    assert all(4 <= row["width"] <= 16 for row in trials), trials
    hosts = {address: name for name, address in network.hosts.items()}
    workers = {hosts.get(address, address) for address, _ in ran.values()}
    assert workers <= {"worker1", "worker2"}, ran
    for worker in workers:
        session = network.root / worker / "ray" / "session_latest" / "runtime_resources"
        shipped = {path.name for path in (session / "py_modules_files").rglob("*.py")}
        assert {"tiny_models.py", "tiny_data.py"} <= shipped, (worker, shipped)
    best = json.loads((folder / "best.json").read_text())
    assert best["model"] == model and best["dataset"] == f"{code}/tiny_data.py:load", best
    assert best["config"]["width"] in {row["width"] for row in trials}


# The same code typed into an interactive session (``python -`` reads it from stdin): it has no
# file that a worker could import, so it travels by value.
INTERACTIVE = f"""\
{USER_CODE["tiny_models.py"]}
{USER_CODE["tiny_data.py"]}
{USER_CODE["tiny_space.py"]}
import sys
import sweeps

results = sweeps.sweep(model=TinyNet, dataset=load, space=space, address="auto",
                       storage=sys.argv[1], name="by-value", num_trials=2, max_epochs=2,
                       grace_period=1, confirm_seeds=0)
print("best model:", results.best["model"])
"""


def test_code_of_an_interactive_session_travels_to_the_workers_by_value(cluster):
    network, results = cluster
    script = network.root / "interactive.py"  # fed on stdin: the session has no file
    script.write_text(INTERACTIVE)
    argv = sweep_command(network, results)
    start = argv[-1].index("exec python")
    argv[-1] = argv[-1][:start] + f"exec python - {results} < {script}"
    code, log = network.run("sweep", argv, timeout=300)
    assert code == 0, log[-3000:]
    assert "best model: __main__:TinyNet" in log
    folder = results / "by-value"
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert len(trials) == 2 and {row["status"] for row in trials} <= {"COMPLETE", "PRUNED"}
    hosts = {address: name for name, address in network.hosts.items()}
    assert {hosts[address] for address in trial_nodes(folder).values()} <= {"worker1", "worker2"}
    assert (folder / "code.pkl").is_file()


def test_storage_a_worker_cannot_see_is_refused(cluster):
    """A worker with its own empty folder over the results path (no NFS mount there)."""
    network, results = cluster
    network.add_host("blind")
    node = network.start(
        "blind", compose_commands()["worker"], setup=f"mount -t tmpfs tmpfs {results}"
    )
    try:
        wait_healthy(network, "blind", "worker")
        code, log = network.run("sweep", sweep_command(network, results, SWEEP_NAME="blind"), 300)
    finally:
        node.kill()
    assert code == 2, log[-3000:]
    error = log.strip().splitlines()[-1]
    assert error.startswith("error: --storage") and network.hosts["blind"] in error, log[-2000:]
    assert not (results / "blind").exists()


def test_sweep_waits_for_a_node_that_is_still_joining(cluster):
    """The driver can be up before the workers it needs (a KubeRay submitter, compose without
    healthchecks): a shortfall of CPUs is waited out while nodes join."""
    network, results = cluster
    network.add_host("late")
    # More CPUs per trial than the cluster ever had, the earlier test's stopped node included
    # (it can still be listed for a while): the driver must wait for the node to come.
    args = "--space small --num-trials 2 --max-epochs 2 --hidden 16 --cpus-per-trial 4"
    argv = sweep_command(network, results, SWEEP_NAME="late", SWEEP_ARGS=args)
    log = network.root / "sweep.log"
    offset = log.stat().st_size if log.exists() else 0
    sweep = network.start("sweep", argv)
    wait_for_text(log, offset, "waiting up to 60s for nodes to join", timeout=120)
    node = network.start("late", compose_commands(WORKER_CPUS="4")["worker"])
    try:
        assert sweep.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        node.kill()
    nodes = trial_nodes(results / "late")
    assert set(nodes.values()) == {network.hosts["late"]}


def wait_for_text(log: Path, offset: int, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text()[offset:]:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in {timeout}s:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
