"""``manifest.json``: what a sweep's results depend on, to reproduce a trial or audit the sweep.

``sweeps.outputs.write`` writes it after the tables, after every run of the sweep, from the
sweep's config and record: the versions of Python and the libraries (CUDA and cuDNN where the
trials had GPUs), SHA-256 digests of the data and of its split, the sweep seed and every
trial's seed, the search space, every decision on every epoch a trial trained (continue or
stop, why it stopped, and the ASHA rung the epoch was judged at), and the machine it was
written on. ``python -m sweeps.replay`` trains a trial again and checks its versions, seeds and
data against it. Keys are sorted, so that two manifests compare line by line.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from sweeps import phases
from sweeps.record import StoppingRule, SweepRecord
from sweeps.storage import MANIFEST, SAVED_SPACE
from trainable import data
from trainable.seeding import trial_seed

if TYPE_CHECKING:
    from sweeps.config import SweepConfig
    from sweeps.record import TrialRecord
    from sweeps.storage import SweepFolder

FORMAT = 1  # the manifest's layout
PROJECT = "sweeps"  # this project's distribution (pyproject.toml)
LIBRARIES = ("torch", "ray", "optuna", "numpy", "pyarrow", PROJECT)
CONTINUE, STOP = "CONTINUE", "STOP"


def write(cfg: SweepConfig, folder: SweepFolder, record: SweepRecord) -> str:
    """Write ``manifest.json`` into the sweep folder; returns where it is."""
    text = json.dumps(build(cfg, folder, record), indent=2, sort_keys=True) + "\n"
    folder.write_bytes(MANIFEST, text.encode())
    return folder.file_uri(MANIFEST)


def build(cfg: SweepConfig, folder: SweepFolder, record: SweepRecord) -> dict[str, Any]:
    trials = record.trials()
    # The runs that train with a seed of their own (confirmation's): their seeds too.
    later = [run for phase in phases.of(cfg)[1:] for run in phase.record(folder).trials()]
    fingerprint = data.fingerprint(cfg.dataset, label=cfg.label, seed=cfg.seed)
    return {
        "format": FORMAT,
        "sweep": cfg.name,
        "versions": versions(gpu=bool(cfg.gpus_per_trial)),
        "data": {"dataset": cfg.dataset, "label": cfg.label, **fingerprint},
        "seeds": seeds(cfg.seed, trials, [run for run in later if run.replicate]),
        "space": space(cfg, folder, record),
        "decisions": decisions(trials, StoppingRule(cfg.max_epochs, cfg.patience)),
        "hardware": hardware(),
    }


def versions(gpu: bool) -> dict[str, Any]:
    """Python's and each library's version (None where not installed); CUDA's and cuDNN's only
    where the trials had GPUs and this machine has CUDA, else None."""
    import torch

    found: dict[str, Any] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    cuda = gpu and torch.cuda.is_available()
    found["cuda"] = torch.version.cuda if cuda else None
    found["cudnn"] = torch.backends.cudnn.version() if cuda else None
    return found


def seeds(
    sweep_seed: int, trials: list[TrialRecord], runs: list[TrialRecord] = ()
) -> dict[str, Any]:
    """The sweep seed, and the seed of each trial and confirmation run, as
    ``trainable.seeding.trial_seed`` derives it."""
    return {
        "sweep": sweep_seed,
        "trials": [{"trial": t.number, "seed": trial_seed(sweep_seed, t.number)} for t in trials],
        "confirmation": [
            {
                "trial": r.index,
                "replicate": r.replicate,
                "seed": trial_seed(sweep_seed, r.index, r.replicate),
            }
            for r in runs
        ],
    }


def space(cfg: SweepConfig, folder: SweepFolder, record: SweepRecord) -> dict[str, Any]:
    """The space as the sweep searched it: its name or reference, a YAML space's text as the
    sweep started with it, and every hyperparameter's Optuna distribution."""
    distributions = {
        name: json.loads(optuna.distributions.distribution_to_json(distribution))
        for name, distribution in record.distributions().items()
    }
    return {
        "source": cfg.space,
        "yaml": folder.read_text(SAVED_SPACE) if folder.has(SAVED_SPACE) else None,
        "distributions": distributions,
    }


def decisions(trials: list[TrialRecord], rule: StoppingRule) -> list[dict[str, Any]]:
    """The sweep's decision on each epoch of each trial, as the record has it: STOP where the
    epoch's result ended the trial, with the reason (``asha``, ``stalled``, ``diverged`` or
    ``completed``), else CONTINUE; and the rung ASHA judged the epoch at, None where it did not
    judge it (no milestone, or the stopper or the trial decided first)."""
    return [
        {
            "trial": trial.number,
            "epoch": epoch.epoch,
            "decision": STOP if epoch.done else CONTINUE,
            "reason": rule.outcome(epoch).reason if epoch.done else None,
            "rung": epoch.rung,
        }
        for trial in trials
        for epoch in trial.epochs
    ]


def hardware() -> dict[str, Any]:
    """The machine writing the manifest: the one a local sweep's trials ran on; on a cluster,
    its driver (the trials' nodes are Ray's)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
    }


def _cpu_model() -> str | None:
    """The CPU's model name from Linux's /proc/cpuinfo, else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or None


def _memory_bytes() -> int | None:
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return None
