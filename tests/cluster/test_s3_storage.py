"""A sweep on ``s3://`` storage, against moto's S3 server on 127.0.0.1 (pyarrow's S3 filesystem
with an endpoint override): everything the sweep writes lands in the bucket, and ``--resume``
on a machine with no local cache continues the study from what the bucket holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import optuna
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from trainable.checkpoint import FILENAME as BUNDLE
from trainable.checkpoint import load

sys.path.insert(0, str(Path(__file__).parents[1] / "reliability"))  # the soak's S3 server
import soak

pytestmark = pytest.mark.slow

NAME = "s3"
BUCKET, CREDENTIALS = soak.BUCKET, soak.CREDENTIALS
# Without confirmation, best.json names the search's best (the soak confirms on S3 too).
TINY = ["--space", "small", "--max-epochs", "3", "--grace-period", "1", "--hidden", "16",
        "--checkpoint-every", "1", "--confirm-seeds", "0"]  # fmt: skip
FILES = ("sweep.json", "trials.parquet", "epochs.parquet", "best.json", "report.html",
         "optuna.journal")  # fmt: skip


@pytest.fixture(scope="module")
def s3() -> Iterator[soak.Storage]:
    """moto's S3 server on a free port of 127.0.0.1 with an empty bucket, as the soak uses it."""
    with soak.s3_storage() as storage:
        yield storage


@pytest.fixture(scope="module")
def endpoint(s3: soak.Storage) -> str:
    """``127.0.0.1:PORT`` of the server."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(s3.uri).query)["endpoint_override"][0]


@pytest.fixture(scope="module")
def bucket(s3: soak.Storage) -> pafs.FileSystem:
    """The test's view of the server."""
    return s3.fs


def run_sweep(args: list[str], home: Path, log: Path) -> int:
    """``python -m sweeps.run`` with its own HOME and Ray temp dir, in its own session, so
    killing its process group at the end takes its local Ray with it."""
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    home.mkdir()
    env = {**os.environ, **CREDENTIALS, "HOME": str(home), "RAY_TMPDIR": ray_tmp}
    with log.open("a") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sweeps.run", *args],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )  # fmt: skip
    try:
        return process.wait(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def listing(s3: pafs.S3FileSystem, folder: str) -> list[str]:
    """Every file under ``folder`` in the bucket, relative to it."""
    infos = s3.get_file_info(pafs.FileSelector(folder, recursive=True))
    return sorted(posixpath.relpath(i.path, folder) for i in infos if i.type == pafs.FileType.File)


def study(s3: pafs.S3FileSystem, folder: str, scratch: Path) -> optuna.Study:
    """The Optuna study in the bucket's journal (read from a local copy, as Optuna reads files)."""
    with s3.open_input_stream(f"{folder}/optuna.journal") as journal:
        (scratch / "optuna.journal").write_bytes(journal.read())
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(scratch / "optuna.journal"))
    )
    return optuna.load_study(study_name="sweep", storage=storage)


def read_json(s3: pafs.S3FileSystem, path: str) -> dict:
    with s3.open_input_stream(path) as handle:
        return json.loads(handle.read())


def check_files(s3: pafs.S3FileSystem, folder: str, trials: list[dict]) -> None:
    """The sweep's own files, and every trial's checkpoint bundle and TensorBoard run."""
    files = listing(s3, folder)
    assert set(FILES) <= set(files), files
    # The HParams config is written once per sweep, a resumed one included.
    assert len([f for f in files if f.startswith("tensorboard/events.out.tfevents.")]) == 1
    runs = {f.split("/")[1] for f in files if f.startswith("tensorboard/trial_")}
    assert runs == {f"trial_{row['trial_index']:03d}" for row in trials}
    for row in trials:
        run = f"trial_{row['trial_index']:03d}"
        first = f"{run}_{row['trial_id']}"  # the Ray trial that first ran it
        bundles = [f for f in files if f.startswith(f"{first}/checkpoint_") and f.endswith(BUNDLE)]
        events = [f for f in files if f.startswith(f"tensorboard/{run}/events.out.tfevents.")]
        assert bundles, f"no checkpoint of {first} in {files}"
        assert events, f"no TensorBoard run of {run} in {files}"


def check_best(
    s3: pafs.S3FileSystem, folder: str, trials: list[dict], scratch: Path, endpoint: str
) -> None:
    """best.json names the trial the tables say is best, and its checkpoint in the bucket."""
    epochs = pq.read_table(f"{folder}/epochs.parquet", filesystem=s3).to_pylist()
    for row in trials:
        assert [e["epoch"] for e in epochs if e["trial_id"] == row["trial_id"]] == list(
            range(1, row["epochs"] + 1)
        )
    best = read_json(s3, f"{folder}/best.json")
    winner = min(trials, key=lambda row: row["best_val_loss"])
    assert best["trial_id"] == winner["trial_id"]
    assert (best["val_loss"], best["best_epoch"]) == (winner["best_val_loss"], winner["best_epoch"])
    assert best["config"] == {key: winner[key] for key in best["config"]}
    at_best = next(
        e for e in epochs if (e["trial_id"], e["epoch"]) == (best["trial_id"], best["best_epoch"])
    )
    assert (at_best["val_loss"], at_best["val_acc"]) == (best["val_loss"], best["val_acc"])
    # A URI the user can open (the endpoint included), not a path inside the bucket.
    checkpoint, _, query = best["checkpoint"].removeprefix("s3://").partition("?")
    assert checkpoint.startswith(f"{folder}/trial_") and f"endpoint_override={endpoint}" in query
    local = scratch / "best-checkpoint"
    local.mkdir(exist_ok=True)
    pafs.copy_files(checkpoint, str(local), source_filesystem=s3)
    bundle = load(local)
    assert (bundle["best_val_loss"], bundle["best_epoch"]) == (best["val_loss"], best["best_epoch"])


def check_bucket(s3: pafs.S3FileSystem, endpoint: str, scratch: Path, num_trials: int) -> None:
    folder = f"{BUCKET}/runs/{NAME}"
    trials = pq.read_table(f"{folder}/trials.parquet", filesystem=s3).to_pylist()
    assert sorted(row["trial_index"] for row in trials) == list(range(num_trials))
    check_files(s3, folder, trials)
    check_best(s3, folder, trials, scratch, endpoint)
    journal = study(s3, folder, scratch).trials
    assert [trial.number for trial in journal] == list(range(num_trials))
    assert all(trial.state.is_finished() for trial in journal)


def test_sweep_on_s3_and_resume_from_the_bucket(s3, bucket, endpoint, tmp_path):
    storage = s3.uri
    log = tmp_path / "sweep.log"
    started = time.monotonic()
    code = run_sweep(["--name", NAME, "--storage", storage, "--num-trials", "4", *TINY],
                     tmp_path / "home", log)  # fmt: skip
    first_s = time.monotonic() - started
    assert code == 0, log.read_text()[-4000:]
    check_bucket(bucket, endpoint, tmp_path, num_trials=4)

    # A fresh HOME: no local journal cache, so the study can only come from the bucket.
    started = time.monotonic()
    code = run_sweep(["--name", NAME, "--storage", storage, "--resume", "--num-trials", "6"],
                     tmp_path / "fresh-home", log)  # fmt: skip
    resume_s = time.monotonic() - started
    assert code == 0, log.read_text()[-4000:]
    check_bucket(bucket, endpoint, tmp_path, num_trials=6)
    print(f"sweep on s3: {first_s:.1f} s, resumed with 2 more trials: {resume_s:.1f} s")
