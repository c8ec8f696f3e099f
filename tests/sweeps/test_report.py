"""The sweep report: its numbers, its figures and the self-contained page, for a real sweep."""

from __future__ import annotations

import base64
import math
import re

import optuna
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeps import report
from sweeps.config import SweepConfig
from sweeps.record import REASONS
from sweeps.storage import SweepFolder

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(sweep):
    return report.read(SweepFolder.from_location(str(sweep["folder"])))


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
    row = next(t for t in sweep["trials"] if t["trial_index"] == best["trial_index"])
    assert f"Best trial {best['trial_index']}</b> ({row['trial_id']})" in html
    assert f"accuracy {best['test_acc']:.4f}" in html


def test_the_page_shows_the_audit_the_readings_and_how_to_replay(html, sweep):
    audit = sweep["best"]["audit"]
    assert f"<b>{audit['would_have_won']}</b> would have beaten" in html
    assert "The test split was read once, for the model validation picked." in html
    replay = f"python -m sweeps.replay {sweep['folder']} {sweep['best']['trial_index']}</code>"
    assert replay in html


def test_the_page_shows_the_confirmation_of_the_best_configurations(html, sweep):
    best = sweep["best"]
    assert "confirmed: the best configurations trained again from scratch, 2 fresh seeds" in html
    for row in best["confirmation"]:
        low, high = row["ci95"]
        assert f"<td>{low:.4f} to {high:.4f}</td>" in html
    held = "held up." if best["search_winner_held"] else "did not hold up"
    assert held in html


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
    assert data.log_scaled == {"lr"}


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
    built, evaluator = [], report.analysis.FanovaImportanceEvaluator
    monkeypatch.setattr(
        report.analysis,
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


# Sweeps of a user's own hyperparameters, built here without Ray.


def _sweep(params: list[dict], losses: list[float], distributions: dict | None = None):
    """A sweep of trials with these hyperparameters and best losses, as trials.parquet has them
    (a column for every hyperparameter), and an Optuna study of those in ``distributions``."""
    names = list(dict.fromkeys(name for row in params for name in row))
    trials = [
        {"trial_id": f"t{i}", "trial_index": i, **{n: row.get(n) for n in names},
         "status": "COMPLETE", "stop_reason": "completed", "epochs": 1, "best_val_loss": loss,
         "best_epoch": 1, "error": None}
        for i, (row, loss) in enumerate(zip(params, losses, strict=True))
    ]  # fmt: skip
    study = None
    if distributions is not None:
        study = optuna.create_study()
        for row, loss in zip(params, losses, strict=True):
            drawn = {n: v for n, v in row.items() if n in distributions and v is not None}
            study.add_trial(
                optuna.trial.create_trial(
                    params=drawn, distributions={n: distributions[n] for n in drawn}, value=loss
                )
            )
    return report.Sweep("user", SweepConfig(), trials, {}, study)


def _ticks(sweep: report.Sweep) -> dict[str, list[str]]:
    """The parallel-coordinates tick labels of each axis, bottom to top."""
    ax = report.parallel_figure(sweep).axes[0]
    axes = [t.get_text() for t in ax.get_xticklabels()]
    ticks: dict[str, list[tuple[float, str]]] = {name: [] for name in axes}
    for text in ax.texts:
        x, y = text.get_position()
        ticks[axes[round(x)]].append((y, text.get_text()))
    return {name: [label for _, label in sorted(found)] for name, found in ticks.items()}


def _grid_section(sweep: report.Sweep, importance: dict[str, float]) -> str:
    page = report.page(sweep, dict.fromkeys(report.FIGURES, PNG), None, importance, [])
    return page[page.index("<h3>Best val_loss by") : page.index("<h2>Pruning")]


USER = [
    {"dropout": 0.1, "batch_size": 16, "lr": 1e-4, "unused": None},
    {"dropout": 0.5, "batch_size": 256, "lr": 1e-2, "unused": None},
]
USER_SPACE = {
    "dropout": FloatDistribution(0.0, 0.5),
    "batch_size": IntDistribution(16, 256, log=True),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
}


def test_the_hyperparameters_are_the_trials_columns_that_some_trial_has():
    assert _sweep(USER, [0.5, 2.0]).params == ["dropout", "batch_size", "lr"]


def test_axes_are_log_scaled_where_the_space_samples_on_a_log_scale():
    sweep = _sweep(USER, [0.5, 2.0], USER_SPACE)
    assert sweep.log_scaled == {"batch_size", "lr"}
    ticks = _ticks(sweep)
    assert ticks["lr"] == ["0.0001", "0.001", "0.01"]
    assert ticks["batch_size"] == ["16", "64", "256"]
    assert ticks["dropout"] == ["0.1", "0.3", "0.5"]  # log=False: linear
    assert ticks["best_val_loss"] == ["0.5", "1", "2"]


def test_without_a_study_no_hyperparameter_is_log_scaled():
    sweep = _sweep(USER, [0.5, 2.0])
    assert sweep.log_scaled == set()
    assert _ticks(sweep)["lr"] == ["0.0001", "0.00505", "0.01"]
    assert _ticks(sweep)["best_val_loss"] == ["0.5", "1", "2"]


def test_categorical_numbers_and_booleans_are_drawn_as_categories():
    params = [
        {"channels": 16, "bias": True, "norm": "batch", "dropout": 0.1},
        {"channels": 64, "bias": False, "norm": "layer", "dropout": 0.2},
        {"channels": 32, "bias": True, "norm": None, "dropout": 0.3},
    ]
    space = {"channels": CategoricalDistribution([16, 32, 64]), "dropout": USER_SPACE["dropout"]}
    sweep = _sweep(params, [1.0, 2.0, 3.0], space)  # norm and bias are not in the study
    assert sweep.categorical == ["channels", "bias", "norm"]
    ticks = _ticks(sweep)
    assert ticks["channels"] == ["16", "32", "64"]
    assert ticks["bias"] == ["False", "True"]
    assert ticks["norm"] == ["n/a", "batch", "layer"]


CATEGORICAL = [
    {"optimizer": "sgd", "activation": "relu", "channels": 16, "norm": "batch", "lr": 0.1},
    {"optimizer": "adam", "activation": "tanh", "channels": 32, "norm": "layer", "lr": 0.01},
    {"optimizer": "adam", "activation": "relu", "channels": 16, "norm": "layer", "lr": 0.001},
]
CATEGORICAL_SPACE = {
    "optimizer": CategoricalDistribution(["sgd", "adam"]),
    "activation": CategoricalDistribution(["relu", "tanh"]),
    "channels": CategoricalDistribution([16, 32]),
    "norm": CategoricalDistribution(["batch", "layer"]),
    "lr": FloatDistribution(1e-3, 0.1, log=True),
}


def _categorical_sweep(*left_out: str) -> report.Sweep:
    """The sweep of CATEGORICAL, with a study, without the hyperparameters ``left_out``."""
    rows = [{k: v for k, v in row.items() if k not in left_out} for row in CATEGORICAL]
    space = {k: d for k, d in CATEGORICAL_SPACE.items() if k not in left_out}
    return _sweep(rows, [0.3, 0.2, 0.1], space)


def test_the_grid_is_optimizer_by_activation_where_the_sweep_searched_both():
    sweep = _categorical_sweep()
    importance = {"channels": 0.5, "norm": 0.3, "lr": 0.1, "optimizer": 0.05, "activation": 0.05}
    section = _grid_section(sweep, importance)
    assert section.startswith("<h3>Best val_loss by optimizer &times; activation</h3>")
    assert "<th>optimizer \\ activation</th><th>relu</th><th>tanh</th>" in section
    assert "<tr><th>adam</th><td class=best>0.1000</td><td>0.2000</td></tr>" in section
    assert "<tr><th>sgd</th><td>0.3000</td><td>&mdash;</td></tr>" in section


def test_otherwise_the_grid_is_the_two_categorical_hyperparameters_that_mattered_most():
    sweep = _categorical_sweep("activation")
    importance = {"lr": 0.5, "channels": 0.3, "norm": 0.15, "optimizer": 0.05}
    assert report.grid(sweep, importance)["cells"] == {
        (16, "batch"): 0.3, (32, "layer"): 0.2, (16, "layer"): 0.1,
    }  # fmt: skip
    section = _grid_section(sweep, importance)
    assert section.startswith("<h3>Best val_loss by channels &times; norm</h3>")
    assert "<th>channels \\ norm</th><th>batch</th><th>layer</th>" in section
    assert "<tr><th>16</th><td>0.3000</td><td class=best>0.1000</td></tr>" in section


def test_a_single_categorical_hyperparameter_is_a_one_column_grid():
    sweep = _categorical_sweep("optimizer", "activation", "channels")
    section = _grid_section(sweep, {"lr": 0.9, "norm": 0.1})
    assert section.startswith("<h3>Best val_loss by norm</h3>")
    assert "<th>norm</th><th>best val_loss</th>" in section
    assert "<tr><th>layer</th><td class=best>0.1000</td></tr>" in section


def test_without_a_categorical_hyperparameter_there_is_no_grid():
    sweep = _categorical_sweep("optimizer", "activation", "channels", "norm")
    section = _grid_section(sweep, {"lr": 1.0})
    assert "no categorical hyperparameter to tabulate" in section and "<table>" not in section


def test_the_report_of_a_user_space_computes_the_importances_once(tmp_path, monkeypatch):
    sweep = _sweep(CATEGORICAL, [0.3, 0.2, 0.1])
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "sweep.json").write_text(SweepConfig().model_dump_json())
    pq.write_table(pa.Table.from_pylist(sweep.trials), folder / "trials.parquet")
    epochs = [
        {"trial_id": t["trial_id"], "epoch": 1, "train_loss": 1.0, "train_acc": 0.5,
         "val_loss": t["best_val_loss"], "val_acc": 0.5, "lr": 0.1}
        for t in sweep.trials
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(epochs), folder / "epochs.parquet")
    calls, importances = [], report.importances
    monkeypatch.setattr(report, "importances", lambda s: calls.append(s) or importances(s))
    report.write(SweepFolder.from_location(str(folder)))
    assert len(calls) == 1
    page = (folder / report.REPORT).read_text()
    assert "<th>optimizer \\ activation</th>" in page
    assert "<th>channels</th>" in page  # in the trials table
