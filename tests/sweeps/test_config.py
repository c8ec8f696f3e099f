"""Sweep configuration: precedence, validation and one-line errors."""

from __future__ import annotations

import pytest

from sweeps.config import SMOKE, ConfigError, SweepConfig, build_parser, parse


def test_defaults_match_the_model():
    cfg = parse([])
    assert cfg.num_trials == SweepConfig.model_fields["num_trials"].default
    assert cfg.space == "default" and cfg.dataset == "digits"
    assert cfg.name.startswith("sweep-")


def test_flags_override_yaml_which_overrides_smoke(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("num-trials: 7\nmax_epochs: 9\nsmoke: true\n")
    cfg = parse(["--config", str(config), "--max-epochs", "5"])
    assert cfg.num_trials == 7  # YAML beats the smoke preset
    assert cfg.max_epochs == 5  # the flag beats YAML
    assert cfg.space == SMOKE["space"]  # the preset fills what neither set


def test_hidden_sizes_parse_from_a_comma_list():
    assert parse(["--hidden", "64, 32"]).hidden == (64, 32)


def test_every_field_has_a_flag_with_help():
    help_text = build_parser().format_help()
    for name in SweepConfig.model_fields:
        assert "--" + name.replace("_", "-") in help_text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--num-trails", "3"], "did you mean --num-trials?"),
        (["--num-trials", "0"], "num_trials"),
        (["--num-trials", "many"], "num_trials"),
        (["--grace-period", "30", "--max-epochs", "10"], "grace_period (30) exceeds max_epochs"),
        (["--reduction-factor", "1"], "reduction_factor"),
        (["--gpus-per-trial", "-1"], "gpus_per_trial"),
        (["--name", "../escape"], "invalid sweep name"),
        (["--name", "/abs"], "invalid sweep name"),
        (["--resume"], "--resume needs --name"),
    ],
)
def test_bad_flags_raise_one_line_errors(argv, expected):
    with pytest.raises(ConfigError) as err:
        parse(argv)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_yaml_key_suggests_the_closest(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("num_trails: 3\n")
    with pytest.raises(
        ConfigError, match=r"unknown option 'num_trails' \(did you mean 'num_trials'"
    ):
        parse(["--config", str(config)])


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("num_trials: 3\nspace: [unclosed\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error in .*broken.yaml line \d+"):
        parse(["--config", str(config)])


def test_missing_config_file():
    with pytest.raises(ConfigError, match=r"config file not found: nope\.yaml"):
        parse(["--config", "nope.yaml"])


def test_the_model_and_its_arguments_default_to_the_mlp_with_its_own_sizes():
    cfg = parse([])
    assert (cfg.model, cfg.model_args, cfg.hidden) == ("mlp", {}, None)
    assert "hidden" not in SMOKE and parse(["--smoke"]).hidden is None
    assert parse(["--smoke"]).trial_settings() == {
        "model": "mlp", "model_args": {}, "dataset": "digits", "label": None,
        "batch_size": 32, "max_epochs": SMOKE["max_epochs"], "seed": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1,b=0.5,c=relu", {"a": 1, "b": 0.5, "c": "relu"}),
        (" width = 64 , use_bn=true, norm=null ", {"width": 64, "use_bn": True, "norm": None}),
        ("{a: 1, b: [1, 2]}", {"a": 1, "b": [1, 2]}),
        ("{sizes: [8, 8], dropout: 1.0e-1}", {"sizes": [8, 8], "dropout": 0.1}),
    ],
)
def test_model_args_parse_from_pairs_or_a_mapping(text, expected):
    cfg = parse(["--model", "cnn", "--model-args", text])
    assert cfg.model == "cnn"
    assert cfg.model_args == expected
    assert [type(v) for v in cfg.model_args.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    "text", ["width", "=64", "width=64,dropout", "{width: 64", "[64, 64]", "{width: 64}x",
             "hidden=[16,16]", "{1, 2}"],
)  # fmt: skip
def test_unreadable_model_args_are_a_one_line_error(text):
    with pytest.raises(ConfigError) as err:
        parse(["--model-args", text])
    assert str(err.value).startswith("model_args") and "\n" not in str(err.value)


def test_model_args_may_come_from_the_config_file(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("model: cnn\nmodel_args: {channels: [8, 16], dropout: 0.25}\n")
    cfg = parse(["--config", str(config)])
    assert (cfg.model, cfg.model_args) == ("cnn", {"channels": [8, 16], "dropout": 0.25})
    config.write_text("model-args: width=64,dropout=0.1\n")
    assert parse(["--config", str(config)]).model_args == {"width": 64, "dropout": 0.1}


def test_model_args_and_hidden_reach_the_trials_together():
    cfg = parse(["--hidden", "64,32", "--model-args", "dropout=0.1", "--batch-size", "16"])
    assert cfg.trial_settings() == {
        "model": "mlp", "model_args": {"dropout": 0.1, "hidden": [64, 32]}, "dataset": "digits",
        "label": None, "batch_size": 16, "max_epochs": 20, "seed": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["--hidden", "32", "--model-args", "hidden=[16]"],
        ["--hidden", "32", "--model-args", "{hidden: [16, 16]}"],
    ],
)
def test_hidden_set_by_the_flag_and_in_model_args_is_refused(argv):
    with pytest.raises(ConfigError, match="hidden is set twice: by --hidden and in model_args"):
        parse(argv)


def test_a_file_reference_is_made_absolute_and_the_rest_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = parse(
        ["--model", "code/models.py:Net", "--dataset", "./data.py:load", "--space", "s.py:space"]
    )
    assert cfg.model == f"{tmp_path}/code/models.py:Net"
    assert cfg.dataset == f"{tmp_path}/data.py:load"
    assert cfg.space == f"{tmp_path}/s.py:space"
    installed = parse(["--model", "examples.my_models:SmallCNN", "--dataset", "digit_images"])
    assert (installed.model, installed.dataset) == ("examples.my_models:SmallCNN", "digit_images")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse(["--model", "~/m.py:Net"]).model == f"{tmp_path}/home/m.py:Net"


@pytest.mark.parametrize(
    ("argv", "field"),
    [(["--model", "models.py:"], "model"), (["--model", ":Net"], "model"),
     (["--space", "s.py:1st"], "space"), (["--dataset", "data.py:load-all"], "dataset")],
)  # fmt: skip
def test_a_reference_that_is_no_import_path_is_a_one_line_error(argv, field):
    with pytest.raises(ConfigError) as err:
        parse(argv)
    message = str(err.value)
    assert message.startswith(f"{field}: {argv[1]!r} is not an import path") and "\n" not in message


def test_fail_fast_counts_trials_and_0_turns_it_off(tmp_path):
    assert parse([]).fail_fast == 3
    assert parse(["--fail-fast", "0"]).fail_fast == 0
    config = tmp_path / "sweep.yaml"
    config.write_text("fail_fast: 5\n")
    assert parse(["--config", str(config)]).fail_fast == 5
    with pytest.raises(ConfigError, match="fail_fast"):
        parse(["--fail-fast", "-1"])
