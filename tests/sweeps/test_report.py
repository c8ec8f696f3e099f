"""The sweep report: its numbers, its figures and the self-contained page, for a real sweep."""

from __future__ import annotations

import base64
import math
import re

import optuna
import pytest

from sweeps import report
from sweeps.config import SweepConfig
from sweeps.stopping import REASONS
from sweeps.storage import SweepFolder

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(sweep):
    return report.read(SweepFolder.at(str(sweep["folder"])))


@pytest.fixture(scope="module")
def html(sweep):
    return (sweep["folder"] / report.REPORT).read_text()


def test_the_run_wrote_the_report_and_its_pngs(sweep):
    for name in (report.REPORT, *report.FIGURES.values()):
        assert (sweep["folder"] / name).stat().st_size > 1000, name
    for name in report.FIGURES.values():
        assert (sweep["folder"] / name).read_bytes().startswith(PNG)


def test_the_page_is_self_contained_and_embeds_every_figure(html, sweep):
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(embedded) == len(report.FIGURES)
    files = {(sweep["folder"] / name).read_bytes() for name in report.FIGURES.values()}
    assert {base64.b64decode(data) for data in embedded} == files
    assert not re.search(r'(src|href)="(?!data:)', html), "the page loads something from outside"


def test_the_page_names_the_best_trial_and_its_test_result(html, sweep):
    best = sweep["best"]
    assert f"Best trial {best['trial_index']}</b> ({best['trial_id']})" in html
    assert f"accuracy {best['test_acc']:.4f}" in html


def test_every_trial_is_in_the_trials_table(html, sweep):
    table = html[html.index("<h2>All trials</h2>") :]
    rows = re.findall(r"<tr><td>(\d+)</td>", table)
    assert sorted(map(int, rows)) == sorted(t["trial_index"] for t in sweep["trials"])


def test_the_optimizer_activation_table_holds_each_pairs_best_loss(html, sweep):
    table = html[html.index("optimizer \\ activation") : html.index("<h2>Pruning")]
    for trial in sweep["trials"]:
        assert f">{trial['optimizer']}</th>" in table
        assert f">{trial['activation']}</th>" in table
    best = min(t["best_val_loss"] for t in sweep["trials"])
    assert f"<td class=best>{best:.4f}</td>" in table


def test_pruning_counts_match_the_trials_and_the_epochs_saved(data, sweep, html):
    counted = report.pruning(data)
    trials = sweep["trials"]
    assert sum(counted["by_rung"].values()) == sum(t["stop_reason"] == "asha" for t in trials)
    assert sum(counted["reasons"].values()) == len(trials)
    trained = sum(t["epochs"] for t in trials)
    assert counted["trained"] == trained == len(sweep["epochs"])
    assert counted["saved"] == len(trials) * 6 - trained
    assert f"pruning saved <b>{counted['saved']} epochs" in html


def test_every_stop_reason_has_a_curve_marker():
    assert set(report.REASON_STYLE) == set(REASONS)


def test_asha_rungs_follow_grace_period_and_reduction_factor():
    cfg = SweepConfig(grace_period=2, reduction_factor=3, max_epochs=20)
    assert report.rungs(cfg) == [2, 6, 18]
    assert report.rungs(SweepConfig(grace_period=1, reduction_factor=3, max_epochs=6)) == [1, 3]


def test_each_curve_ends_where_its_trial_stopped_and_the_best_is_highlighted(data):
    lines = report.curves_figure(data).axes[0].get_lines()
    curves = [line for line in lines if line.get_linestyle() == "-" and len(line.get_xdata()) > 1]
    epochs = sorted(t["epochs"] for t in data.trials if t["epochs"] > 1)
    assert sorted(len(line.get_xdata()) for line in curves) == epochs
    best = [line for line in lines if line.get_label().startswith("best: trial")]
    assert len(best) == 1 and best[0].get_linewidth() > 2
    assert best[0].get_xdata()[-1] == data.best["epochs"]


def test_the_best_trial_figure_marks_its_best_epoch(data):
    ax = report.best_figure(data).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "training loss" in labels and "validation loss" in labels
    marks = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert marks == [data.best["best_epoch"]]


def test_parallel_coordinates_has_an_axis_per_hyperparameter_and_the_loss(data):
    ax = report.parallel_figure(data).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [*data.params, "best_val_loss"]
    assert "momentum" in data.params  # conditional, present in some trials only


def test_importances_come_from_the_optuna_study(data):
    values = report.importances(data)
    assert set(values) == {"optimizer", "lr", "gamma", "activation"}  # momentum is conditional
    assert sum(values.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("num_trials, forest", [(100, {}), (101, report.SMALL_FOREST)])
def test_importances_past_100_trials_come_from_a_smaller_forest(monkeypatch, num_trials, forest):
    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        return (math.log10(lr) + 2.5) ** 2 + 0.1 * trial.suggest_float("gamma", 0.8, 1.0)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=num_trials)
    built, evaluator = [], report.FanovaImportanceEvaluator
    monkeypatch.setattr(
        report,
        "FanovaImportanceEvaluator",
        lambda **options: built.append(options) or evaluator(**options),
    )
    values = report.importances(report.Sweep("s", SweepConfig(), [], {}, study))
    assert built == [{"seed": 0, **forest}]
    assert list(values) == ["lr", "gamma"]


def test_the_cli_refuses_a_folder_without_results(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert report.main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "sweep.json" in err and err.count("\n") == 1
