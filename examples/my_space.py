"""A user's search space in Python: an Optuna define-by-run function.

    python -m sweeps.run --model examples/my_models.py:SmallCNN \
        --dataset examples/my_data.py:load_tensors --space examples/my_space.py:space

It only calls ``trial.suggest_*`` and branches. Each name is one the training loop takes
(optimizer, lr, gamma, momentum, weight_decay, batch_size) or a parameter of the model
(here SmallCNN's width, dropout and activation); any other name is refused before Ray starts.
"""

from __future__ import annotations

import optuna


def space(trial: optuna.Trial) -> None:
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam", "nadam"])
    trial.suggest_float("lr", 1e-3, 0.1, log=True)
    if optimizer == "momentum":
        trial.suggest_float("momentum", 0.5, 0.95)
    trial.suggest_float("gamma", 0.9, 1.0)
    trial.suggest_categorical("activation", ["relu", "gelu", "tanh"])
    trial.suggest_int("width", 8, 32, log=True)
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("batch_size", [32, 64, 128])
