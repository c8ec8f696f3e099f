"""Render the README's screenshots from a finished sweep with headless Chromium.

    python docs/screenshots.py runs/<sweep>      # writes docs/report.png and docs/hparams.png

Needs Debian's ``chromium`` package. The report is opened as a local file (it is
self-contained); TensorBoard is started with ``python -m sweeps.tensorboard`` on a free port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
CHROMIUM = [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


def screenshot(url: str, target: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [*CHROMIUM, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--virtual-time-budget=20000", f"--screenshot={target}", url],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"wrote {target}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(folder: str) -> None:
    report = Path(folder).resolve() / "report.html"
    screenshot(report.as_uri(), DOCS / "report.png", 1200, 2300)
    port = free_port()
    board = subprocess.Popen(
        [sys.executable, "-m", "sweeps.tensorboard", folder, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(120):
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                time.sleep(0.5)
        screenshot(url + "#hparams", DOCS / "hparams.png", 1900, 1000)
    finally:
        board.terminate()
        board.wait()


if __name__ == "__main__":
    main(sys.argv[1])
