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
