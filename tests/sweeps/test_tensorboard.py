"""TensorBoard output read back with TensorBoard's own reader and served by its own server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar
from tensorboard.plugins.hparams import metadata

from search_spaces import Vocabulary
from sweeps.record import REASONS
from sweeps.space import check_space
from sweeps.tensorboard import logdir_spec, main
from sweeps.tune.logger import AUTO_LOGGERS, TensorBoardLogger

SWEPT = {"activation", "gamma", "lr", "momentum", "optimizer"}  # the small space
METRIC_TAGS = {"best/val_loss", "best/val_acc", "best/epoch"}
SCALAR_TAGS = {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr", *METRIC_TAGS}


def read(directory: Path) -> ea.EventAccumulator:
    accumulator = ea.EventAccumulator(str(directory), size_guidance={ea.TENSORS: 0, ea.SCALARS: 0})
    return accumulator.Reload()


def hparams_content(directory: Path, tag: str) -> bytes:
    return read(directory).PluginTagToContent(metadata.PLUGIN_NAME)[tag]


def session_values(run: Path) -> dict[str, object]:
    start = metadata.parse_session_start_info_plugin_data(
        hparams_content(run, metadata.SESSION_START_INFO_TAG)
    )
    return {key: value.string_value or value.number_value for key, value in start.hparams.items()}


def test_the_experiment_config_has_every_searched_hyperparameter_and_the_metrics(sweep):
    experiment = metadata.parse_experiment_plugin_data(
        hparams_content(sweep["folder"] / "tensorboard", metadata.EXPERIMENT_TAG)
    )
    # and why each trial ended, among the reasons the record knows
    assert {info.name for info in experiment.hparam_infos} == SWEPT | {"stop_reason"}
    reason = next(info for info in experiment.hparam_infos if info.name == "stop_reason")
    assert sorted(v.string_value for v in reason.domain_discrete.values) == sorted(REASONS)
    lr = next(info for info in experiment.hparam_infos if info.name == "lr")
    assert (lr.domain_interval.min_value, lr.domain_interval.max_value) == (1e-3, 0.3)
    shown = {m.name.tag: m.display_name for m in experiment.metric_infos}
    assert shown == {
        "best/val_loss": "val_loss", "best/val_acc": "val_acc", "best/epoch": "best_epoch"
    }  # fmt: skip


def test_tunes_own_tensorboard_logger_stays_out_and_only_for_the_sweep(sweep):
    """Event files only under tensorboard/ (Tune's TBX logger would add one per trial folder),
    while the CSV and JSON logs the results read are there; the switch that keeps Tune's
    loggers out is off again once the sweep is done, for the process's other Tune runs."""
    folder = sweep["folder"]
    assert not list(folder.glob("trial_*/events.out.tfevents.*"))
    assert all((t / "progress.csv").is_file() and (t / "result.json").is_file()
               for t in folder.glob("trial_*"))  # fmt: skip
    assert AUTO_LOGGERS not in os.environ


def test_a_custom_scalars_chart_overlays_training_and_validation_curves(sweep):
    root = read(sweep["folder"] / "tensorboard")
    layout = layout_pb2.Layout()
    layout.ParseFromString(
        root.Tensors(custom_scalar.CONFIG_SUMMARY_TAG)[0].tensor_proto.string_val[0]
    )
    charts = {chart.title: list(chart.multiline.tag) for c in layout.category for chart in c.chart}
    assert charts == {
        "loss": ["loss/train", "loss/val"],
        "accuracy": ["accuracy/train", "accuracy/val"],
    }


def confirmation_runs(sweep) -> set[str]:
    rows = pq.read_table(sweep["folder"] / "confirmation.parquet").to_pylist()
    return {f"confirm_{r['trial_index']:03d}_{r['replicate']}" for r in rows}


def test_each_trial_has_its_hyperparameters_and_epoch_curves(sweep):
    runs = {p.name: p for p in (sweep["folder"] / "tensorboard").iterdir() if p.is_dir()}
    confirmed = confirmation_runs(sweep)
    assert confirmed and confirmed <= set(runs)  # a run per confirmation run too
    assert {f"audit_{r['trial_index']:03d}" for r in sweep["best"]["audit"]["audited"]} <= set(runs)
    runs = {name: path for name, path in runs.items() if name.startswith("trial_")}
    assert sorted(runs) == [f"trial_{t['trial_index']:03d}" for t in sweep["trials"]]
    for trial in sweep["trials"]:
        run = runs[f"trial_{trial['trial_index']:03d}"]
        expected = {k: trial[k] for k in SWEPT if trial[k] is not None}
        assert session_values(run) == pytest.approx(
            {**expected, "stop_reason": trial["stop_reason"]}
        )
        scalars = read(run)
        assert set(scalars.Tags()["scalars"]) == SCALAR_TAGS  # no Ray bookkeeping
        rows = [e for e in sweep["epochs"] if e["trial_id"] == trial["trial_id"]]
        for tag, column in (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("lr", "lr")):
            series = scalars.Scalars(tag)  # values are stored as float32
            assert [s.step for s in series] == [r["epoch"] for r in rows]
            assert [s.value for s in series] == pytest.approx([r[column] for r in rows], rel=1e-6)
        best = scalars.Scalars("best/val_loss")[-1]
        assert best.step == trial["best_epoch"]
        assert best.value == pytest.approx(trial["best_val_loss"], rel=1e-6)


def test_trials_without_a_conditional_hyperparameter_are_still_in_the_table(sweep):
    missing = [t for t in sweep["trials"] if t["momentum"] is None]
    assert missing, "every trial used momentum: the sweep no longer tests a conditional column"
    run = sweep["folder"] / "tensorboard" / f"trial_{missing[0]['trial_index']:03d}"
    assert "momentum" not in session_values(run)


def test_a_trial_appears_in_the_hparams_table_as_soon_as_it_starts(tmp_path):
    """Named by its number: the run a resumed trial goes on in."""
    space = check_space("small", {}, Vocabulary.of("mlp"))
    logger = TensorBoardLogger(str(tmp_path), space.distributions)
    logger.setup()
    trial = SimpleNamespace(path="/somewhere/trial_004_abc", trial_id="abc", config={
        "optimizer": "adam", "lr": 0.01, "gamma": 0.95, "activation": "tanh",
        "seed": 0, "trial_index": 4,
    })  # fmt: skip
    logger.log_trial_start(trial)
    assert session_values(tmp_path / "trial_004") == pytest.approx(
        {"optimizer": "adam", "lr": 0.01, "gamma": 0.95, "activation": "tanh"}
    )
    result = {"epoch": 1, "train_loss": 0.6, "train_acc": 0.7, "train_rows": 96, "val_loss": 0.5,
              "val_acc": 0.8, "lr": 0.01, "best_val_loss": 0.4, "best_epoch": 0,
              "diverged": False, "done": False, "time_this_iter_s": 0.1}  # fmt: skip
    logger.log_trial_result(1, trial, result)
    logger.log_trial_end(trial)
    tags = set(read(tmp_path / "trial_004").Tags()["scalars"])
    # Ray's own fields are not curves, and not a best epoch: no best/* point.
    assert tags == {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"}


def test_the_cli_serves_the_hparams_plugin_on_loopback(sweep):
    server = subprocess.Popen(
        [sys.executable, "-m", "sweeps.tensorboard", str(sweep["folder"]), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = None
        for line in server.stdout:
            found = re.search(r"(http://[\d.]+:\d+)/", line)
            if found:
                url = found.group(1)
                break
        assert url and url.startswith("http://127.0.0.1:")
        groups = post(url + "/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                "STATUS_RUNNING"],
        })["sessionGroups"]  # fmt: skip
        audited = sweep["best"]["audit"]["audited"]
        assert len(groups) == len(sweep["trials"]) + len(confirmation_runs(sweep)) + len(audited)
        for group in groups:
            assert {m["name"]["tag"] for m in group["metricValues"]} == METRIC_TAGS
        experiment = post(url + "/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {h["name"] for h in experiment["hparamInfos"]} == SWEPT | {"stop_reason"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_cli_refuses_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("error: no sweep folder at")


def test_several_sweeps_are_served_side_by_side_under_their_names(tmp_path):
    for storage in ("a", "b"):
        (tmp_path / storage / "sweep" / "tensorboard").mkdir(parents=True)
    spec = logdir_spec([str(tmp_path / "a" / "sweep"), str(tmp_path / "b" / "sweep")])
    assert spec == (f"sweep:{tmp_path}/a/sweep/tensorboard,sweep-2:{tmp_path}/b/sweep/tensorboard")
