"""The sweep folder's layout: the name of every file, folder and study it holds, defined here
and nowhere else.
"""

from __future__ import annotations

from trainable import by_value

# Kept while the sweep runs: what a --resume continues from.
JOURNAL = "optuna.journal"  # the Optuna journal (see sweeps.storage.journal)
SAVED_CONFIG = "sweep.json"  # the sweep's resolved configuration, which --resume continues
SAVED_SPACE = "space.yaml"  # a YAML search space as the sweep started with it
CODE = by_value.FILENAME  # the user's objects that came by value (from a notebook)
TIMEOUTS = "timeouts.json"  # Ray trial folder: times --trial-timeout stopped it
READINGS = "test_readings.json"  # every reading of the test split (see sweeps.lockbox)
TENSORBOARD = "tensorboard"  # a run per trial, written live and again from the record

# Written from the record once the trials have ended.
TRIALS = "trials.parquet"  # a row per search trial
EPOCHS = "epochs.parquet"  # a row per epoch of a search trial
CONFIRMATION = "confirmation.parquet"  # a row per confirmation run
BEST = "best.json"  # the chosen model, its test reading, and what confirmation and audit found
MANIFEST = "manifest.json"  # versions, data digests, seeds, space, decisions
REPORT = "report.html"  # the report, beside its figures

# The studies of the journal: one per phase of the sweep (see sweeps.phases).
STUDY = "sweep"  # the search's
CONFIRM = "confirm"  # the confirmation runs'
AUDIT = "audit"  # the pruner audit's runs
