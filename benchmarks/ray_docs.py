"""Ray Tune as its docs teach it: a function trainable, a DataLoader, a checkpoint every epoch.

``python -m benchmarks.ray_docs OUT [--workload NAME] [--seed S] [--num-trials N]
[--max-epochs E]`` runs the workload with OptunaSearch (TPE) and ASHA, 2 trials at a time,
Ray's default actor handling, and tests the best trial's last checkpoint once at the end, as the
docs' examples do. Writes ``OUT/result.json``, with every epoch's val_loss and the Unix time its
worker reported it (``curve``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import optuna
import ray
import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.workload import Workload, suggest
from trainable import factory
from trainable.data import load
from trainable.optim import build_optimizer, build_scheduler


def build(config: dict) -> tuple[nn.Module, torch.optim.Optimizer, object, object]:
    split = load(config["dataset"], seed=config["seed"])
    model = factory.build(config["model"], searched={"activation": config["activation"]},
                          fixed=config["model_args"], facts=split.facts)  # fmt: skip
    optimizer = build_optimizer(
        config["optimizer"], model.parameters(), lr=config["lr"], weight_decay=0.0,
        momentum=config.get("momentum", 0.9),
    )  # fmt: skip
    return model, optimizer, build_scheduler(optimizer, config["gamma"]), split


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return nn.functional.cross_entropy(logits, y).item(), (
            logits.argmax(1) == y
        ).float().mean().item()


def train_fn(config: dict) -> None:
    torch.manual_seed(config["seed"] + config.get("index", 0))
    model, optimizer, scheduler, split = build(config)
    loader = DataLoader(TensorDataset(split.x_train, split.y_train),
                        batch_size=config["batch_size"], shuffle=True)  # fmt: skip
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / "checkpoint.pt", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["epoch"]
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start + 1, config["max_epochs"] + 1):
        started = time.perf_counter()
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        val_loss, val_acc = evaluate(model, split.x_val, split.y_val)
        scheduler.step()
        compute = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as directory:
            torch.save(
                {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "epoch": epoch},
                Path(directory) / "checkpoint.pt",
            )  # fmt: skip
            tune.report(
                {
                    "val_loss": val_loss,
                    "val_acc": val_acc,
                    "epoch": epoch,
                    "compute_s": compute,
                    "reported_at": time.time(),
                },
                checkpoint=tune.Checkpoint.from_directory(directory),
            )


def space(trial: optuna.Trial) -> None:
    suggest(trial)


def main() -> None:
    args = Workload.parser().parse_args()
    workload = Workload.from_args(args)
    ray.init(num_cpus=workload.workers, include_dashboard=False)
    fixed = workload.trial_config({}, 0)
    tuner = tune.Tuner(
        tune.with_resources(train_fn, {"cpu": 1}),
        param_space=fixed,
        tune_config=tune.TuneConfig(
            num_samples=workload.num_trials, max_concurrent_trials=workload.workers,
            search_alg=OptunaSearch(
                space, metric="val_loss", mode="min",
                sampler=optuna.samplers.TPESampler(seed=workload.seed),
            ),
            scheduler=ASHAScheduler(
                metric="val_loss", mode="min", time_attr="training_iteration",
                max_t=workload.max_epochs,
                grace_period=workload.grace_period, reduction_factor=workload.reduction_factor,
            ),
        ),
        run_config=tune.RunConfig(storage_path=str(args.out.resolve()), name="ray_docs"),
    )  # fmt: skip
    results = tuner.fit()
    frames = [r.metrics_dataframe for r in results if r.metrics_dataframe is not None]
    best = results.get_best_result(metric="val_loss", mode="min")
    with best.checkpoint.as_directory() as directory:
        state = torch.load(Path(directory) / "checkpoint.pt", weights_only=True)
    model, _, _, split = build({**fixed, **best.config})
    model.load_state_dict(state["model"])
    result = {
        "trials": len(results), "epochs": sum(len(f) for f in frames),
        "compute_s": float(sum(f["compute_s"].sum() for f in frames)),
        "test_acc": evaluate(model, split.x_test, split.y_test)[1],
        "curve": sorted(
            (float(at), float(loss))
            for f in frames
            for at, loss in zip(f["reported_at"], f["val_loss"], strict=True)
        ),
    }  # fmt: skip
    (args.out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
