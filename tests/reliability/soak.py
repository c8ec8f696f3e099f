"""The driver SIGKILLed at uniformly random instants, each kill followed by ``--resume``: the
soak of issue 15, on local storage and on ``s3://`` (moto's server on 127.0.0.1).

A kill takes the driver's session, its local Ray and Ray's workers included, at a delay drawn
uniformly in [0, horizon], the horizon being the wall time of one uninterrupted run of the same
sweep: it lands while Ray starts, while trials train, snapshot or upload, or while the final
tables and report are written. A ``--resume`` is killed the same way, until the kills planned
are spent; a kill before ``sweep.json`` leaves nothing to resume, and the sweep starts again.
On S3 every driver gets a fresh HOME, so the local cache of the one before is gone, as with a
driver lost with its machine, and the checks read the bucket: what only that cache held does
not count.

After each kill the journal must hold trials 0..k-1, at most ``--num-trials``, each with the
parameters it had after every earlier kill; a finished sweep must also pass
:func:`check_finished`. The long version is a command, which prints its figures and exits 1 if
an invariant was violated (``test_soak.py`` runs a short one)::

    python tests/reliability/soak.py --local 30 --s3 15 [--seed S] [--workdir DIR]

The sweeps run ``python -m sweeps.run`` of the checkout in the current directory.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import os
import posixpath
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

NUM_TRIALS = 6
# Epochs long enough (batches of 4, two wide layers) that training, not Ray's start, fills most
# of a run: kills then land mid-trial, where a resume has checkpoints to go on from.
CONFIRM_TOP, CONFIRM_SEEDS = 1, 2  # a confirmation phase too, to kill and resume
ARGS = [
    "--num-trials", str(NUM_TRIALS), "--max-epochs", "8", "--grace-period", "2",
    "--checkpoint-every", "1", "--hidden", "256,256", "--batch-size", "4",
    "--confirm-top", str(CONFIRM_TOP), "--confirm-seeds", str(CONFIRM_SEEDS),
]  # fmt: skip
# The sweep folder's files, as a user finds them.
SAVED, TRIALS, EPOCHS, JOURNAL, TENSORBOARD, CONFIRMATION = (
    "sweep.json", "trials.parquet", "epochs.parquet", "optuna.journal", "tensorboard",
    "confirmation.parquet",
)  # fmt: skip
STUDY = "sweep"  # the Optuna study's name in the journal
RAY_TRIALS = "ray_trials"  # a journal trial's user attribute: the Ray trials that ran it
STATES = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "ERROR": "FAIL"}  # table: Optuna
NOTHING_TO_RESUME = re.compile(r"^error: no sweep .* to resume", re.MULTILINE)
RAY_FOLDER = re.compile(r"trial_(\d{3})_([^/]+)")
# Where a kill landed, by the files it left.
BEFORE_SAVED, RUNNING, FINAL = "before sweep.json", "while running", "after trials.parquet"
BUCKET, REGION = "sweeps", "us-east-1"
# Test values: moto accepts any. They reach the sweep only through its environment.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class SweepProcess:
    """``python -m sweeps.run`` in its own session (so its local Ray dies with it on a kill),
    with its own Ray temp dir and its output in a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short socket paths
        self.log = log
        self.started = time.monotonic()
        with log.open("a") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "sweeps.run", *args],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "RAY_TMPDIR": self.ray_tmp, **(env or {})},
            )  # fmt: skip

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the driver and every process it started, as a crashed machine would: its
        session, which holds Ray's workers too (each in a process group of its own)."""
        deadline = time.monotonic() + 10
        while (alive := session(self.popen.pid)) and time.monotonic() < deadline:
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        self.popen.wait()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def wait(self, timeout: float = 300) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        finally:
            self.kill()  # whatever the driver left behind
        return code

    def exit_within(self, seconds: float) -> int | None:
        """Its exit code if it ends within ``seconds`` of its start; None while it runs."""
        try:
            return self.popen.wait(timeout=max(0.0, self.started + seconds - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None


def session(sid: int) -> list[int]:
    """The processes of session ``sid`` that are not yet dead (zombies are)."""
    alive = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # /proc/PID/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                alive.append(int(entry))
    return alive


@dataclass(frozen=True)
class Storage:
    """The soak's ``--storage``, and the harness's own view of it through pyarrow."""

    kind: str  # local or s3
    uri: str
    fs: pafs.FileSystem
    root: str  # ``uri`` as a path in ``fs``
    env: dict[str, str]  # for every driver
    fresh_home: bool  # every driver gets a new HOME: no local cache survives a driver

    def path(self, name: str, filename: str = "") -> str:
        return posixpath.join(self.root, name, filename).rstrip("/")

    def has(self, name: str, filename: str) -> bool:
        return self.fs.get_file_info(self.path(name, filename)).type == pafs.FileType.File

    def files(self, name: str) -> set[str]:
        """Every file of the sweep folder, relative to it."""
        selector = pafs.FileSelector(self.path(name), recursive=True, allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        top = self.path(name)
        return {posixpath.relpath(i.path, top) for i in infos if i.type == pafs.FileType.File}

    def read(self, name: str, filename: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(self.path(name, filename)) as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def table(self, name: str, filename: str) -> list[dict[str, Any]]:
        return pq.read_table(self.path(name, filename), filesystem=self.fs).to_pylist()


def local_storage(folder: Path) -> Storage:
    folder.mkdir(parents=True, exist_ok=True)
    return Storage("local", str(folder), pafs.LocalFileSystem(), str(folder), {}, False)


@contextlib.contextmanager
def s3_storage() -> Iterator[Storage]:
    """A bucket on moto's S3 server on a free port of 127.0.0.1, stopped afterwards."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = "{}:{}".format(*server.get_host_and_port())
        fs = pafs.S3FileSystem(
            access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region=REGION, scheme="http", endpoint_override=endpoint, allow_bucket_creation=True,
        )  # fmt: skip
        fs.create_dir(BUCKET)
        uri = f"s3://{BUCKET}/runs?endpoint_override={endpoint}&scheme=http&region={REGION}"
        yield Storage("s3", uri, fs, f"{BUCKET}/runs", dict(CREDENTIALS), True)
    finally:
        server.stop()


@contextlib.contextmanager
def storage(kind: str, workdir: Path) -> Iterator[Storage]:
    if kind == "s3":
        with s3_storage() as s3:
            yield s3
    else:
        yield local_storage(workdir / "local" / "runs")


@dataclass
class Figures:
    """What one soak did and saw, for one kind of storage."""

    kind: str
    horizon_s: float = 0.0
    sweeps: int = 0  # started under a name of their own
    finished: int = 0
    kills: int = 0
    kills_in_resume: int = 0  # of a --resume run
    resumes: int = 0
    fresh_starts: int = 0  # a kill before sweep.json left nothing: started again, not resumed
    landed: Counter = field(default_factory=Counter)  # where the kills landed
    errored: int = 0  # ERROR rows in the tables of the finished sweeps
    restored_from_checkpoint: int = 0  # runs of a trial that began past epoch 1
    epochs_retrained: int = 0  # reported again in the result.json files a kill left whole
    recoveries_s: list[float] = field(default_factory=list)  # last kill to a finished sweep
    violations: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def violate(self, sweep: str, invariant: str, detail: str) -> None:
        line = f"{self.kind} sweep {sweep}: {invariant}: {detail}"
        if line not in self.violations:
            self.violations.append(line)

    def summary(self) -> dict[str, object]:
        recoveries = self.recoveries_s or [math.nan]
        return {
            "sweeps": self.sweeps, "finished": self.finished,
            "kills": self.kills, "kills_in_resume": self.kills_in_resume,
            "landed": dict(self.landed), "resumes": self.resumes,
            "nothing_to_resume": self.fresh_starts, "violations": len(self.violations),
            "recovery_median_s": round(statistics.median(recoveries), 1),
            "recovery_max_s": round(max(recoveries), 1),
            "errored_trials": self.errored,
            "restored_from_checkpoint": self.restored_from_checkpoint,
            "epochs_retrained": self.epochs_retrained,
            "horizon_s": round(self.horizon_s, 1), "wall_s": round(self.wall_s, 1),
        }  # fmt: skip


def journal(storage: Storage, name: str) -> list[FrozenTrial]:
    """The trials of the sweep's journal (none before it has its study), read from a copy: a
    killed driver may have left Optuna's lock beside the file."""
    data = storage.read(name, JOURNAL)
    if data is None:
        return []
    with tempfile.TemporaryDirectory(prefix="soak-journal-") as scratch:
        copy = Path(scratch) / JOURNAL
        copy.write_bytes(data)
        try:
            study = optuna.load_study(
                study_name=STUDY, storage=JournalStorage(JournalFileBackend(str(copy)))
            )
        except KeyError:
            return []
        return study.get_trials(deepcopy=False)


@dataclass
class Sweep:
    """One sweep of the soak, under a name of its own, through its kills and resumes."""

    name: str
    figures: Figures
    params: dict[int, dict[str, Any]] = field(default_factory=dict)  # as first seen after a kill

    def violate(self, invariant: str, detail: str) -> None:
        self.figures.violate(self.name, invariant, detail)


def check_journal(storage: Storage, sweep: Sweep) -> list[FrozenTrial] | None:
    """After a kill: trials 0..k-1, no more than asked for, none lost, none with parameters
    changed since an earlier kill. On S3 the bucket's journal is the record."""
    try:
        trials = journal(storage, sweep.name)
    except Exception as err:
        sweep.violate("journal unreadable", f"{type(err).__name__}: {err}")
        return None
    numbers = Counter(t.number for t in trials)
    for number, times in sorted(numbers.items()):
        if times > 1:
            sweep.violate("journal trial numbers", f"trial {number} {times} times")
    if sorted(numbers) != list(range(len(numbers))):
        sweep.violate("journal trial numbers", f"{sorted(numbers)}, not 0..{len(numbers) - 1}")
    if len(trials) > NUM_TRIALS:
        sweep.violate("journal size", f"{len(trials)} trials, more than --num-trials")
    now = {t.number: t.params for t in trials}
    for number, before in sorted(sweep.params.items()):
        if number not in now:
            sweep.violate("trial lost", f"trial {number} gone from the journal")
        elif now[number] != before:
            sweep.violate("params changed", f"trial {number}: {before} then {now[number]}")
    for number, params in now.items():
        sweep.params.setdefault(number, dict(params))
    return trials


def check_finished(storage: Storage, sweep: Sweep) -> None:
    """A finished sweep: trials 0..N-1 each once in trials.parquet, in the journal (finished,
    the same state and parameters, none repeating another's) and in TensorBoard; each trial's
    epochs once in epochs.parquet, every epoch it trained among them, and the epochs each of
    its Ray trials reported equal to those rows; no parameters changed since a kill."""
    trials = check_journal(storage, sweep)
    files = storage.files(sweep.name)
    if missing := [table for table in (TRIALS, EPOCHS) if table not in files]:
        sweep.violate("tables", f"no {' or '.join(missing)}")
        return
    rows, epochs = storage.table(sweep.name, TRIALS), storage.table(sweep.name, EPOCHS)
    counts = Counter(row["trial_index"] for row in rows)
    for number in range(NUM_TRIALS):
        if counts[number] != 1:
            sweep.violate(TRIALS, f"trial {number} {counts[number]} times")
    for number in sorted(set(counts) - set(range(NUM_TRIALS)), key=str):
        sweep.violate(TRIALS, f"trial {number}, not one of 0..{NUM_TRIALS - 1}")
    for row in rows:
        if row["status"] not in STATES:
            sweep.violate(TRIALS, f"trial {row['trial_index']}: status {row['status']}")
    sweep.figures.errored += sum(row["status"] == "ERROR" for row in rows)
    check_epochs(sweep, rows, epochs)
    # By trial number, where trials.parquet has it once: its row, and its epochs by epoch.
    single = {row["trial_index"]: row for row in rows if counts[row["trial_index"]] == 1}
    kept = {
        number: {e["epoch"]: e for e in epochs if e["trial_id"] == row["trial_id"]}
        for number, row in single.items()
    }
    if trials is not None:
        check_study(sweep, trials, single, kept)
    confirmed = check_confirmation(storage, sweep, files)
    check_tensorboard(sweep, files, confirmed)
    check_retrained(storage, sweep, files, trials or [], kept)


def check_confirmation(storage: Storage, sweep: Sweep, files: set[str]) -> set[str]:
    """The confirmation runs: ``--confirm-seeds`` of each of the ``--confirm-top`` configurations,
    each once in confirmation.parquet and ended; the names of their TensorBoard runs."""
    if CONFIRMATION not in files:
        sweep.violate(CONFIRMATION, "no table")
        return set()
    rows = storage.table(sweep.name, CONFIRMATION)
    runs = Counter((row["trial_index"], row["replicate"]) for row in rows)
    if len({index for index, _ in runs}) != CONFIRM_TOP:
        sweep.violate(CONFIRMATION, f"configurations {sorted(runs)}, not {CONFIRM_TOP}")
    for (index, replicate), times in sorted(runs.items()):
        if times != 1 or replicate not in range(1, CONFIRM_SEEDS + 1):
            sweep.violate(CONFIRMATION, f"run {replicate} of trial {index}: {times} times")
    for index in {index for index, _ in runs}:
        if {r for i, r in runs if i == index} != set(range(1, CONFIRM_SEEDS + 1)):
            sweep.violate(CONFIRMATION, f"trial {index}: runs {sorted(runs)}")
    for row in rows:
        if row["status"] not in STATES:
            sweep.violate(CONFIRMATION, f"run {row['replicate']} of trial {row['trial_index']}: "
                          f"status {row['status']}")  # fmt: skip
    return {f"confirm_{index:03d}_{replicate}" for index, replicate in runs}


def check_study(
    sweep: Sweep, trials: list[FrozenTrial], rows: dict[int, dict], kept: dict[int, dict]
) -> None:
    """The journal agrees with the tables, trial by trial (its intermediate values are the
    val_loss of each epoch the first time it was trained), and the restored sampler did not
    propose the same parameters twice."""
    if sorted(t.number for t in trials) != list(range(NUM_TRIALS)):
        numbers = [t.number for t in trials]
        sweep.violate("journal", f"trials {numbers}, not 0..{NUM_TRIALS - 1}")
    names = {name for t in trials for name in t.params}
    for t in trials:
        if not t.state.is_finished():
            sweep.violate("journal", f"trial {t.number} not finished ({t.state.name})")
        row = rows.get(t.number)
        if row is None:
            continue
        if t.state.is_finished() and t.state.name != STATES.get(row["status"]):
            sweep.violate("journal", f"trial {t.number}: {t.state.name}, {row['status']} in table")
        in_table = {k: row[k] for k in names if row.get(k) is not None}
        if t.params != in_table:
            sweep.violate("journal", f"trial {t.number}: params {t.params}, {in_table} in table")
        if t.state.name == "COMPLETE" and t.value != row["best_val_loss"]:
            value = f"value {t.value}, best_val_loss {row['best_val_loss']} in table"
            sweep.violate("journal", f"trial {t.number}: {value}")
        mine = kept[t.number]
        if lost := sorted(set(t.intermediate_values) - set(mine)):
            detail = f"trial {t.number}: epochs {lost} in the journal, not in {EPOCHS}"
            sweep.violate("trained epoch missing", detail)
        for epoch, value in sorted(t.intermediate_values.items()):
            if epoch in mine and not same(value, mine[epoch]["val_loss"]):
                tabled = mine[epoch]["val_loss"]
                detail = f"epoch {epoch} val_loss {value} in the journal, {tabled} in {EPOCHS}"
                sweep.violate("re-trained epoch differs", f"trial {t.number}: {detail}")
    first: dict[tuple, int] = {}
    for t in trials:
        config = tuple(sorted(t.params.items()))
        if config in first:
            detail = f"trial {t.number} has trial {first[config]}'s params"
            sweep.violate("sampler repeated itself", detail)
        first.setdefault(config, t.number)


def check_epochs(sweep: Sweep, rows: list[dict], epochs: list[dict]) -> None:
    """Each trial's epochs 1..its epochs once in epochs.parquet, and none of another trial."""
    by_id: dict[str, list[int]] = {}
    for epoch in epochs:
        by_id.setdefault(epoch["trial_id"], []).append(epoch["epoch"])
    for row in rows:
        mine = sorted(by_id.get(row["trial_id"], []))
        if mine != list(range(1, row["epochs"] + 1)):
            detail = f"trial {row['trial_index']} ({row['trial_id']}): epochs {mine}"
            sweep.violate(EPOCHS, f"{detail}, not 1..{row['epochs']}")
    for trial_id in sorted(set(by_id) - {row["trial_id"] for row in rows}):
        sweep.violate(EPOCHS, f"epochs of {trial_id}, which trials.parquet does not have")


def check_tensorboard(sweep: Sweep, files: set[str], confirmed: set[str]) -> None:
    """One run folder ``trial_NNN`` per trial and one per confirmation run, each with its event
    file, and the experiment's event files beside them."""
    inside = [f.removeprefix(f"{TENSORBOARD}/") for f in files if f.startswith(f"{TENSORBOARD}/")]
    runs: dict[str, list[str]] = {}
    for path in inside:
        run, _, rest = path.partition("/")
        if not rest:
            if not run.startswith("events.out.tfevents."):
                sweep.violate(TENSORBOARD, f"file {run} beside the runs")
            continue
        runs.setdefault(run, []).append(rest)
    expected = {f"trial_{number:03d}": number for number in range(NUM_TRIALS)}
    for run in sorted(confirmed - set(runs)):
        sweep.violate(TENSORBOARD, f"no run {run}/ of a confirmation run")
    runs = {run: found for run, found in runs.items() if run not in confirmed}
    for run, number in expected.items():
        if run not in runs:
            found = sorted(r for r in runs if r.startswith(run))
            sweep.violate(TENSORBOARD, f"trial {number}: no run {run}/" + (
                f" (found {', '.join(found)})" if found else ""))  # fmt: skip
        elif not any(re.fullmatch(r"events\.out\.tfevents\.[^/]+", f) for f in runs[run]):
            sweep.violate(TENSORBOARD, f"trial {number}: no event file in {run}/")
    for run in sorted(set(runs) - set(expected)):
        if not any(run.startswith(prefix) for prefix in expected):
            sweep.violate(TENSORBOARD, f"run {run}/ of no trial 0..{NUM_TRIALS - 1}")


def reports(data: bytes) -> list[dict[str, Any]]:
    """The results of a Ray trial's result.json, one JSON object a line; a line a kill cut
    short is no result."""
    found = []
    for line in data.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            found.append(json.loads(line))
    return found


def same(a: object, b: object) -> bool:
    """Equal, NaN included (a diverged epoch's loss)."""
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return nan or a == b


def check_retrained(
    storage: Storage,
    sweep: Sweep,
    files: set[str],
    trials: list[FrozenTrial],
    kept: dict[int, dict[int, dict]],
) -> None:
    """Every epoch a Ray trial of a trial reported, first time or again after a kill, is in
    epochs.parquet, equal to its row there (training is seeded and resumes exactly). A trial's
    Ray trials are those its journal entry lists; a folder it does not list (an ask the journal
    never got) does not count, and where the journal lists none, every ``trial_NNN_*`` does."""
    listed = {t.number: t.user_attrs.get(RAY_TRIALS) for t in trials}
    reported: dict[int, list[tuple[str, dict]]] = {}
    for path in sorted(files):
        match = RAY_FOLDER.fullmatch(posixpath.dirname(path))
        if not match or posixpath.basename(path) != "result.json":
            continue
        number, ray_trial = int(match[1]), match[2]
        if number in kept and (not listed.get(number) or ray_trial in listed[number]):
            results = reports(storage.read(sweep.name, path) or b"")
            reported.setdefault(number, []).extend((path, r) for r in results if "epoch" in r)
    for number, results in sorted(reported.items()):
        trained = [r["epoch"] for _, r in results]
        sweep.figures.epochs_retrained += len(trained) - len(set(trained))
        sweep.figures.restored_from_checkpoint += sum(
            r.get("iterations_since_restore") == 1 and r["epoch"] > 1 for _, r in results
        )
        if lost := sorted(set(trained) - set(kept[number])):
            detail = f"trial {number}: epochs {lost} reported by its Ray trials, not in {EPOCHS}"
            sweep.violate("trained epoch missing", detail)
        wrong = [
            f"{path} epoch {r['epoch']} {key} {r.get(key)}, {mine[key]} in {EPOCHS}"
            for path, r in results
            if (mine := kept[number].get(r["epoch"]))
            for key in ("val_loss", "train_loss")
            if not same(r.get(key), mine[key])
        ]
        if wrong:
            more = f" ({len(wrong) - 1} more)" if len(wrong) > 1 else ""
            sweep.violate("re-trained epoch differs", f"trial {number}: {wrong[0]}{more}")


class Soak:
    """Sweeps on one storage, killed at random instants and resumed until ``kills`` kills are
    spent; the sweep then in progress runs to its end."""

    def __init__(
        self,
        storage: Storage,
        kills: int,
        rng: random.Random,
        workdir: Path,
        horizon: float | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.storage = storage
        self.kills = kills
        self.rng = rng
        self.horizon = horizon
        self.say = say
        self.logs = workdir / storage.kind / "logs"
        self.homes = workdir / storage.kind / "homes"
        self.logs.mkdir(parents=True)
        self.figures = Figures(storage.kind)

    @property
    def patience(self) -> float:
        """How long a run that is not to be killed may take."""
        return 600 if self.horizon is None else max(300, 10 * self.horizon)

    def run(self) -> Figures:
        started = time.monotonic()
        figures = self.figures
        measured = self.horizon is None
        if measured:  # by one uninterrupted sweep
            self.horizon = self.sweep(kill=False)
        while figures.kills < self.kills and (figures.finished or not measured):
            if figures.sweeps > 2 * self.kills + 5:  # each ended before its kill, or failed
                figures.violations.append(
                    f"{figures.kind} soak: stopped after {figures.sweeps} sweeps, "
                    f"{figures.kills} kills of {self.kills}"
                )
                break
            self.sweep()
        figures.horizon_s, figures.wall_s = self.horizon, time.monotonic() - started
        return figures

    def sweep(self, kill: bool = True) -> float:
        """One sweep to its end (or to an exit it should not have made): the wall time of its
        last run."""
        figures = self.figures
        figures.sweeps += 1
        sweep = Sweep(f"{figures.kind}-{figures.sweeps:02d}", figures)
        resume, last_kill, run = False, None, 0
        while True:
            run += 1
            what = "--resume" if resume else "new"
            killing = kill and figures.kills < self.kills
            at = self.rng.uniform(0, self.horizon) if killing else self.patience
            process = self.start(sweep.name, run, resume)
            figures.resumes += resume
            try:
                code = process.exit_within(at)
                ended = time.monotonic()
            finally:
                process.kill()
                self.forget_cache()
            if code is None and killing:
                figures.kills += 1
                figures.kills_in_resume += resume
                landed = self.landed(sweep.name)
                figures.landed[landed] += 1
                self.say(f"{sweep.name} run {run} ({what}): killed at {at:.1f} s, {landed}")
                check_journal(self.storage, sweep)
                resume, last_kill = True, ended
                continue
            wall = ended - process.started
            if code is None:
                sweep.violate("hung", f"run {run} ({what}) still running after {at:.0f} s")
                return wall
            log = process.log.read_text(errors="replace")
            if code == 0:
                check_finished(self.storage, sweep)
                figures.finished += 1
                recovered = ""
                if last_kill is not None:
                    figures.recoveries_s.append(ended - last_kill)
                    recovered = f", {ended - last_kill:.1f} s after its last kill"
                self.say(f"{sweep.name} run {run} ({what}): finished in {wall:.1f} s{recovered}")
                return wall
            if resume and code == 2 and NOTHING_TO_RESUME.search(log):
                figures.fresh_starts += 1
                self.say(f"{sweep.name} run {run} ({what}): nothing to resume, started again")
                resume = False
                continue
            tail = (log.strip().splitlines() or [""])[-1]
            sweep.violate("exit", f"run {run} ({what}) exit code {code}: {tail} ({process.log})")
            self.say(f"{sweep.name} run {run} ({what}): exit code {code}, sweep abandoned")
            return wall

    def start(self, name: str, run: int, resume: bool) -> SweepProcess:
        env = dict(self.storage.env)
        if self.storage.fresh_home:
            home = self.homes / f"{name}.{run}"
            home.mkdir(parents=True)
            env["HOME"] = str(home)
        args = ["--name", name, "--storage", self.storage.uri, *ARGS]
        return SweepProcess([*args, *(["--resume"] if resume else [])],
                            self.logs / f"{name}.{run}.log", env)  # fmt: skip

    def forget_cache(self) -> None:
        """Delete the drivers' HOMEs, their local caches in them, as a machine lost with its
        driver would. A resumed driver may write under its predecessor's HOME again."""
        if self.storage.fresh_home:
            shutil.rmtree(self.homes, ignore_errors=True)

    def landed(self, name: str) -> str:
        if self.storage.has(name, TRIALS):
            return FINAL
        return RUNNING if self.storage.has(name, SAVED) else BEFORE_SAVED


def report(figures: Figures) -> str:
    """The figures of one soak, and each violation on a line of its own."""
    f = figures.summary()
    landed = ", ".join(
        f"{figures.landed[where]} {where}" for where in (BEFORE_SAVED, RUNNING, FINAL)
    )
    lines = [
        f"{figures.kind}: {f['sweeps']} sweeps ({f['finished']} finished), {f['kills']} kills "
        f"({landed}; {f['kills_in_resume']} of a --resume), {f['resumes']} resumes, "
        f"{f['nothing_to_resume']} kills left nothing to resume (started again), "
        f"{f['violations']} invariant violations",
        f"  last kill to a finished sweep: median {f['recovery_median_s']} s, "
        f"max {f['recovery_max_s']} s; horizon {f['horizon_s']} s; wall {f['wall_s']} s",
        f"  trials ended in ERROR: {f['errored_trials']}; trial runs restored from a "
        f"checkpoint: {f['restored_from_checkpoint']}; epochs trained again: "
        f"{f['epochs_retrained']}",
        *(f"  {line}" for line in figures.violations),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", type=int, default=30, metavar="KILLS", help="on local storage")
    parser.add_argument("--s3", type=int, default=15, metavar="KILLS", help="on moto's S3")
    parser.add_argument("--seed", type=int, default=0, help="of the kill instants")
    parser.add_argument("--workdir", type=Path, help="for sweeps and logs (default: a new one)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))
    if any((workdir / kind).exists() for kind in ("local", "s3")):
        parser.error(f"{workdir} holds an earlier soak")
    print(f"soak in {workdir}", flush=True)
    results = []
    for kind, kills in (("local", args.local), ("s3", args.s3)):
        if kills:
            with storage(kind, workdir) as where:
                rng = random.Random(f"{args.seed}-{kind}")
                say = functools.partial(print, flush=True)
                results.append(Soak(where, kills, rng, workdir, say=say).run())
    print("\n".join(report(figures) for figures in results))
    return 1 if any(figures.violations for figures in results) else 0


if __name__ == "__main__":
    sys.exit(main())
