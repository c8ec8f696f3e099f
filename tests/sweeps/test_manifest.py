"""manifest.json from a record written by hand: seeds, decisions, space, data and versions."""

from __future__ import annotations

import json
import os
import platform

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from search_spaces import Vocabulary
from sweeps import manifest
from sweeps.config import SweepConfig
from sweeps.record import Outcome, SweepRecord
from sweeps.space import SweepSpace
from trainable import data
from trainable.seeding import trial_seed

SPACE = SweepSpace("small", Vocabulary.of("mlp"))


@pytest.fixture
def cfg(tmp_path):
    return SweepConfig(name="s", storage=str(tmp_path), space="small", seed=5, max_epochs=4,
                       patience=2)  # fmt: skip


@pytest.fixture
def record(folder, epoch):
    """Trial 0 completed; 1 stopped by ASHA at rung 1; 2 stalled; 3 never trained."""
    record = SweepRecord(folder)
    for _ in range(4):
        record.ask(SPACE)
    for n in (1, 2, 3):
        record.epoch(0, epoch(n, 1.0 / n), rung={1: 1.0, 3: 3.0}.get(n))
    record.epoch(0, epoch(4, 0.2, done=True))
    record.end(0, Outcome("COMPLETE", "completed"), epoch(4, 0.2, done=True))
    record.epoch(1, epoch(1, 2.0, done=True), rung=1.0)
    record.end(1, Outcome("PRUNED", "asha"), epoch(1, 2.0, done=True))
    record.epoch(2, epoch(1, 0.5), rung=1.0)
    record.epoch(2, epoch(2, 0.6, best_epoch=1))
    record.epoch(2, epoch(3, 0.7, best_epoch=1, done=True))  # the stopper decided first
    record.end(2, Outcome("PRUNED", "stalled"), epoch(3, 0.7, best_epoch=1, done=True))
    return record


def test_every_trials_seed_is_the_one_its_training_run_derives(cfg, folder, record):
    seeds = manifest.build(cfg, folder, record)["seeds"]
    assert seeds["sweep"] == 5
    assert seeds["trials"] == [{"trial": n, "seed": trial_seed(5, n)} for n in range(4)]


def test_every_epoch_has_its_decision_its_reason_to_stop_and_its_rung(cfg, folder, record):
    found = {(d["trial"], d["epoch"]): d for d in manifest.build(cfg, folder, record)["decisions"]}
    assert sorted(found) == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (2, 1), (2, 2), (2, 3)]
    assert [found[0, n]["rung"] for n in (1, 2, 3, 4)] == [1.0, None, 3.0, None]
    decided = {k: (d["decision"], d["reason"], d["rung"]) for k, d in found.items()}
    assert decided[0, 4] == ("STOP", "completed", None)  # the trial's own end
    assert decided[1, 1] == ("STOP", "asha", 1.0)
    assert decided[2, 2] == ("CONTINUE", None, None)
    assert decided[2, 3] == ("STOP", "stalled", None)


def test_the_space_data_versions_and_hardware_are_named(cfg, folder, record):
    built = manifest.build(cfg, folder, record)
    assert built["space"]["source"] == "small" and built["space"]["yaml"] is None
    assert set(built["space"]["distributions"]) == set(record.distributions())
    assert built["space"]["distributions"]["lr"]["attributes"]["log"] is True
    assert built["data"] == {"dataset": "digits", "label": None,
                             **data.fingerprint("digits", seed=5)}  # fmt: skip
    versions = built["versions"]
    assert versions["python"] == platform.python_version()
    assert versions["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert versions["sweeps"] and versions["ray"] and versions["optuna"]
    assert versions["cuda"] is None and versions["cudnn"] is None  # no GPU was asked for
    assert built["hardware"]["cpus"] == os.cpu_count()
    assert built["hardware"]["memory_bytes"] > 0


def test_a_yaml_space_is_kept_as_the_sweep_started_with_it(cfg, folder, record):
    folder.write_bytes("space.yaml", b"lr: {low: 0.001, high: 0.1, log: true}\n")
    space = manifest.build(cfg, folder, record)["space"]
    assert space["yaml"] == "lr: {low: 0.001, high: 0.1, log: true}\n"


def test_the_manifest_is_json_with_sorted_keys_and_written_the_same_twice(cfg, folder, record):
    manifest.write(cfg, folder, record)
    first = folder.read_text(manifest.MANIFEST)
    manifest.write(cfg, folder, record)
    assert folder.read_text(manifest.MANIFEST) == first
    assert list(json.loads(first)) == sorted(json.loads(first))


def test_the_data_digest_follows_one_changed_label(tmp_path, folder, record):
    path = tmp_path / "rows.parquet"
    labels = np.arange(30) % 3
    pq.write_table(pa.table({"x": np.arange(30.0), "y": labels}), path)
    cfg = SweepConfig(name="s", storage=str(tmp_path), dataset=str(path), label="y")
    before = manifest.build(cfg, folder, record)["data"]
    labels[7] = (labels[7] + 1) % 3
    pq.write_table(pa.table({"x": np.arange(30.0), "y": labels}), path)
    after = manifest.build(cfg, folder, record)["data"]
    assert after["data_sha256"] != before["data_sha256"]
    assert after["split_sha256"] == before["split_sha256"]
