"""The sweep's space checks before Ray starts: every name drawn is one the loop or the model
takes, of a kind it admits, not fixed twice; a user's space that raises is one line."""

from __future__ import annotations

import pickle
import sys

import optuna
import pytest

from search_spaces import SpaceError, Vocabulary
from sweeps.space import SweepSpace, check_space
from trainable.user_code import UserCodeError

MODEL = """\
def Net(num_classes: int, width: int = 16, dropout: float = 0.0, sizes: tuple = (8,)):
    return None
"""
SPACES = """\
import optuna

DRAWN = []


def typo(trial):
    trial.suggest_float("lr", 1e-3, 0.1, log=True)
    trial.suggest_float("dropuot", 0.0, 0.5)


def dropout(trial):
    trial.suggest_float("dropout", 0.0, 0.5)


def float_width(trial):
    trial.suggest_float("width", 8, 32)


def sizes(trial):
    trial.suggest_categorical("sizes", [8, 16])


def broken(trial):
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    if optimizer == "adam":
        raise KeyError(optimizer)


def recorded(trial: optuna.Trial) -> None:
    trial.suggest_int("width", 8, 32)
    if trial.suggest_categorical("optimizer", ["sgd", "momentum"]) == "momentum":
        trial.suggest_float("momentum", 0.5, 0.9)
    DRAWN.append(dict(trial.params))
"""

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def code_dir(tmp_path, monkeypatch):
    """The user's model ``Net`` and spaces in two files; their modules go with the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "space_net.py").write_text(MODEL)
    (tmp_path / "net_spaces.py").write_text(SPACES)
    yield tmp_path
    for name in ("space_net", "net_spaces"):
        sys.modules.pop(name, None)


@pytest.fixture
def vocabulary(code_dir):
    return Vocabulary.of(f"{code_dir}/space_net.py:Net")


def space(code_dir, name):
    return f"{code_dir}/net_spaces.py:{name}"


def test_a_name_the_model_does_not_take_is_refused_with_the_closest(code_dir, vocabulary):
    source = space(code_dir, "typo")
    with pytest.raises(SpaceError) as err:
        check_space(source, {}, vocabulary)
    assert str(err.value) == (
        f"search space {source!r}: unknown hyperparameter 'dropuot': neither the training loop "
        f"nor model {code_dir}/space_net.py:Net takes it; did you mean 'dropout'? valid: "
        "optimizer, lr, gamma, momentum, weight_decay, batch_size, width, dropout, sizes"
    )


def test_the_models_own_names_pass_where_another_models_vocabulary_refuses_them(
    code_dir, vocabulary
):
    info = check_space(space(code_dir, "dropout"), {}, vocabulary)
    assert set(info.distributions) == {"dropout"} and info.vocabulary is vocabulary
    with pytest.raises(SpaceError, match=r"unknown hyperparameter 'dropout'.* model mlp takes"):
        check_space(space(code_dir, "dropout"), {}, Vocabulary.of("mlp"))


def test_the_default_space_is_refused_for_a_model_without_an_activation(vocabulary):
    with pytest.raises(SpaceError, match="unknown hyperparameter 'activation'"):
        check_space("default", {}, vocabulary)


def test_a_name_both_searched_and_fixed_in_model_args_is_refused(code_dir, vocabulary):
    source = space(code_dir, "dropout")
    with pytest.raises(SpaceError) as err:
        check_space(source, {"model_args": {"dropout": 0.1}}, vocabulary)
    assert str(err.value) == (
        f"search space {source!r} searches 'dropout', which model_args fixes too; drop one of them"
    )
    assert check_space(source, {"model_args": {"width": 8}}, vocabulary).always == ["dropout"]


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("float_width", "'width' is suggested as float; it takes int or categorical"),
        ("sizes", "'sizes' is suggested as categorical; it takes a fixed value in model_args"),
    ],
)
def test_a_kind_the_parameter_does_not_admit_is_refused(code_dir, vocabulary, name, wanted):
    source = space(code_dir, name)
    with pytest.raises(SpaceError) as err:
        check_space(source, {}, vocabulary)
    assert str(err.value) == f"search space {source!r}: {wanted}"


def test_a_users_space_that_raises_is_one_line_with_its_file_and_line(code_dir, vocabulary):
    source = space(code_dir, "broken")
    line = SPACES.splitlines().index("        raise KeyError(optimizer)") + 1
    with pytest.raises(UserCodeError) as err:
        check_space(source, {}, vocabulary)
    assert str(err.value) == (
        f"search space {source} raised KeyError: 'adam' ({code_dir}/net_spaces.py:{line})"
    )


def test_first_holds_the_first_draw_of_the_checks(code_dir, vocabulary):
    info = check_space(space(code_dir, "recorded"), {}, vocabulary, draws=16)
    drawn = sys.modules["net_spaces"].DRAWN
    assert len(drawn) == 16
    assert info.first == drawn[0]
    assert set(info.distributions) == {"width", "optimizer", "momentum"}
    assert info.always == ["width", "optimizer"]  # momentum only under one optimizer
    assert info.text is None  # not a YAML space


def test_a_yaml_space_of_the_users_parameters_is_checked_with_its_vocabulary(tmp_path, vocabulary):
    path = tmp_path / "users.yaml"
    path.write_text(
        "params:\n  width: {type: int, low: 8, high: 32}\n"
        "  batch_size: {type: categorical, choices: [16, 64]}\n"
    )
    info = check_space(str(path), {}, vocabulary)
    assert info.text == path.read_text() and set(info.distributions) == {"width", "batch_size"}
    path.write_text("params:\n  batch_size: {type: categorical, choices: [0, 64]}\n")
    with pytest.raises(SpaceError, match=r"'batch_size' ranges over \[0, 64\]; .* \[1, inf\)"):
        check_space(str(path), {}, vocabulary)


def test_a_users_space_pickles_as_its_import_path(code_dir, vocabulary):
    source = space(code_dir, "recorded")
    restored = pickle.loads(pickle.dumps(SweepSpace(source, vocabulary)))
    trial = optuna.create_study().ask()
    assert restored(trial) == {"trial_index": 0}
    assert set(trial.params) >= {"width", "optimizer"}
    assert restored.text is None and restored.vocabulary == vocabulary


@pytest.mark.parametrize("case", ["module", "file"])
def test_a_users_space_module_that_does_not_load_is_one_line(tmp_path, monkeypatch, case):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "unloadable_space.py").write_text("import no_such_module_xyz\n")
    source = {
        "module": "no_such_package_xyz.spaces:space",
        "file": f"{tmp_path}/unloadable_space.py:space",
    }[case]
    with pytest.raises(UserCodeError) as err:
        check_space(source, {}, Vocabulary.of("mlp"))
    assert "\n" not in str(err.value)
    expected = {
        "module": "search space module 'no_such_package_xyz.spaces' not found",
        "file": "raised ModuleNotFoundError: No module named 'no_such_module_xyz' "
        f"({tmp_path}/unloadable_space.py:1)",
    }[case]
    assert expected in str(err.value)
