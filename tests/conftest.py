"""Shared fixtures: a real local Ray cluster with its own temp dir, always shut down; and the
markers that run only when named."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest

# Tests that run only when the marker expression names them (tests/README.md gives the commands).
OPT_IN = {
    "docker": "a real Docker engine and build (minutes, root); select with -m docker",
    "soak": "a long soak; select with -m soak",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.option.markexpr or ""
    for marker, reason in OPT_IN.items():
        if marker in chosen:
            continue
        for item in items:
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray for the in-process sweeps, started as a sweep starts its own: after the
    sweep's process settings (``sweeps.session.settings``), which a sweep run here then finds
    made, since Ray is already up when it prepares."""
    import ray

    from sweeps import session

    session.settings()
    # Ray's socket paths must stay short, so not under pytest's deep tmp_path.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _temp_dir=temp_dir)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
