"""A local sweep (with ``--dashboard``) listens on loopback addresses only."""

from __future__ import annotations

import ipaddress
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LISTENING = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}  # TCP LISTEN, UDP bound


def _address(hex_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_ip)
    # /proc/net stores each 32-bit word of the address in host (little-endian) order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    return getattr(address, "ipv4_mapped", None) or address


def listening_sockets() -> dict[str, tuple[str, str, int]]:
    """Socket inode: (protocol, address, port) of every listening socket on the machine."""
    found = {}
    for protocol, state in LISTENING.items():
        for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == state:
                hex_ip, hex_port = fields[1].split(":")
                found[fields[9]] = (protocol, _address(hex_ip), int(hex_port, 16))
    return found


def sockets_of_group(pgid: int) -> list[tuple[int, str, str, int]]:
    """(pid, protocol, address, port) of the listening sockets of a process group."""
    sockets, found = listening_sockets(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if os.getpgid(pid) != pgid:
                continue
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for link in links:
            inode = link.removeprefix("socket:[").removesuffix("]")
            if inode in sockets:
                found.append((pid, *sockets[inode]))
    return found


def test_a_local_sweep_listens_on_loopback_only(tmp_path, sweep_process, figures):
    run = sweep_process(
        "--smoke", "--dashboard", "--num-trials", "4", "--max-epochs", "40",
        "--grace-period", "40", "--patience", "40", "--checkpoint-every", "1",
        "--storage", str(tmp_path), "--name", "sockets",
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("sockets/trial_*/result.json")):
        assert run.running() and time.monotonic() < deadline, run.log.read_text()[-3000:]
        time.sleep(0.1)
    sockets = sockets_of_group(run.popen.pid)
    assert run.running(), "the sweep ended before its sockets were listed"
    run.kill()

    processes = {pid for pid, *_ in sockets}
    exposed = [s for s in sockets if not s[2].is_loopback]
    assert not exposed
    assert len(processes) >= 4  # the driver, GCS, raylet, a trial worker at least
    figures.record(
        "listening sockets", processes=len(processes), sockets=len(sockets),
        non_loopback=len(exposed),
    )  # fmt: skip
