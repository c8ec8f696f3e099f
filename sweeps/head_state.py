"""Where the warm local head (``python -m sweeps.head``) is recorded, and whether it still runs.

The record is ``head.json`` in a folder of this user's alone beside Ray's default temp dir (under
``RAY_TMPDIR``, else ``TMPDIR`` on Linux, else /tmp, as Ray chooses). A record in a folder that
others could have written, or whose head is gone, is ignored. No Ray here: a sweep asks at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

STATE = "head.json"
# Written by `ray start` into its temp dir once every process is up. `ray.init()` without an
# address joins the cluster it names, dead or alive, so a stale one is removed.
RAY_ADDRESS_FILE = "ray_current_cluster"


@dataclass(frozen=True)
class Head:
    """A head that ``python -m sweeps.head start`` started, as its state file records it."""

    address: str  # 127.0.0.1:PORT, its GCS
    pid: int  # the `ray start --block` process
    temp_dir: str  # Ray's temp dir for it
    token_auth: bool  # whether its clients must send Ray's auth token

    def alive(self) -> bool:
        """Its `ray start` process runs and its GCS accepts connections: a pid reused since, or
        a port another process has taken, is not the head."""
        return process_alive(self.pid) and answers(self.address)


def running() -> Head | None:
    """The head this user started on this machine, if it is up."""
    head = recorded()
    return head if head is not None and head.alive() else None


def state_dir() -> Path:
    """This user's folder for the head's record and log, and by default its Ray temp dir."""
    if "RAY_TMPDIR" in os.environ:
        root = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        root = os.environ["TMPDIR"]
    else:
        root = "/tmp"
    return Path(root) / f"sweeps-head-{os.getuid()}"


def recorded() -> Head | None:
    """The head the state file names, alive or not; None without a readable, private record."""
    folder = state_dir()
    if not private(folder):  # what it records decides where sweeps send their token
        return None
    try:
        return Head(**json.loads((folder / STATE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def forget_stale() -> None:
    """Remove the record of a head that no longer runs."""
    head = recorded()
    if head is not None and not head.alive():
        forget(head)


def forget(head: Head) -> None:
    """Remove the head's record and the address file Ray left for it."""
    (state_dir() / STATE).unlink(missing_ok=True)
    # A SIGTERM to `ray start --block` leaves this file, unlike `ray stop`.
    address_file = Path(head.temp_dir) / RAY_ADDRESS_FILE
    with contextlib.suppress(OSError):
        if address_file.read_text().strip() == head.address:
            address_file.unlink()


def private(folder: Path) -> bool:
    """The folder is this user's and no one else may write to it."""
    try:
        stat = folder.stat()
    except OSError:
        return False
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022


def process_alive(pid: int) -> bool:
    """The process runs: not exited, not gone, not a zombie, not another user's since."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # a child of this process that has exited
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or another user's since
        return False
    with contextlib.suppress(OSError):  # Linux: an exited one that its new parent never reaped
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def answers(address: str) -> bool:
    """Something accepts connections at ``host:port``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False
