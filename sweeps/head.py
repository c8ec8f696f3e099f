"""``python -m sweeps.head start|stop|status``: a warm local Ray head that later sweeps join.

A sweep that starts its own Ray waits seconds for it (GCS, raylet, dashboard process, agents,
monitor). ``start`` starts one head and leaves it running; every later ``python -m sweeps.run``
(or ``sweeps.sweep``) on this machine without ``--address`` joins it instead, and disconnects
when done. ``stop`` stops it.

The head is ``ray start --head --block`` with the defaults of the Ray a sweep starts itself:
every server on 127.0.0.1, no dashboard unless ``--dashboard``, no usage stats, Ray's token
authentication, no idle workers prestarted. Its processes die with that ``ray start`` process,
which ``stop`` signals.

What runs is recorded in a folder of this user's alone beside Ray's default temp dir (under
``RAY_TMPDIR``, else ``TMPDIR`` on Linux, else /tmp, as Ray chooses; ``sweeps.head_state``): a
head is seen on this machine only, by processes with the same ``RAY_TMPDIR``, and a record whose
head is gone is ignored. This module imports no Ray: ``status`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from sweeps.head_state import (
    RAY_ADDRESS_FILE,
    STATE,
    Head,
    answers,
    forget,
    forget_stale,
    private,
    process_alive,
    running,
    state_dir,
)

START_WAIT_S = 120  # `ray start` on a busy 2-core machine takes seconds, sometimes tens
STOP_WAIT_S = 60  # on SIGTERM Ray drains the node (up to 30 s by default), then kills it
LOG = "head.log"
DASHBOARD_PORT = 8265
RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` command of this Python's Ray
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXCEPTION = re.compile(r"^[A-Z]\w*(Error|Exception): ")


class HeadError(RuntimeError):
    """A head that cannot be started or stopped, or bad input, in one line."""


def start(
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    port: int | None = None,
    temp_dir: str | None = None,
    dashboard: bool = False,
) -> tuple[Head, bool]:
    """The running head and False, or a new one and True (the options are ``ray start``'s)."""
    head = running()
    if head is not None:
        return head, False
    folder = state_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not private(folder):
        raise HeadError(f"{folder} is not this user's alone; remove it or set RAY_TMPDIR")
    forget_stale()
    # Ray makes its temp dir writable by all; a private folder above it keeps it to this user.
    ray_temp = Path(temp_dir).expanduser().resolve() if temp_dir else folder / "ray"
    _clear_stale_address(ray_temp / RAY_ADDRESS_FILE)
    if port is not None and answers(f"127.0.0.1:{port}"):
        raise HeadError(f"port {port} of 127.0.0.1 is in use; give another --port or none")
    mode = os.environ.get("RAY_AUTH_MODE", "token").lower()  # ray.init's default for a new Ray
    env = {
        **os.environ,
        "RAY_AUTH_MODE": mode,
        # With Ray clusters off (macOS's default) the node is 127.0.0.1 and every server binds
        # there, as ray_compat.listen_on_loopback arranges for a Ray a sweep starts; a
        # `--node-ip-address 127.0.0.1` alone is turned into the routed address.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_prestart_worker_first_driver": "0",  # why: see sweeps.session
    }
    if mode == "token":
        _ensure_token(env)
    argv = [
        *RAY, "start", "--head", "--block", "--port", str(port or 0),
        "--temp-dir", str(ray_temp), "--disable-usage-stats",
        "--include-dashboard", str(dashboard).lower(),
        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(DASHBOARD_PORT),
    ]  # fmt: skip
    for flag, value in (("--num-cpus", num_cpus), ("--num-gpus", num_gpus)):
        if value is not None:
            argv += [flag, str(value)]
    log = folder / LOG
    with log.open("wb") as out:
        # A session of its own: the head outlives this command, its terminal and a Ctrl-C there.
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    address = _wait_started(process, ray_temp / RAY_ADDRESS_FILE, log)
    head = Head(address, process.pid, str(ray_temp), mode == "token")
    staged = folder / f".{STATE}.{os.getpid()}"
    staged.write_text(json.dumps(asdict(head)))
    staged.replace(folder / STATE)
    return head, True


def stop() -> Head | None:
    """Stop the running head; the one stopped, or None if none was running."""
    head = running()
    if head is None:
        forget_stale()
        return None
    with contextlib.suppress(ProcessLookupError):  # it may have just ended by itself
        os.kill(head.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while process_alive(head.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(head.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # its session's group, led by it
    forget(head)
    return head


def _clear_stale_address(address_file: Path) -> None:
    try:
        address = address_file.read_text().strip()
    except OSError:
        return
    if address and answers(address):
        raise HeadError(
            f"a Ray started in {address_file.parent} runs at {address}; stop it or give "
            "another --temp-dir"
        )
    address_file.unlink(missing_ok=True)


def _ensure_token(env: dict[str, str]) -> None:
    """Make a token where Ray looks for one (~/.ray/auth_token unless RAY_AUTH_TOKEN or
    RAY_AUTH_TOKEN_PATH says otherwise) if it finds none: ray.init does so for a new Ray, and
    `ray start` would refuse to start."""
    made = subprocess.run(
        [*RAY, "get-auth-token", "--generate"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    if made.returncode:
        raise HeadError(f"no Ray auth token: {_last_line(made.stderr)}")


def _wait_started(process: subprocess.Popen, address_file: Path, log: Path) -> str:
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HeadError(f"ray start failed: {_last_line(log.read_text())} (log: {log})")
        with contextlib.suppress(OSError):
            address = address_file.read_text().strip()
            if address:
                return address
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    raise HeadError(f"the Ray head did not start in {START_WAIT_S}s (log: {log})")


def _last_line(text: str) -> str:
    """The exception a failed `ray start` ended with (its last), else its last line."""
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    raised = [line for line in lines if EXCEPTION.match(line)]
    return (raised or lines or ["no output"])[-1]


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line HeadError instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise HeadError(f"{message}; see --help")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1024 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1024 to 65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m sweeps.head",
        description="A warm local Ray head: later `python -m sweeps.run` runs on this machine "
        "join it instead of starting a Ray of their own.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    begin = commands.add_parser("start", help="start the head (or say which one runs)")
    begin.add_argument("--num-cpus", type=_count, help="CPUs it offers [default: all]")
    begin.add_argument("--num-gpus", type=_count, help="GPUs it offers [default: all]")
    begin.add_argument("--port", type=_port, help="its GCS port [default: one Ray picks]")
    begin.add_argument("--temp-dir", help=f"Ray's temp dir for it [default: {state_dir() / 'ray'}]")
    begin.add_argument(
        "--dashboard", action="store_true",
        help=f"start Ray's dashboard on 127.0.0.1:{DASHBOARD_PORT}",
    )  # fmt: skip
    commands.add_parser("stop", help="stop the head")
    commands.add_parser("status", help="say whether a head runs (exit 0) or not (exit 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "start":
            return _start(args)
        if args.command == "stop":
            stopped = stop()
            print(f"Stopped the Ray head at {stopped.address}" if stopped else "No Ray head runs")
            return 0
        return _status()
    except HeadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _start(args: argparse.Namespace) -> int:
    head, new = start(args.num_cpus, args.num_gpus, args.port, args.temp_dir, args.dashboard)
    if not new:
        print(f"A Ray head already runs at {head.address}; python -m sweeps.head stop stops it")
        return 0
    print(f"Ray head started at {head.address} (temp dir {head.temp_dir})")
    if args.dashboard:
        print(f"Ray dashboard: http://127.0.0.1:{DASHBOARD_PORT} (its token: ray get-auth-token)")
    print(
        "Later `python -m sweeps.run` runs on this machine join it instead of starting their "
        "own Ray; `python -m sweeps.head stop` stops it"
    )
    return 0


def _status() -> int:
    head = running()
    if head is None:
        forget_stale()
        print("No Ray head runs")
        return 1
    print(f"Ray head running at {head.address} (pid {head.pid}, temp dir {head.temp_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
