"""``--resume``: the configuration a sweep continues with, from the one it saved.

A resumed sweep runs as it was started: its saved ``sweep.json`` is the configuration, and
only the options that say where and how to go on (:data:`RESUMABLE`) may differ. A larger
``--num-trials`` extends the search; a smaller one, or any other change, is refused. A sweep
with a time budget goes on with what is left of it (:func:`spent` says what its runs spent),
or with a new ``--time-budget`` for this run.
"""

from __future__ import annotations

from sweeps.config import ConfigError, SweepConfig
from sweeps.record.study import TIME_ATTR
from sweeps.storage import SAVED_CONFIG, SweepFolder, load_study

RESUMABLE = frozenset(
    {"name", "storage", "address", "node_wait", "resume", "dashboard", "retest", "fail_fast"}
)


def saved(cfg: SweepConfig, folder: SweepFolder) -> SweepConfig:
    """The saved config, with a larger ``--num-trials`` if one is given (it extends the study)."""
    if not folder.has(SAVED_CONFIG):
        known = ", ".join(folder.existing_sweeps()) or "none"
        raise ConfigError(f"no sweep {cfg.name!r} to resume in {folder.storage}; sweeps: {known}")
    try:
        saved = SweepConfig.model_validate_json(folder.read_text(SAVED_CONFIG))
    except ValueError as err:  # pydantic's ValidationError is one
        reason = str(err).splitlines()[0]
        raise ConfigError(
            f"sweep {cfg.name!r} has an unreadable {SAVED_CONFIG} ({reason}); "
            f"restore it or start a new sweep"
        ) from None
    changed = sorted(
        key
        for key in cfg.model_fields_set - RESUMABLE - {"num_trials", "time_budget"}
        if getattr(cfg, key) != getattr(saved, key)
    )
    if changed:
        raise ConfigError(
            f"--resume continues sweep {cfg.name!r} as it was started; "
            f"{changed[0]} differs ({getattr(saved, changed[0])!r} there, "
            f"{getattr(cfg, changed[0])!r} now)"
        )
    num_trials = cfg.num_trials if "num_trials" in cfg.model_fields_set else saved.num_trials
    if None not in (num_trials, saved.num_trials) and num_trials < saved.num_trials:
        raise ConfigError(
            f"--num-trials can only grow on --resume ({saved.num_trials} there, "
            f"{cfg.num_trials} now)"
        )
    update = {"address": cfg.address, "node_wait": cfg.node_wait, "dashboard": cfg.dashboard,
              "retest": cfg.retest, "resume": True}  # fmt: skip
    if "fail_fast" in cfg.model_fields_set:  # a sweep stopped on an error may go on without it
        update["fail_fast"] = cfg.fail_fast
    if cfg.time_budget is not None and "time_budget" in cfg.model_fields_set:
        update["time_budget"] = spent(folder) + cfg.time_budget  # this run's, on top
    return saved.model_copy(update={**update, "num_trials": num_trials})


def spent(folder: SweepFolder) -> float:
    """Seconds the sweep's runs have spent of its time budget (0: none recorded), read without
    writing the journal (a refused resume changes nothing)."""
    study = load_study(folder)
    noted = study.user_attrs.get(TIME_ATTR) if study is not None else None
    return noted["spent_s"] if noted else 0.0
