"""The reference workload every contender runs, and the search space they share."""

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
    """digits, MLP 64-128-128-10, batch 32, TPE + successive halving, 2 trials at a time."""

    num_trials: int = 32
    max_epochs: int = 30
    workers: int = 2
    batch_size: int = 32
    hidden: tuple[int, ...] = (128, 128)
    grace_period: int = 2
    reduction_factor: int = 3
    seed: int = 0
    dataset: str = "digits"

    def sized(self, quick: bool, num_trials: int | None = None) -> Workload:
        """This workload, or for ``--quick`` its short version (8 trials of 8 epochs), with
        ``num_trials`` trials if given."""
        sized = replace(self, num_trials=8, max_epochs=8) if quick else self
        return replace(sized, num_trials=num_trials) if num_trials else sized

    def options(self) -> list[str]:
        """The options of a contender's command line that give it this workload."""
        return ["--seed", str(self.seed), "--num-trials", str(self.num_trials),
                "--max-epochs", str(self.max_epochs)]  # fmt: skip

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """A contender's command line: its output folder and :meth:`options`."""
        parser = argparse.ArgumentParser()
        parser.add_argument("out", type=Path)
        for option in ("seed", "num_trials", "max_epochs"):
            parser.add_argument(f"--{option.replace('_', '-')}", type=int,
                                default=getattr(cls, option))  # fmt: skip
        return parser

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Workload:
        return cls(seed=args.seed, num_trials=args.num_trials, max_epochs=args.max_epochs)

    def trial_config(self, params: dict[str, Any], index: int) -> dict[str, Any]:
        """The trainable's config for a trial with the searched ``params``."""
        return {
            **params, "dataset": self.dataset, "batch_size": self.batch_size,
            "max_epochs": self.max_epochs, "model_args": {"hidden": list(self.hidden)},
            "seed": self.seed, "trial_index": index,
        }  # fmt: skip


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The shared search space, as an Optuna define-by-run function returning the params."""
    get(SPACE)(trial)
    return dict(trial.params)
