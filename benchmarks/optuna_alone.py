"""Optuna alone, as its users write it: N worker processes on one JournalStorage.

``python -m benchmarks.optuna_alone OUT [--sampler tpe|random] [--workload NAME] [--seed S]
[--num-trials N] [--max-epochs E]`` runs the workload with the service's training loop
(``TrainingRun``), TPE + SuccessiveHalvingPruner (or random search without pruning), each
worker a process calling ``study.optimize``. Each trial saves its best-validation weights when
it ends, and the best trial is tested once at the end. Writes ``OUT/result.json``, with every
epoch's val_loss and the Unix time its worker had it (``curve``).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import MaxTrialsCallback

from benchmarks.workload import Workload, suggest
from trainable import TrainingRun

STUDY = "bench"


def study(out: Path, workload: Workload, sampler: str, worker: int = 0) -> optuna.Study:
    """The shared study, with this worker's sampler. Each worker seeds its sampler apart, as
    Optuna's FAQ advises for parallel workers: with one seed, every worker proposed the same
    configurations (random search ran 16 distinct ones of its 32 trials)."""
    seed = int(np.random.SeedSequence([workload.seed, worker]).generate_state(1)[0])
    if sampler == "tpe":
        samples = optuna.samplers.TPESampler(seed=seed)
        pruner = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=workload.grace_period, reduction_factor=workload.reduction_factor
        )
    else:
        samples, pruner = (
            optuna.samplers.RandomSampler(seed=seed),
            optuna.pruners.NopPruner(),
        )
    return optuna.create_study(
        study_name=STUDY, storage=JournalStorage(JournalFileBackend(str(out / "journal.log"))),
        sampler=samples, pruner=pruner, direction="minimize", load_if_exists=True,
    )  # fmt: skip


def objective(trial: optuna.Trial, workload: Workload, out: Path) -> float:
    run = TrainingRun(workload.trial_config(suggest(trial), trial.number))
    compute, curve = [], []
    try:
        for epoch in range(1, workload.max_epochs + 1):
            started = time.perf_counter()
            metrics = run.step()
            compute.append(time.perf_counter() - started)
            curve.append((time.time(), metrics.val_loss))
            if metrics.diverged:
                raise optuna.TrialPruned()
            trial.report(metrics.val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return run.best_val_loss
    finally:
        trial.set_user_attr("compute_s", compute)
        trial.set_user_attr("curve", curve)
        trial.set_user_attr("best_val_loss", run.best_val_loss)
        if run.best_state is not None:
            torch.save(run.best_state, out / f"trial_{trial.number}.pt")


def worker(out: Path, workload: Workload, sampler: str, index: int) -> None:
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study(out, workload, sampler, index).optimize(
        lambda trial: objective(trial, workload, out),
        callbacks=[MaxTrialsCallback(workload.num_trials, states=None)],
    )


def main() -> None:
    parser = Workload.parser()
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workload = Workload.from_args(args)
    if args.worker is not None:
        worker(args.out, workload, args.sampler, args.worker)
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study(args.out, workload, args.sampler)  # created once, before the workers race for it
    workers = [
        subprocess.Popen([sys.executable, "-m", __spec__.name, *sys.argv[1:], "--worker", str(i)])
        for i in range(workload.workers)
    ]
    if any(w.wait() for w in workers):
        sys.exit("a worker failed")
    trials = study(args.out, workload, args.sampler).get_trials(deepcopy=False)
    scored = [t for t in trials if math.isfinite(t.user_attrs.get("best_val_loss", math.inf))]
    best = min(scored, key=lambda t: t.user_attrs["best_val_loss"])
    run = TrainingRun(workload.trial_config(best.params, best.number))
    run.best_state = torch.load(args.out / f"trial_{best.number}.pt", weights_only=True)
    compute = [s for t in trials for s in t.user_attrs.get("compute_s", [])]
    result = {
        "trials": len(trials), "epochs": len(compute), "compute_s": sum(compute),
        "test_acc": run.test()["test_acc"],
        "curve": sorted(point for t in trials for point in t.user_attrs.get("curve", [])),
    }  # fmt: skip
    (args.out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
