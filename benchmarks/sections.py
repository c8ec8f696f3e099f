"""The suite's other sections: the training loop, checkpoint cost, scale, sample efficiency."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks import compare, measure
from benchmarks.workload import Workload
from trainable import TrainingRun, loop
from trainable.data import load
from trainable.models import build_mlp


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
    """One training epoch of the workload's model: ours, hand-written slicing, a DataLoader."""
    torch.set_num_threads(1)
    workload, repeats = Workload(), 5 if quick else 30
    split = load(workload.dataset, seed=0)
    x, y = split.x_train, split.y_train

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = build_mlp(split.num_features, split.num_classes, workload.hidden, "relu")
        return model, torch.optim.SGD(model.parameters(), lr=0.01)

    model, optimizer = fresh()
    generator = torch.Generator().manual_seed(0)

    def ours() -> None:
        loop.train_epoch(model, x, y, optimizer, workload.batch_size, generator)

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

    loops = {"ours (trainable.loop)": ours, "hand-written slicing": slicing,
             "DataLoader": data_loader}  # fmt: skip
    rows = [{"loop": name, "epoch_ms": ms} for name, ms in _interleaved_ms(loops, repeats).items()]
    for row in rows:
        row["vs_slicing"] = row["epoch_ms"] / rows[1]["epoch_ms"]
    return rows


def checkpoint_cost(quick: bool) -> list[dict]:
    """ms to save and to restore a bundle: the default model, and one of 50 MB of weights."""
    rows = []
    for name, hidden in (("default MLP 64-128-128-10", (128, 128)),
                         ("50 MB MLP 64-3500-3500-10", (3500, 3500))):  # fmt: skip
        config = {"hidden": list(hidden), "optimizer": "sgd", "max_epochs": 1}
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
            "overhead": measured.wall_s / (compute / Workload().workers),
            "driver_rss_mb": measured.driver_rss_mb,
        })  # fmt: skip
    return rows


def sample_efficiency(quick: bool, log: Callable[[str], None]) -> list[dict]:
    """Best val_loss and epochs spent: our sweep against random search to the last epoch."""
    rows = []
    for seed in (0, 1, 2):
        workload = Workload(seed=seed).sized(quick)
        for name, contender in (
            ("sweeps (ours)", compare.ours),
            ("random search", compare.CONTENDERS["random"].run),
        ):
            with tempfile.TemporaryDirectory(prefix="bench-") as out:
                result = contender(Path(out), workload)
            log(f"  efficiency: seed {seed}, {name}, {result['wall_s']:.1f} s")
            rows.append({"seed": seed, "contender": name, "best_val_loss": result["best_val_loss"],
                         "epochs": result["epochs"]})  # fmt: skip
    return rows
