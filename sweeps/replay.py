"""``python -m sweeps.replay FOLDER TRIAL``: train one trial of a sweep again, on the CPU, and
compare each epoch's val_loss with the one its record holds, bit for bit.

The trial's config is rebuilt as the sweep built it: ``sweep.json``'s trial settings, the
trial's parameters from the journal, and its number as ``trial_index``, which with the sweep
seed gives the trial seed the manifest names. ``TrainingRun`` trains it for as many epochs as
the record has, on as many torch threads (and DataLoader workers) as the trial had, since the
order of a parallel reduction, and so its last bits, may depend on them. Training is seeded and
resumes exactly on the CPU, so a trial that was resumed from a checkpoint replays from its
start equally; GPU kernels need not be deterministic, so for a sweep that trained on GPUs the
comparison is only a comparison. Exit codes: 0 every epoch matches, 1 one differs (the first
is named), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

import optuna

from sweeps.config import USER_ERRORS, ConfigError, SweepConfig
from sweeps.manifest import LIBRARIES, MANIFEST, versions
from sweeps.record import TrialRecord
from sweeps.space import TRIAL_INDEX
from sweeps.storage import SAVED_CONFIG, SweepFolder, load_study
from trainable import data
from trainable.seeding import trial_seed


@dataclass(frozen=True)
class Replay:
    """A trial to train again: the sweep's config, the trial's record, the sweep's manifest."""

    folder: SweepFolder
    cfg: SweepConfig
    trial: TrialRecord
    manifest: dict[str, Any] | None  # None for a sweep that has none (written before there was one)

    @property
    def config(self) -> dict[str, Any]:
        """The trial config the sweep gave the trial."""
        return {**self.cfg.trial_settings(), **self.trial.params, TRIAL_INDEX: self.trial.number}


def read(location: str, number: str) -> Replay:
    """The trial ``number`` of the sweep at ``location``, or a one-line ConfigError."""
    folder = SweepFolder.from_location(location)
    if not folder.exists():
        raise ConfigError(f"no sweep folder at {location}")
    if not folder.has(SAVED_CONFIG):
        raise ConfigError(f"{location} is not a sweep folder: it has no {SAVED_CONFIG}")
    try:
        cfg = SweepConfig.model_validate_json(folder.read_text(SAVED_CONFIG))
    except ValueError as err:  # pydantic's ValidationError is one
        reason = str(err).splitlines()[0]
        raise ConfigError(f"unreadable {SAVED_CONFIG} in {location}: {reason}") from None
    folder.load_code([cfg.model, cfg.dataset])  # a notebook's model and data, by value
    study = load_study(folder)
    trials = study.get_trials(deepcopy=False) if study else []
    if not number.isdigit() or int(number) >= len(trials):
        held = f"trials 0 to {len(trials) - 1}" if trials else "no trials"
        raise ConfigError(f"sweep {folder.name!r} has no trial {number} ({held})")
    trial = TrialRecord.of(trials[int(number)])  # trial numbers are positions in the study
    if not trial.epochs:
        raise ConfigError(f"trial {trial.number} of sweep {folder.name!r} has no recorded epoch")
    try:
        found = json.loads(folder.read_text(MANIFEST)) if folder.has(MANIFEST) else None
    except ValueError as err:
        raise ConfigError(f"unreadable {MANIFEST} in {location}: {err}") from None
    return Replay(folder, cfg, trial, found)


def differences(replay: Replay) -> list[str]:
    """What differs from when the sweep ran, as its manifest says: versions, seed, data."""
    recorded = replay.manifest
    if recorded is None:
        return [f"no {MANIFEST} in the sweep folder: versions, seeds and data are not checked"]
    found = []
    installed, then = versions(gpu=False), recorded.get("versions", {})
    changed = [
        f"{name} {installed[name]} ({then.get(name)} in the manifest)"
        for name in ("python", *LIBRARIES)
        if installed[name] != then.get(name)
    ]
    if changed:
        found.append(f"installed versions differ from the manifest's: {', '.join(changed)}")
    number, cfg = replay.trial.number, replay.cfg
    seeds = {t["trial"]: t["seed"] for t in recorded.get("seeds", {}).get("trials", [])}
    seed, then_seed = trial_seed(cfg.seed, number), seeds.get(number)
    if then_seed is not None and then_seed != seed:
        found.append(f"trial {number}'s seed is {seed} now, {then_seed} in the manifest")
    digests = {k: v for k, v in recorded.get("data", {}).items() if k.endswith("_sha256")}
    now = data.fingerprint(cfg.dataset, label=cfg.label, seed=cfg.seed)
    if differ := [key for key, digest in digests.items() if now.get(key) != digest]:
        found.append(f"the data differ from the manifest's ({' and '.join(sorted(differ))})")
    return found


def train(replay: Replay) -> list[tuple[int, float, float]]:
    """(epoch, recorded val_loss, replayed val_loss) for each recorded epoch of the trial."""
    import torch

    from trainable.run import TrainingRun

    cpus = max(1, int(replay.cfg.cpus_per_trial))  # as trainable.tune_adapter sets them
    threads = torch.get_num_threads()
    torch.set_num_threads(cpus)
    try:
        run = TrainingRun(replay.config, "cpu", workers=cpus - 1)
        return [(e.epoch, e.val_loss, run.step().val_loss) for e in replay.trial.epochs]
    finally:
        torch.set_num_threads(threads)


def same(recorded: float, replayed: float) -> bool:
    """Bit for bit, a NaN (a diverged epoch) equal to a NaN."""
    both_nan = math.isnan(recorded) and math.isnan(replayed)
    return both_nan or recorded == replayed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.replay",
        description="Train one trial of a sweep again on the CPU and compare its val_loss, "
        "epoch by epoch, with the recorded one.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="sweep folder or URI")
    parser.add_argument("trial", metavar="TRIAL", help="the trial's number (NNN of trial_NNN)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        replay = read(args.folder, args.trial)
        for line in differences(replay):
            print(f"warning: {line}", file=sys.stderr)
        number, epochs = replay.trial.number, len(replay.trial.epochs)
        counted = f"{epochs} epoch{'s' if epochs > 1 else ''}"
        print(f"Replaying trial {number} of sweep {replay.folder.name} on the CPU: {counted}")
        if replay.cfg.gpus_per_trial:
            print(
                f"note: the sweep trained on GPUs (--gpus-per-trial {replay.cfg.gpus_per_trial}); "
                "bit-for-bit equality is only promised on the CPU"
            )
        compared = train(replay)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    width = len(str(compared[-1][0]))
    for epoch, recorded, replayed in compared:
        verdict = "equal" if same(recorded, replayed) else "DIFFERENT"
        print(f"epoch {epoch:>{width}}  recorded {recorded!r:<20}  replayed {replayed!r:<20}  "
              f"{verdict}")  # fmt: skip
    first = next((c for c in compared if not same(c[1], c[2])), None)
    if first is None:
        every = f"all {counted} match" if epochs > 1 else "its epoch matches"
        print(f"trial {number} replayed: {every} bit for bit")
        return 0
    epoch, recorded, replayed = first
    print(f"trial {number} diverges at epoch {epoch}: recorded {recorded!r}, replayed {replayed!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
