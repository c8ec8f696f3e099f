"""The warm local head (``python -m sweeps.head``): sweeps join it while it runs and start their
own Ray once it is stopped; a record whose head is gone, or that others could have written, is
ignored; bad input is one line and exit code 2."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
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

from sweeps import head

sys.path.insert(0, str(Path(__file__).parents[1] / "reliability"))
from soak import session
from test_sockets import sockets_of_group


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """The head's folder, under a RAY_TMPDIR of the test's own."""
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    folder = head.state_dir()
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def listener() -> Iterator[str]:
    """127.0.0.1:PORT of a socket that accepts connections, as a head's GCS does."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"127.0.0.1:{server.getsockname()[1]}"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def record(folder: Path, **fields: object) -> None:
    fields = {"temp_dir": str(folder / "ray"), "token_auth": True, **fields}
    (folder / head.STATE).write_text(json.dumps(fields))


def test_a_record_whose_head_is_gone_is_ignored_and_cleared(state, listener, capsys):
    ray_temp = state / "ray"
    ray_temp.mkdir()
    address_file = ray_temp / head.RAY_ADDRESS_FILE
    for pid, address in ((dead_pid(), listener), (os.getpid(), "127.0.0.1:1")):
        record(state, address=address, pid=pid)
        address_file.write_text(address)
        assert head.running() is None
        assert head.main(["status"]) == 1
        assert capsys.readouterr().out == "No Ray head runs\n"
        assert not (state / head.STATE).exists()
        assert not address_file.exists()  # ray.init() would join it, dead or alive


def test_a_record_others_could_have_written_is_ignored(state, listener):
    record(state, address=listener, pid=os.getpid())
    assert head.running() == head.Head(listener, os.getpid(), str(state / "ray"), True)
    state.chmod(0o777)
    assert head.running() is None


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["start", "--num-cpus", "x"], "'x' is not a whole number >= 0"),
        (["start", "--port", "80"], "'80' is not a port from 1024 to 65535"),
        (["start", "--dashbord"], "unrecognized arguments: --dashbord"),
        (["restart"], "invalid choice: 'restart'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, error, state, capsys):
    assert head.main(argv) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and err.startswith("error: ") and error in err


def test_a_port_in_use_is_refused_before_ray_starts(state, listener, capsys):
    port = listener.rpartition(":")[2]
    assert head.main(["start", "--port", port]) == 2
    assert capsys.readouterr().err == (
        f"error: port {port} of 127.0.0.1 is in use; give another --port or none\n"
    )
    assert not (state / head.LOG).exists()


@pytest.mark.slow
def test_sweeps_join_a_running_head_and_start_their_own_once_it_stopped(tmp_path):
    """Its own RAY_TMPDIR (so its own state folder and Ray temp dir) and token file; no
    RAY_AUTH_MODE, so that the head and the sweeps that join it take token auth by default."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short socket paths
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(RAY_TMPDIR=str(ray_tmp), RAY_AUTH_TOKEN_PATH=str(token))
    folder = ray_tmp / f"sweeps-head-{os.getuid()}"

    def command(module: str, *args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", module, *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)

    def sweep(name: str, *args: str) -> str:
        ran = command("sweeps.run", "--smoke", "--confirm-seeds", "0", "--name", name,
                      "--storage", str(tmp_path / "runs"), *args)  # fmt: skip
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert pq.read_table(tmp_path / "runs" / name / "epochs.parquet").num_rows
        return ran.stdout

    pid = None
    try:
        started = command("sweeps.head", "start", "--num-cpus", "2")
        assert started.returncode == 0, started.stderr
        first = started.stdout.splitlines()[0]
        assert first.startswith("Ray head started at 127.0.0.1:"), started.stdout
        address = first.split()[4]
        again = command("sweeps.head", "start")
        assert again.returncode == 0 and f"already runs at {address}" in again.stdout
        pid = json.loads((folder / head.STATE).read_text())["pid"]
        sockets = sockets_of_group(pid)  # its process group: GCS, raylet, agents, ...
        assert len({s[0] for s in sockets}) >= 3 and all(s[2].is_loopback for s in sockets)

        for name in ("a", "b"):  # the first sweep's end left the head running
            out = sweep(name)
            assert f"joined the local Ray head at {address} " in out, out[-2000:]
            trials = pq.read_table(tmp_path / "runs" / name / "trials.parquet")
            assert trials.num_rows == 3
        assert not (ray_tmp / "ray").exists()  # no sweep started a Ray of its own

        kept = (folder / head.STATE).read_text()
        stopped = command("sweeps.head", "stop")
        assert stopped.returncode == 0 and stopped.stdout == f"Stopped the Ray head at {address}\n"
        deadline = time.monotonic() + 10  # the agents end soon after their raylet
        while session(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session(pid) == []  # every process of the head
        status = command("sweeps.head", "status")
        assert status.returncode == 1 and status.stdout == "No Ray head runs\n"

        (folder / head.STATE).write_text(kept)  # as a head killed with -9 leaves it
        out = sweep("c", "--num-trials", "1")
        assert "joined" not in out
        assert (ray_tmp / "ray").is_dir()  # the sweep's own Ray
    finally:
        command("sweeps.head", "stop")
        for leftover in session(pid) if pid else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
