"""python -m sweeps.replay: a trial trained again matches its record bit for bit, a record that
differs at one epoch is named at that epoch, and bad input gets one line. The slow tests replay
trials of a real sweep (the shared ``sweep`` fixture) and read its manifest."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

from search_spaces import Vocabulary
from sweeps import manifest, replay
from sweeps.config import SweepConfig
from sweeps.manifest import LIBRARIES, MANIFEST
from sweeps.record import SweepRecord
from sweeps.space import TRIAL_INDEX, SweepSpace
from sweeps.storage import JOURNAL, SAVED_CONFIG, STUDY, SweepFolder, journal_storage
from trainable import data
from trainable.run import TrainingRun
from trainable.seeding import trial_seed

REPO = Path(__file__).parents[2]


def sweep_folder(tmp_path: Path, name: str = "s", **options) -> tuple[SweepFolder, SweepConfig]:
    cfg = SweepConfig(name=name, storage=str(tmp_path), space="small", hidden=(16,),
                      max_epochs=3, seed=2, **options)  # fmt: skip
    folder = SweepFolder.in_storage(str(tmp_path), name)
    folder.write_bytes(SAVED_CONFIG, cfg.model_dump_json().encode())
    return folder, cfg


def trained(folder: SweepFolder, cfg: SweepConfig, nudged_at: int | None = None) -> list[float]:
    """Trial 0 of the sweep in ``folder``, trained here on one thread as a trial of it and
    recorded (its val_loss one ulp up at epoch ``nudged_at``); returns the losses trained."""
    import torch

    record = SweepRecord(folder)
    trial = record.ask(SweepSpace(cfg.space, Vocabulary.of(cfg.model)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # --cpus-per-trial 1
    try:
        run = TrainingRun({**cfg.trial_settings(), **trial.params, TRIAL_INDEX: 0})
        epochs = range(1, cfg.max_epochs + 1)
        results = [run.step() for _ in epochs]
    finally:
        torch.set_num_threads(threads)
    losses = [result.val_loss for result in results]
    for result in results:
        if result.epoch == nudged_at:
            result = dataclasses.replace(result, val_loss=math.nextafter(result.val_loss, math.inf))
        record.epoch(0, result)
    return losses


def test_a_trial_replays_bit_for_bit_and_a_record_one_ulp_off_is_named(tmp_path, capsys):
    folder, cfg = sweep_folder(tmp_path)
    trained(folder, cfg)
    assert replay.main([folder.uri, "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in out[1:4]] == ["equal"] * 3
    assert out[-1] == "trial 0 replayed: all 3 epochs match bit for bit"

    other, _ = sweep_folder(tmp_path, "t")
    losses = trained(other, cfg, nudged_at=2)
    assert replay.main([other.uri, "0"]) == 1
    captured = capsys.readouterr()
    recorded = math.nextafter(losses[1], math.inf)
    assert captured.out.splitlines()[-1] == (
        f"trial 0 diverges at epoch 2: recorded {recorded!r}, replayed {losses[1]!r}"
    )
    assert [line.split()[-1] for line in captured.out.splitlines()[1:4]] == [
        "equal", "DIFFERENT", "equal"
    ]  # fmt: skip
    assert "no manifest.json" in captured.err  # a sweep written before manifests: said once


def test_a_sweep_trained_on_gpus_is_replayed_with_a_note_that_only_the_cpu_promises(
    tmp_path, capsys
):
    folder, cfg = sweep_folder(tmp_path, gpus_per_trial=0.5)
    trained(folder, cfg)  # here on the CPU, as a GPU sweep's trial could not be
    assert replay.main([folder.uri, "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "note: the sweep trained on GPUs (--gpus-per-trial 0.5); "
        "bit-for-bit equality is only promised on the CPU"
    )


def test_what_differs_from_the_manifest_is_a_warning_line_each(tmp_path, capsys):
    folder, cfg = sweep_folder(tmp_path)
    trained(folder, cfg)
    manifest.write(cfg, folder, SweepRecord(folder))
    assert replay.main([folder.uri, "0"]) == 0
    assert capsys.readouterr().err == ""
    written = json.loads(folder.read_text(MANIFEST))
    written["versions"]["torch"] = "1.0.0"
    written["seeds"]["trials"][0]["seed"] = 1
    written["data"]["data_sha256"] = "0" * 64
    folder.write_bytes(MANIFEST, json.dumps(written).encode())
    assert replay.main([folder.uri, "0"]) == 0  # the epochs still decide
    torch = importlib.metadata.version("torch")
    assert capsys.readouterr().err.splitlines() == [
        "warning: installed versions differ from the manifest's: "
        f"torch {torch} (1.0.0 in the manifest)",
        f"warning: trial 0's seed is {trial_seed(2, 0)} now, 1 in the manifest",
        "warning: the data differ from the manifest's (data_sha256)",
    ]


@pytest.mark.parametrize(
    ("where", "trial", "says"),
    [
        ("nowhere", "0", "no sweep folder at"),
        ("empty", "0", "not a sweep folder: it has no sweep.json"),
        ("s", "4", "has no trial 4 (trials 0 to 0)"),
        ("s", "one", "has no trial one"),
        ("s", "0", "trial 0 of sweep 's' has no recorded epoch"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, where, trial, says):
    folder, cfg = sweep_folder(tmp_path)
    SweepRecord(folder).ask(SweepSpace(cfg.space, Vocabulary.of(cfg.model)))  # no epoch yet
    (tmp_path / "empty").mkdir()
    assert replay.main([str(tmp_path / where), trial]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err


def tampered(source: Path, target: Path, number: int, epoch: int, val_loss: float) -> None:
    """A copy of the sweep folder whose journal records ``val_loss`` at ``epoch`` of trial
    ``number``. A finished trial's attributes cannot be set, so the copy's study is rebuilt
    through Optuna's API, trial by trial, numbers kept."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(JOURNAL))
    read = journal_storage(SweepFolder.from_location(str(source)))
    written = journal_storage(SweepFolder.from_location(str(target)))
    study = optuna.create_study(study_name=STUDY, storage=written, direction="minimize")
    for trial in optuna.load_study(study_name=STUDY, storage=read).get_trials():
        attrs = dict(trial.user_attrs)
        if trial.number == number:
            key = f"epoch:{epoch:04d}"
            attrs[key] = {**attrs[key], "val_loss": val_loss}
        study.add_trial(
            optuna.trial.create_trial(
                state=trial.state, value=trial.value, params=trial.params,
                distributions=trial.distributions, user_attrs=attrs,
                intermediate_values=trial.intermediate_values,
            )
        )  # fmt: skip


@pytest.mark.slow
def test_a_sweeps_manifest_names_its_versions_data_seeds_space_and_decisions(sweep):
    found = json.loads((sweep["folder"] / MANIFEST).read_text())
    assert set(found["versions"]) == {"python", *LIBRARIES, "cuda", "cudnn"}
    assert found["versions"]["cuda"] is None  # trained on the CPU
    assert {k: found["data"][k] for k in ("data_sha256", "split_sha256", "rows")} == (
        data.fingerprint("digits", seed=1)
    )
    rows = {row["trial_index"]: row for row in sweep["trials"]}
    runs = pq.read_table(sweep["folder"] / "confirmation.parquet").to_pylist()
    assert found["seeds"] == {
        "sweep": 1,
        "trials": [{"trial": n, "seed": trial_seed(1, n)} for n in sorted(rows)],
        "confirmation": [
            {
                "trial": r["trial_index"],
                "replicate": r["replicate"],
                "seed": trial_seed(1, r["trial_index"], r["replicate"]),
            }
            for r in runs
        ],
    }
    assert found["space"]["source"] == "small"
    assert set(found["space"]["distributions"]) >= {"optimizer", "lr", "gamma", "activation"}
    assert found["hardware"]["cpus"] == os.cpu_count()

    decisions = found["decisions"]
    assert len(decisions) == len(sweep["epochs"])
    for n, row in rows.items():
        mine = [d for d in decisions if d["trial"] == n]
        assert [d["epoch"] for d in mine] == list(range(1, row["epochs"] + 1))
        assert mine[0]["rung"] == 1.0  # --grace-period 1: every trial is judged at epoch 1
        assert [d["decision"] for d in mine] == ["CONTINUE"] * (len(mine) - 1) + ["STOP"]
        assert mine[-1]["reason"] == row["stop_reason"]
        if row["stop_reason"] == "asha":  # ASHA stops a trial only at a rung it judges it at
            assert mine[-1]["rung"] is not None
    assert "asha" in {row["stop_reason"] for row in rows.values()}


@pytest.mark.slow
def test_a_trial_of_a_real_sweep_replays_bit_for_bit_and_a_tampered_record_diverges(
    sweep, tmp_path, capsys
):
    longest = max(sweep["trials"], key=lambda row: row["epochs"])
    number, epochs = longest["trial_index"], longest["epochs"]
    assert epochs >= 3
    done = subprocess.run(
        [sys.executable, "-m", "sweeps.replay", str(sweep["folder"]), str(number)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[-1] for line in lines[1:-1]] == ["equal"] * epochs
    assert lines[-1] == f"trial {number} replayed: all {epochs} epochs match bit for bit"
    assert done.stderr == ""  # the same versions and data as the manifest's

    recorded = {e["epoch"]: e["val_loss"] for e in sweep["epochs"]
                if e["trial_id"] == longest["trial_id"]}  # fmt: skip
    off = math.nextafter(recorded[2], math.inf)
    tampered(sweep["folder"], tmp_path / "tampered", number, 2, off)
    assert replay.main([str(tmp_path / "tampered"), str(number)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"trial {number} diverges at epoch 2: recorded {off!r}, replayed {recorded[2]!r}"
