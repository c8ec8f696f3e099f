"""A real sweep through a real local Ray cluster (2 CPUs): pruning, results on disk, the study."""

from __future__ import annotations

import json
import math
import shutil

import optuna
import pyarrow.parquet as pq
import pytest

from sweeps.run import main
from trainable import data

pytestmark = pytest.mark.slow


def journal(folder) -> optuna.storages.JournalStorage:
    backend = optuna.storages.journal.JournalFileBackend(str(folder / "optuna.journal"))
    return optuna.storages.JournalStorage(backend)


def test_every_trial_ran_and_asha_ended_some_early(sweep):
    trials = sweep["trials"]
    assert len(trials) == 10
    assert sorted(t["trial_index"] for t in trials) == list(range(10))
    assert {t["status"] for t in trials} <= {"COMPLETE", "PRUNED"}
    pruned = [t for t in trials if t["stop_reason"] == "asha"]
    assert pruned, "ASHA pruned no trial"
    assert all(t["epochs"] < 6 for t in pruned)
    assert all(t["epochs"] == 6 for t in trials if t["stop_reason"] == "completed")


def test_epoch_rows_match_what_ran(sweep):
    trials, epochs = sweep["trials"], sweep["epochs"]
    assert len(epochs) == sum(t["epochs"] for t in trials)
    for trial in trials:
        rows = [e for e in epochs if e["trial_id"] == trial["trial_id"]]
        assert [e["epoch"] for e in rows] == list(range(1, trial["epochs"] + 1))
        assert min(e["val_loss"] for e in rows) == pytest.approx(trial["best_val_loss"])
        recorded_at = [e["reported_at"] for e in rows]  # the driver's clock, epoch after epoch
        assert recorded_at == sorted(recorded_at)
    assert set(epochs[0]) == {
        "trial_id",
        "epoch",
        "train_loss",
        "train_acc",
        "train_rows",
        "val_loss",
        "val_acc",
        "lr",
        "reported_at",
    }
    assert not any("test" in key for key in epochs[0])
    trained = len(data.load("digits", seed=1).indices[0])  # the sweep's --seed 1
    assert {e["train_rows"] for e in epochs} == {trained}  # every epoch, every training row


def test_hyperparameter_columns_are_named_as_in_the_space(sweep):
    trial = sweep["trials"][0]
    assert {"optimizer", "lr", "gamma", "activation", "momentum"} <= set(trial)
    with_momentum = [t for t in sweep["trials"] if t["momentum"] is not None]
    assert all(t["optimizer"] == "momentum" for t in with_momentum)


def test_best_json_agrees_with_trials_parquet(sweep):
    """The search's best two configurations, confirmed over 2 fresh seeds: the best mean wins,
    and its run validation picked is the one tested."""
    best, trials = sweep["best"], sweep["trials"]
    ranked = sorted(trials, key=lambda t: t["best_val_loss"])
    assert best["search_winner"] == ranked[0]["trial_index"]
    assert [row["trial_index"] for row in best["confirmation"]] in (
        [t["trial_index"] for t in ranked[:2]], [t["trial_index"] for t in ranked[1::-1]],
    )  # fmt: skip
    runs = pq.read_table(sweep["folder"] / "confirmation.parquet").to_pylist()
    for row in best["confirmation"]:
        mine = sorted((r for r in runs if r["trial_index"] == row["trial_index"]),
                      key=lambda r: r["replicate"])  # fmt: skip
        assert [r["best_val_loss"] for r in row["runs"]] == [r["best_val_loss"] for r in mine]
        assert row["mean"] == pytest.approx(sum(r["best_val_loss"] for r in mine) / 2)
        assert row["ci95"][0] <= row["mean"] <= row["ci95"][1]
    winner = best["confirmation"][0]
    assert winner["mean"] == min(row["mean"] for row in best["confirmation"])
    assert best["trial_index"] == winner["trial_index"]
    assert best["search_winner_held"] == (best["trial_index"] == best["search_winner"])
    assert best["val_loss"] == min(r["best_val_loss"] for r in winner["runs"])
    searched = next(t for t in trials if t["trial_index"] == best["trial_index"])
    assert best["config"]["optimizer"] == searched["optimizer"]
    assert 0.5 < best["test_acc"] <= 1.0 and math.isfinite(best["test_loss"])
    assert (sweep["folder"] / best["checkpoint"]).exists()
    assert f"confirm_{best['trial_index']:03d}_{best['replicate']}_" in best["checkpoint"]


def test_half_the_pruned_trials_are_audited_at_the_full_budget(sweep):
    found = sweep["best"]["audit"]
    pruned = [t for t in sweep["trials"] if t["stop_reason"] == "asha"]
    assert found["pruned"] == len(pruned) and len(found["audited"]) == math.ceil(len(pruned) / 2)
    by_index = {t["trial_index"]: t for t in pruned}
    winner = min(t["best_val_loss"] for t in sweep["trials"])
    for row in found["audited"]:
        trial = by_index[row["trial_index"]]
        assert (row["pruned_at"], row["pruned_val_loss"]) == (
            trial["epochs"],
            trial["best_val_loss"],
        )
        assert row["full_val_loss"] <= row["pruned_val_loss"]  # its best over more epochs
        assert row["beats_winner"] == (row["full_val_loss"] < winner)
    assert found["would_have_won"] == sum(row["beats_winner"] for row in found["audited"])


def test_the_optuna_study_holds_pruned_trials_consistent_with_ray(sweep):
    study = optuna.load_study(study_name="sweep", storage=journal(sweep["folder"]))
    states = {t.number: t.state.name for t in study.trials}
    assert len(states) == 10
    assert "PRUNED" in states.values()
    for trial in sweep["trials"]:
        assert states[trial["trial_index"]] == trial["status"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert all(len(t.intermediate_values) == 6 for t in complete)


def test_rerunning_a_finished_sweep_name_is_refused_and_changes_nothing(sweep, capsys):
    before = {p: p.stat().st_mtime_ns for p in sweep["folder"].rglob("*")}
    code = main(["--name", "e2e", "--storage", str(sweep["storage"]), *sweep["args"]])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in sweep["folder"].rglob("*")} == before


def test_resume_with_a_changed_option_is_refused(sweep, capsys):
    code = main(["--name", "e2e", "--storage", str(sweep["storage"]), "--resume", "--seed", "2"])
    assert code == 2
    assert "seed differs" in capsys.readouterr().err


def test_resume_of_a_finished_sweep_keeps_its_results(sweep):
    storage = str(sweep["storage"])
    assert main(["--name", "e2e", "--storage", storage, "--resume"]) == 0
    trials = pq.read_table(sweep["folder"] / "trials.parquet").to_pylist()
    assert trials == sweep["trials"]


def test_a_larger_num_trials_on_resume_continues_the_same_study(sweep, tmp_path):
    shutil.copytree(sweep["folder"], tmp_path / "e2e")
    folder, before = tmp_path / "e2e", sweep["trials"]
    args = ["--name", "e2e", "--storage", str(tmp_path), "--resume", "--num-trials", "13"]
    assert main(args) == 0
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert [t["trial_index"] for t in trials] == list(range(13))
    assert trials[:10] == before  # the earlier trials keep their rows
    epochs = pq.read_table(folder / "epochs.parquet").to_pylist()
    assert len(epochs) == sum(t["epochs"] for t in trials)
    study = optuna.load_study(study_name="sweep", storage=journal(folder))
    assert [t.state.name for t in study.trials] == [t["status"] for t in trials]
    assert json.loads((folder / "sweep.json").read_text())["num_trials"] == 13
    best = json.loads((folder / "best.json").read_text())
    ranked = sorted(trials, key=lambda t: t["best_val_loss"])
    assert {r["trial_index"] for r in best["confirmation"]} == {
        t["trial_index"] for t in ranked[:2]
    }
    assert len([p for p in (folder / "tensorboard").glob("trial_*") if p.is_dir()]) == 13
    # The lockbox: the first winner's reading is the only one; a new winner is not tested.
    readings = json.loads((folder / "test_readings.json").read_text())
    assert [r["trial_index"] for r in readings] == [sweep["best"]["trial_index"]]
    assert ("test_refused" in best) == (best["trial_index"] != sweep["best"]["trial_index"])


def test_test_metrics_reach_no_trial_record_log_or_chart(sweep):
    """Only best.json, test_readings.json and the report hold test figures."""
    study = optuna.load_study(study_name="sweep", storage=journal(sweep["folder"]))
    recorded = [key for t in study.trials for attrs in t.user_attrs.values()
                if isinstance(attrs, dict) for key in attrs]  # fmt: skip
    assert recorded and not [key for key in recorded if key.startswith("test")]
    for log in sweep["folder"].glob("trial_*/result.json"):
        assert '"test_' not in log.read_text()
    for events in (sweep["folder"] / "tensorboard").rglob("events.out.tfevents.*"):
        assert b"test" not in events.read_bytes().lower().replace(b"latest", b"")


def test_num_trials_cannot_shrink_on_resume(sweep, capsys):
    args = ["--name", "e2e", "--storage", str(sweep["storage"]), "--resume", "--num-trials", "5"]
    assert main(args) == 2
    assert "--num-trials can only grow" in capsys.readouterr().err


def test_a_gp_smoke_sweep_runs_and_keeps_its_sampler(ray_cluster, tmp_path):
    args = ["--name", "gp", "--storage", str(tmp_path), "--sampler", "gp", "--smoke",
            "--confirm-seeds", "0"]  # fmt: skip
    assert main(args) == 0
    folder = tmp_path / "gp"
    assert json.loads((folder / "sweep.json").read_text())["sampler"] == "gp"
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert len(trials) == 3 and {t["status"] for t in trials} <= {"COMPLETE", "PRUNED"}
