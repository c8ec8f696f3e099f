"""``--time-budget``: durations as users write them, the rules that share the time (a clock
of our own), and budgeted sweeps through a real local Ray cluster: a budget that closes the
search mid-trial and cuts confirmation to fit, then a ``--resume`` with a new one."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from optuna.trial import TrialState

from sweeps import budget, config
from sweeps.budget import TimeBudget, confirmation_size, parse_duration
from sweeps.config import ConfigError
from sweeps.phases import Audit, Confirmation
from sweeps.record import BUDGET, PRUNED, RecordedEpoch, StoppingRule, SweepRecord, TrialRecord
from sweeps.run import main
from sweeps.storage import SweepFolder
from trainable.result import EpochResult


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), (90, 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400),
     ("1.5m", 90), (" 2m 5s ", 125), ("1d", 86400), (12.5, 12.5)],
)  # fmt: skip
def test_a_duration_reads_as_users_write_it(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "5x", "m", "1h-5m", "0", "-30", "nan", True])
def test_an_unreadable_duration_names_the_forms_it_takes(text):
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(text)


def test_shown_durations_read_back():
    assert [budget.shown(s) for s in (4.4, 59.6, 125, 3720)] == ["4s", "1m00s", "2m05s", "1h02m"]


def test_the_option_is_a_flag_a_yaml_key_and_leaves_the_trials_unbounded(tmp_path):
    cfg = config.parse(["--time-budget", "1h30m"])
    assert (cfg.time_budget, cfg.num_trials, cfg.trial_limit) == (5400, None, None)
    both = config.parse(["--time-budget", "90", "--num-trials", "8"])
    assert (both.time_budget, both.trial_limit) == (90, 8)  # whichever comes first
    assert config.parse([]).trial_limit == 24  # neither: the default count
    yaml = tmp_path / "sweep.yaml"
    yaml.write_text("time-budget: 2m\n")
    assert config.parse(["--config", str(yaml)]).time_budget == 120
    with pytest.raises(ConfigError, match=r"cannot read 'soon' as a duration.*90s, 30m, 2h, 1h30m"):
        config.parse(["--time-budget", "soon"])


@pytest.mark.parametrize(
    ("fitting", "size"),
    [(9, (3, 3)), (20, (3, 3)), (8, (2, 3)), (6, (2, 3)), (5, (2, 2)), (4, (2, 2)), (3, (1, 3)),
     (2, (1, 2)), (1, (1, 1)), (0, (0, 0))],
)  # fmt: skip
def test_confirmation_keeps_the_most_runs_that_fit_and_then_the_most_seeds(fitting, size):
    assert confirmation_size(3, 3, fitting) == size


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_search_leaves_time_for_confirmation_as_measured_and_closes_for_good():
    clock = Clock()
    clock_budget = TimeBudget(100, started=0, clock=clock)
    # Before any epoch is measured, the later phases are held their whole share.
    assert clock_budget.held_for_later(9, 2, 10) == pytest.approx(30)
    for _ in range(4):
        clock_budget.epoch_took(0.4)
    clock_budget.epoch_took(1.2, first=True)
    run_s = 1.2 + 9 * 0.4  # its first epoch (its start in it), then 9 more
    assert clock_budget.run_s(10) == pytest.approx(run_s)
    held = clock_budget.held_for_later(9, 2, 10)
    assert held == pytest.approx(5.5 * run_s)  # 5 waves of 2, and half a run for the tail
    closes = 100 - clock_budget.reserve - held - 0.4
    clock.now = closes - 1
    assert clock_budget.search_open(held)
    clock.now = closes + 0.01
    assert not clock_budget.search_open(held)
    clock.now = 0  # closed for good, whatever the estimates do then
    assert not clock_budget.search_open(held)
    # What the later phases may plan, in what is left but the reserve.
    clock.now = 100 - clock_budget.reserve - 2 * run_s - 0.1
    assert clock_budget.fitting(2, 10) == 4  # two waves of two
    assert clock_budget.later_open()
    clock.now = 100 - clock_budget.reserve
    assert not clock_budget.later_open()
    assert clock_budget.held_for_later(9, 2, 1000) == pytest.approx(30)  # the share at most


def trial(number: int, loss: float, reason: str = "completed", params=None) -> TrialRecord:
    epoch = EpochResult(
        epoch=5, train_loss=loss, train_acc=0.5, train_rows=10, val_loss=loss, val_acc=0.5,
        lr=0.1, best_val_loss=loss, best_epoch=5, diverged=False,
    )  # fmt: skip
    return TrialRecord(
        number=number, params=params or {"lr": number}, state=TrialState.PRUNED,
        epochs=[RecordedEpoch(**epoch.as_dict())], checkpoints=[], ray_trials=[],
        stop_reason=reason, error=None,
    )  # fmt: skip


def test_a_later_phase_fits_its_runs_to_what_fits():
    cfg = config.validate({"confirm_top": 3, "confirm_seeds": 3, "audit_pruned": 1.0})
    search = [trial(n, 1.0 - n / 10, "asha") for n in range(7)]
    confirm = Confirmation(cfg)
    assert confirm.fit(search, 9) == {}
    assert confirm.fit(search, 4) == {"confirm_top": 2, "confirm_seeds": 2}
    sized = confirm.sized(confirm.fit(search, 4))
    assert len(sized.runs(search)) == 4
    assert confirm.fit(search, 0) == {"confirm_top": 1, "confirm_seeds": 0}
    assert confirm.sized({"confirm_top": 1, "confirm_seeds": 0}).runs(search) == []
    audit = Audit(cfg)
    assert len(audit.runs(search)) == 7 and audit.fit(search, 7) == {}
    for fitting in range(7):
        assert len(audit.sized(audit.fit(search, fitting)).runs(search)) == fitting


def test_a_run_the_budget_cut_short_is_listed_but_not_counted_in_its_mean():
    cfg = config.validate({"confirm_top": 1, "confirm_seeds": 2})
    search = [trial(0, 0.5)]
    runs = [
        TrialRecord(**{**trial(1, 0.4).__dict__, "origin": 0, "replicate": 1}),
        TrialRecord(**{**trial(2, 0.9, BUDGET).__dict__, "origin": 0, "replicate": 2}),
    ]
    _, found = Confirmation(cfg).findings(search, runs, None, ["lr"])
    [row] = found["confirmation"]
    assert row["mean"] == pytest.approx(0.4)
    assert [r["stop_reason"] for r in row["runs"]] == ["completed", BUDGET]


def test_a_trial_the_budget_stopped_is_pruned_for_the_budget_unless_it_had_ended_anyway(epoch):
    rule = StoppingRule(max_epochs=5, patience=2)
    cut = rule.outcome(epoch(3, 0.5, done=True), cut=True)
    assert (cut.status, cut.reason) == (PRUNED, BUDGET)
    assert rule.outcome(epoch(5, 0.5, done=True), cut=True).reason == "completed"
    assert rule.outcome(epoch(4, 0.5, best_epoch=2, done=True), cut=True).reason == "stalled"
    assert rule.outcome(epoch(3, 0.5, done=True)).reason == "asha"


def test_a_budget_too_short_for_a_trial_is_bad_input_and_writes_nothing(tmp_path, capsys):
    assert main(["--name", "short", "--storage", str(tmp_path), "--time-budget", "5s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --time-budget 5s is too short") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# A model whose every batch takes 6 ms or more: a run to 12 epochs takes 2.5 s or more, so
# nine confirmation runs two at a time take longer than the 30% of a 25 s budget they are held.
SLOW_MODEL = """
import time
from torch import nn


class SlowMLP(nn.Module):
    def __init__(self, num_classes, num_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(num_features, 32), nn.ReLU(),
                                 nn.Linear(32, num_classes))

    def forward(self, x):
        time.sleep(0.006)
        return self.net(x)
"""
SPACE = """params:
  lr: {type: float, low: 1.0e-3, high: 0.3, log: true}
  optimizer: {type: categorical, choices: [sgd, momentum, adam]}
"""


@pytest.mark.slow
def test_a_budget_closes_the_search_cuts_confirmation_and_a_resume_goes_on(
    ray_cluster, tmp_path, capsys
):
    model, space = tmp_path / "slow_model.py", tmp_path / "space.yaml"
    model.write_text(SLOW_MODEL)
    space.write_text(SPACE)
    storage = tmp_path / "runs"
    args = ["--name", "timed", "--storage", str(storage)]
    assert main([*args, "--model", f"{model}:SlowMLP", "--space", str(space), "--max-epochs", "12",
                 "--grace-period", "2", "--max-concurrent", "2", "--confirm-top", "3",
                 "--confirm-seeds", "3", "--time-budget", "25s"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    folder = storage / "timed"
    record = SweepRecord(SweepFolder.in_storage(str(storage), "timed"))
    first = record.time_spent
    assert first["search_closed"] and first["budget_s"] == 25 and first["spent_s"] <= 28

    # The search's trials running when it closed: stopped at an epoch short of the budget,
    # told to Optuna as pruned there, and shown so in the tables.
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    cut = [t for t in trials if t["stop_reason"] == BUDGET and t["epochs"]]
    assert cut and all(t["status"] == PRUNED and t["epochs"] < 12 for t in cut)
    frozen = {t.number: t for t in record.study.get_trials(deepcopy=False)}
    assert all(frozen[t["trial_index"]].intermediate_values for t in cut)
    assert "stopped: --time-budget spent" in (folder / "report.html").read_text()

    # Confirmation was planned to fit the time left: fewer runs than 3 x 3, said so.
    best = json.loads((folder / "best.json").read_text())
    planned = best["time_budget"]["planned"]["confirm"]
    assert planned["confirm_top"] * planned["confirm_seeds"] < 9
    assert ("confirmation cut to fit the time left" in out) or ("confirmation skipped" in out)
    assert best["test_acc"] is not None and "time budget 25s:" in out

    # Its budget spent, it goes on only with a new one: bad input, and nothing changes.
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    assert main([*args, "--resume"]) == 2
    assert "continue it with a new --time-budget" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before

    assert main([*args, "--resume", "--time-budget", "15s"]) == 0
    again = SweepRecord(SweepFolder.in_storage(str(storage), "timed")).time_spent
    assert again["budget_s"] == pytest.approx(first["spent_s"] + 15, abs=0.2)
    assert first["spent_s"] < again["spent_s"] <= again["budget_s"] + 3
    assert len(pq.read_table(folder / "trials.parquet")) > len(trials)  # the search went on
    saved = json.loads((folder / "sweep.json").read_text())
    assert saved["time_budget"] == pytest.approx(again["budget_s"], abs=0.2)


def test_the_record_keeps_what_a_budget_planned_and_spent(folder):
    record = SweepRecord(folder)
    assert record.time_spent is None and record.planned is None
    record.note_time(60, 12.34, search_closed=False)
    assert record.time_spent == {"budget_s": 60, "spent_s": 12.3, "search_closed": False,
                                 "phases_closed": False}  # fmt: skip
    record.keep_plan({"confirm_top": 2, "confirm_seeds": 2})
    assert SweepRecord(folder).planned == {"confirm_top": 2, "confirm_seeds": 2}


def test_a_trial_the_budget_left_unstarted_stays_unfinished_until_a_resume_runs_it(folder):
    record = SweepRecord(folder)
    asked = record.ask(lambda trial: trial.suggest_float("lr", 0.01, 0.1))
    record.not_started(asked.number)
    [left] = record.trials()
    assert (left.status, left.stop_reason, left.finished) == ("INCOMPLETE", BUDGET, False)
    record.ran_by(asked.number, "r1")
    assert SweepRecord(folder).trials()[0].stop_reason == "interrupted"  # running again
