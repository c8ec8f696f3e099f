"""The suite's other sections: the training loop, checkpoint cost, scale, a warm head,
sweeps that fit a time budget, and ASHA's and the stopper's settings over seeds."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks import compare, measure
from benchmarks.workload import WORKLOADS, Workload
from sweeps import head
from trainable import TrainingRun, loop
from trainable.activations import ACTIVATIONS
from trainable.data import load
from trainable.models import mlp

DIGITS_DATASET = "benchmarks.datasets:digits_dataset"  # the digits as a user's Dataset


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    return _interleaved_ms({"fn": fn}, repeats)["fn"]


def _interleaved_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function, run in turns (the order rotating each round): a slow spell
    of a shared machine then slows every contender alike instead of whichever ran in it."""
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        fns[name]()  # warm-up
    for round_ in range(repeats):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - started)
    return {name: 1000 * statistics.median(times[name]) for name in names}


def training_loop(quick: bool) -> list[dict]:
    """One epoch of the workload's model, the loops timed in turns, each ``ratio`` to its ``vs``.

    Training only: ours, hand-written slicing, a DataLoader over the tensors. A whole epoch
    (training, then validation): ``TrainingRun.step`` on resident tensors and on a Dataset of
    the same rows (read through ``trainable.data.batching.loader``), and a hand-written
    DataLoader loop over that Dataset.
    """
    torch.set_num_threads(1)
    workload, repeats = WORKLOADS["reference"], 5 if quick else 30
    loops = {**_training_only(workload), **_whole_epochs(workload, repeats + 1)}
    ms = _interleaved_ms({name: fn for name, (_, fn, _) in loops.items()}, repeats)
    return [
        {"loop": name, "epoch": epoch, "epoch_ms": ms[name], "ratio": ms[name] / ms[vs], "vs": vs}
        for name, (epoch, _, vs) in loops.items()
    ]


Loops = dict[str, tuple[str, Callable[[], object], str]]  # name -> (what it times, fn, vs)


def _model(workload: Workload, num_features: int, num_classes: int) -> nn.Module:
    torch.manual_seed(0)
    return mlp(num_features, num_classes, workload.hidden, activation=ACTIVATIONS["relu"])


def _training_only(workload: Workload) -> Loops:
    split = load(workload.dataset, seed=0)
    x, y = split.x_train, split.y_train

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        model = _model(workload, split.num_features, split.num_classes)
        return model, torch.optim.SGD(model.parameters(), lr=0.01)

    model, optimizer = fresh()
    generator = torch.Generator().manual_seed(0)

    def ours() -> None:
        loop.train_epoch(model, split.train_batches(workload.batch_size, generator), optimizer)

    slicing_model, slicing_opt = fresh()

    def slicing() -> None:
        slicing_model.train()
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), workload.batch_size):
            index = order[start : start + workload.batch_size]
            slicing_opt.zero_grad()
            nn.functional.cross_entropy(slicing_model(x[index]), y[index]).backward()
            slicing_opt.step()

    loader_model, loader_opt = fresh()
    loader = DataLoader(TensorDataset(x, y), batch_size=workload.batch_size, shuffle=True)

    def data_loader() -> None:
        loader_model.train()
        for xb, yb in loader:
            loader_opt.zero_grad()
            nn.functional.cross_entropy(loader_model(xb), yb).backward()
            loader_opt.step()

    slicing_name = "hand-written slicing"
    return {
        "ours (trainable.loop)": ("train", ours, slicing_name),
        slicing_name: ("train", slicing, slicing_name),
        "DataLoader": ("train", data_loader, slicing_name),
    }


def _whole_epochs(workload: Workload, epochs: int) -> Loops:
    config = {"optimizer": "sgd", "lr": 0.01, "batch_size": workload.batch_size,
              "model_args": {"hidden": list(workload.hidden)}, "max_epochs": epochs}  # fmt: skip
    resident = TrainingRun({**config, "dataset": workload.dataset})
    on_dataset = TrainingRun({**config, "dataset": DIGITS_DATASET})
    split = load(DIGITS_DATASET, seed=0)  # the run's own parts: the same training rows
    model = _model(workload, split.facts.num_features, split.facts.num_classes)
    # fused, as TrainingRun's SGD is on a CPU: the ratio is then the data path and the loop's
    # bookkeeping, not the optimizer's kernel
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, fused=True)

    def hand_written() -> tuple[float, float]:
        model.train()
        for x, y in DataLoader(split.train, workload.batch_size, shuffle=True):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        model.eval()
        loss = correct = 0
        with torch.no_grad():
            for x, y in DataLoader(split.val, workload.batch_size):
                scores = model(x)
                loss += nn.functional.cross_entropy(scores, y, reduction="sum").item()
                correct += (scores.argmax(1) == y).sum().item()
        return loss / len(split.val), correct / len(split.val)

    epoch, dataset_run, hand = "train + validate", "TrainingRun, Dataset", "DataLoader, Dataset"
    return {
        "TrainingRun, resident": (epoch, resident.step, dataset_run),
        dataset_run: (epoch, on_dataset.step, hand),
        hand: (epoch, hand_written, hand),
    }


def checkpoint_cost(quick: bool) -> list[dict]:
    """ms to save and to restore a bundle: the default model, and one of 50 MB of weights."""
    rows = []
    for name, hidden in (("default MLP 64-128-128-10", (128, 128)),
                         ("50 MB MLP 64-3500-3500-10", (3500, 3500))):  # fmt: skip
        config = {"model_args": {"hidden": list(hidden)}, "optimizer": "sgd", "max_epochs": 1}
        run = TrainingRun(config)
        run.step()
        with tempfile.TemporaryDirectory() as directory:
            save = _median_ms(lambda run=run, d=directory: run.save(d), 3 if quick else 10)
            size = sum(p.stat().st_size for p in Path(directory).iterdir())
            restore = _median_ms(lambda run=run, d=directory: run.restore(d), 3 if quick else 10)
        weights = sum(p.numel() * p.element_size() for p in run.model.parameters())
        rows.append({"model": name, "weights_mb": weights / 2**20, "bundle_mb": size / 2**20,
                     "save_ms": save, "restore_ms": restore})  # fmt: skip
    return rows


def scale(quick: bool, log: Callable[[str], None]) -> list[dict]:
    """Many trials of a trivial trainable (synthetic data, 2 epochs) through ``sweeps.run``."""
    rows = []
    for trials in (20, 100) if quick else (100, 1000):
        with tempfile.TemporaryDirectory(prefix="bench-") as out:
            args = ["sweeps.run", "--name", "scale", "--storage", out, "--dataset", "synthetic",
                    "--num-trials", str(trials), "--max-epochs", "2", "--grace-period", "1",
                    "--hidden", "8", "--space", "small"]  # fmt: skip
            measured = measure.run(args, Path(out))
            compute = compare.epoch_compute_s(Path(out, "scale"))
        log(f"  scale: {trials} trials, {measured.wall_s:.1f} s")
        rows.append({
            "trials": trials, "wall_s": measured.wall_s,
            "wall_per_trial_ms": 1000 * measured.wall_s / trials,
            "overhead": measured.wall_s / (compute / WORKLOADS["reference"].workers),
            "driver_rss_mb": measured.driver_rss_mb,
        })  # fmt: skip
    return rows


def warm_head(quick: bool, log: Callable[[str], None]) -> list[dict]:
    """Our sweep of the reference workload starting its own Ray, and joining a warm head
    (``python -m sweeps.head start``), in turns: the time to its first result and its wall.

    The head runs only for the warm turns: an idle Ray on the machine slowed the cold sweeps
    beside it (on 2 cores, its first result 13-20 s instead of 9), which would flatter the head.
    """
    workload = WORKLOADS["reference"].sized(quick)
    runs: dict[str, list[dict]] = {"own Ray": [], "warm head": []}
    started: list[float] = []
    # Short paths: Ray's socket paths under them must stay within 107 bytes.
    with tempfile.TemporaryDirectory(prefix="br", dir="/tmp") as ray_tmp:
        for round_ in range(1 if quick else 3):
            for mode in runs:
                tmp = Path(ray_tmp, f"{mode[0]}{round_}")
                tmp.mkdir()
                with _env(RAY_TMPDIR=str(tmp)), tempfile.TemporaryDirectory() as out:
                    if mode == "warm head":
                        began = time.perf_counter()
                        head.start()
                        started.append(time.perf_counter() - began)
                    try:
                        result = compare.CONTENDERS["ours"].run(Path(out), workload)
                    finally:
                        if mode == "warm head":
                            head.stop()
                run = compare.anytime(result)
                runs[mode].append(run)
                log(f"  warm: round {round_ + 1}, {mode}: first result "
                    f"{run['first_result_s']:.1f} s, wall {run['wall_s']:.1f} s")  # fmt: skip
    return [
        {"ray": mode, "first_result_s": statistics.median(r["first_result_s"] for r in done),
         "wall_s": statistics.median(r["wall_s"] for r in done),
         "head_start_s": statistics.median(started) if mode == "warm head" else 0.0}
        for mode, done in runs.items()
    ]  # fmt: skip


def time_budget(quick: bool, log: Callable[[str], None]) -> list[dict]:
    """The default sweep with ``--time-budget B``: its wall time against B, its trials and test
    accuracy; beside it, a sweep of as many trials by ``--num-trials``, with no budget."""
    rows = []
    for budget_s in (30, 60) if quick else (60, 120, 300):
        timed = _sweep(["--time-budget", str(budget_s)])
        counted = _sweep(["--num-trials", str(timed["trials"])])
        log(f"  budget {budget_s} s: wall {timed['wall_s']:.1f} s, {timed['trials']} trials; "
            f"--num-trials {timed['trials']}: wall {counted['wall_s']:.1f} s")  # fmt: skip
        rows.append({
            "budget_s": budget_s, "wall_s": timed["wall_s"],
            "wall_over_budget": timed["wall_s"] / budget_s, "trials": timed["trials"],
            "confirmed": timed["confirmed"], "test_acc": timed["test_acc"],
            "counted_wall_s": counted["wall_s"], "counted_confirmed": counted["confirmed"],
            "counted_test_acc": counted["test_acc"],
        })  # fmt: skip
    return rows


def _sweep(options: list[str]) -> dict:
    """The default sweep with ``options``: its wall time, search trials, confirmation runs
    (configurations x seeds) and test accuracy."""
    with tempfile.TemporaryDirectory(prefix="bench-") as out:
        measured = measure.run(["sweeps.run", "--name", "b", "--storage", out, *options], Path(out))
        best = json.loads(Path(out, "b", "best.json").read_text())
        trials = pq.read_metadata(Path(out, "b", "trials.parquet")).num_rows
    runs = {row["trial_index"]: len(row["runs"]) for row in best.get("confirmation", [])}
    confirmed = f"{len(runs)}x{max(runs.values(), default=0)}"
    return {"wall_s": measured.wall_s, "trials": trials, "confirmed": confirmed,
            "test_acc": best["test_acc"]}  # fmt: skip


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """These environment variables for this process and the commands it starts meanwhile."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# (grace period, reduction factor, patience): the shipped setting first, then one knob moved
# at a time either way.
ASHA_SETTINGS = [(1, 3, 5), (2, 3, 5), (4, 3, 5), (1, 2, 5), (1, 4, 5), (1, 3, 3), (1, 3, 10)]


def asha(workloads: list[str], seeds: list[int], quick: bool, log: Callable[[str], None]
         ) -> list[dict]:  # fmt: skip
    """Our search alone (``--confirm-seeds 0``) on each workload with each of
    :data:`ASHA_SETTINGS`, over ``seeds``, the settings taking turns in an order that rotates
    from seed to seed. Each row is the medians over the seeds, and :func:`compare.paired`'s
    figures against the shipped setting's run of the same seed."""
    rows = []
    for name in workloads:
        workload = WORKLOADS[name].sized(quick)
        runs: dict[tuple[int, int, int], list[dict]] = {s: [] for s in ASHA_SETTINGS}
        for round_, seed in enumerate(seeds):
            turn = round_ % len(ASHA_SETTINGS)
            for setting in ASHA_SETTINGS[turn:] + ASHA_SETTINGS[:turn]:
                grace, factor, patience = setting
                sized = replace(workload, seed=seed, grace_period=grace, reduction_factor=factor)
                search = compare.ours("--confirm-seeds", "0", "--patience", str(patience))
                with tempfile.TemporaryDirectory(prefix="bench-") as out:
                    run = {"seed": seed, **compare.anytime(search(Path(out), sized))}
                runs[setting].append(run)
                log(
                    f"  asha {name}, seed {seed}, grace {grace} rf {factor} patience "
                    f"{patience}: {run['wall_s']:.1f} s, best {run['best_val_loss']:.4f}"
                )
        shipped = {r["seed"]: r for r in runs[ASHA_SETTINGS[0]]}
        for (grace, factor, patience), done in runs.items():
            median = {k: statistics.median(r[k] for r in done)
                      for k in ("wall_s", "epochs", "best_val_loss", "test_acc")}  # fmt: skip
            paired = compare.paired(done, shipped)  # by seed: each its own data split
            rows.append({"workload": name, "grace": grace, "rf": factor, "patience": patience,
                         **median, **paired})  # fmt: skip
    return rows
