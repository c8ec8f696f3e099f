"""The Optuna dashboard over a sweep's journal, and ``--dashboard`` starting Ray's on loopback."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, token: str | None = None, timeout: float = 60) -> dict:
    """GET once the server is up; an HTTP error status is raised at once."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError:
            raise
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_optuna_dashboard_shows_the_study_in_the_sweep_journal(sweep):
    port = free_port()
    server = subprocess.Popen(
        [Path(sys.executable).with_name("optuna-dashboard"), sweep["folder"] / "optuna.journal",
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        # The search's study, the confirmation runs' and the audit runs' (sweeps.phases).
        assert [s["study_name"] for s in studies] == ["sweep", "confirm", "audit"]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")
        states = sorted(t["state"] for t in detail["trials"])
        assert states == sorted(t["status"].capitalize() for t in sweep["trials"])
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_dashboard_flag_serves_rays_dashboard_on_loopback_behind_a_token(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    token = secrets.token_hex(32)
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    run = subprocess.Popen(
        # Long enough (about 20 s) for the dashboard to come up while the sweep runs.
        [sys.executable, "-m", "sweeps.run", "--smoke", "--dashboard", "--num-trials", "6",
         "--max-epochs", "20", "--grace-period", "20", "--patience", "20",
         "--storage", str(tmp_path), "--name", "dash"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        for line in run.stdout:
            found = re.match(r"Ray dashboard: (http://([\d.]+):\d+)", line)
            if found:
                break
        assert found, "the run printed no dashboard URL"
        assert found.group(2) == "127.0.0.1"
        with pytest.raises(urllib.error.HTTPError) as refused:
            get_json(found.group(1) + "/api/version")
        assert refused.value.code == 401
        assert get_json(found.group(1) + "/api/version", token)["ray_version"]
        run.stdout.read()
        assert run.wait(timeout=300) == 0
    finally:
        run.kill()
        run.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
