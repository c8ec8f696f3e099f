"""The workloads every contender runs, and the search space they share."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from search_spaces import get

SPACE = "default"  # the service's default space: optimizer, lr, gamma, activation (+ momentum)


@dataclass(frozen=True)
class Workload:
    """A model on a built-in dataset, TPE + successive halving, 2 trials at a time.

    Every contender loads its data with ``trainable.data.load(dataset, seed=seed)``, as the
    sweep's trials do: the same train/validation/test rows for all, so their losses compare.
    """

    name: str
    model: str
    dataset: str
    hidden: tuple[int, ...] | None  # the model's ``hidden`` argument; None: its default
    num_trials: int
    max_epochs: int = 30
    workers: int = 2
    batch_size: int = 32
    grace_period: int = 1  # the sweep's default; Optuna alone's pruner gets the same rungs
    reduction_factor: int = 3
    seed: int = 0

    def sized(self, quick: bool, num_trials: int | None = None) -> Workload:
        """This workload, or for ``--quick`` its short version (8 trials of 8 epochs), with
        ``num_trials`` trials if given."""
        sized = replace(self, num_trials=8, max_epochs=8) if quick else self
        return replace(sized, num_trials=num_trials) if num_trials else sized

    def options(self) -> list[str]:
        """The options of a baseline's command line that give it this workload."""
        return ["--workload", self.name, "--seed", str(self.seed), "--num-trials",
                str(self.num_trials), "--max-epochs", str(self.max_epochs)]  # fmt: skip

    def sweep_options(self) -> list[str]:
        """The options of ``python -m sweeps.run`` that give it this workload (the rest of its
        options keep their shipped defaults)."""
        hidden = ["--hidden", ",".join(map(str, self.hidden))] if self.hidden else []
        return [
            "--model", self.model, "--dataset", self.dataset, *hidden,
            "--batch-size", str(self.batch_size), "--grace-period", str(self.grace_period),
            "--reduction-factor", str(self.reduction_factor), "--seed", str(self.seed),
            "--num-trials", str(self.num_trials), "--max-epochs", str(self.max_epochs),
        ]  # fmt: skip

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """A baseline's command line: its output folder and :meth:`options`."""
        parser = argparse.ArgumentParser()
        parser.add_argument("out", type=Path)
        parser.add_argument("--workload", choices=WORKLOADS, default="reference")
        for option in ("seed", "num_trials", "max_epochs"):
            parser.add_argument(f"--{option.replace('_', '-')}", type=int)
        return parser

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Workload:
        chosen = WORKLOADS[args.workload]
        given = {k: getattr(args, k) for k in ("seed", "num_trials", "max_epochs")}
        return replace(chosen, **{k: v for k, v in given.items() if v is not None})

    @property
    def model_args(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden)} if self.hidden else {}

    def trial_config(self, params: dict[str, Any], index: int) -> dict[str, Any]:
        """The trainable's config for a trial with the searched ``params``."""
        return {
            **params, "model": self.model, "dataset": self.dataset,
            "batch_size": self.batch_size, "max_epochs": self.max_epochs,
            "model_args": self.model_args, "seed": self.seed, "trial_index": index,
        }  # fmt: skip


WORKLOADS = {
    # digits, an MLP 64-128-128-10: about 6 s of training per worker, so fixed costs show
    "reference": Workload("reference", "mlp", "digits", (128, 128), num_trials=32),
    # the 8x8 digit images, the cnn (two conv blocks of 16 and 32 maps, a head of 64): a
    # twice-heavier epoch and twice the trials
    "medium": Workload("medium", "cnn", "digit_images", None, num_trials=64),
    # the digits upsampled to 1x28x28, the same cnn: an epoch about 0.4 s (medium: 0.07 s),
    # several minutes of Optuna alone, where a sweep's fixed costs no longer dominate
    "large": Workload("large", "cnn", "benchmarks.datasets:digits_28", None, num_trials=128),
}


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The shared search space, as an Optuna define-by-run function returning the params."""
    get(SPACE)(trial)
    return dict(trial.params)
