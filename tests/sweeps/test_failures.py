"""The rule for failed trials: retries up to --max-failures, none for an error that repeats,
and the sweep's stop when the first trials to end all end with one error (--fail-fast)."""

from __future__ import annotations

from sweeps.record import StoppedOn, error_line
from sweeps.tune.failures import END, LEAVE, RETRY, FailureRule

BOOM = "RuntimeError: boom (model.py:7)"
OTHER = "ValueError: bad shape (model.py:9)"


def test_a_failure_is_retried_up_to_max_failures_then_ended():
    rule = FailureRule(max_failures=2, fail_fast=0)
    assert [rule.failed("trial_000", BOOM) for _ in range(3)] == [RETRY, RETRY, END]
    assert rule.failed("trial_001", BOOM) == RETRY  # counted per trial
    assert rule.stopped is None  # --fail-fast 0: never


def test_a_retry_that_meets_its_trials_error_again_is_not_retried():
    rule = FailureRule(max_failures=5, fail_fast=3)
    assert rule.failed("trial_000", BOOM) == RETRY
    assert rule.failed("trial_000", BOOM) == END
    assert rule.failed("trial_001", BOOM) == END  # the error every ended trial ended with
    rule = FailureRule(max_failures=5, fail_fast=3)
    assert [rule.failed("trial_000", error) for error in (BOOM, OTHER, BOOM)] == [RETRY] * 3


def test_the_first_trials_to_end_with_one_error_stop_the_sweep():
    rule = FailureRule(max_failures=2, fail_fast=3)
    assert [rule.failed(t, BOOM) for t in ("trial_000", "trial_001")] == [RETRY, RETRY]
    assert rule.failed("trial_000", BOOM) == END and rule.stopped is None
    assert rule.failed("trial_001", BOOM) == END and rule.stopped is None
    assert rule.failed("trial_002", BOOM) == END  # no retry: the error has ended trials
    assert rule.stopped == StoppedOn(BOOM, ("trial_000", "trial_001", "trial_002"))
    # The sweep stops: a retry owed is left to a --resume, the same error still ends a trial.
    assert rule.failed("trial_003", OTHER) == LEAVE
    assert rule.failed("trial_004", BOOM) == END
    rule.ended("trial_005")
    assert rule.stopped.trials == ("trial_000", "trial_001", "trial_002")  # it holds


def test_a_trial_that_ends_without_an_error_keeps_the_sweep_and_its_retries_going():
    rule = FailureRule(max_failures=2, fail_fast=2)
    assert rule.failed("trial_000", BOOM) == RETRY
    assert rule.failed("trial_000", BOOM) == END
    rule.ended("trial_001")  # completed, or pruned
    assert rule.failed("trial_002", BOOM) == RETRY  # no longer an error of every trial
    assert rule.failed("trial_002", BOOM) == END  # but its own repeat still ends it
    assert rule.failed("trial_003", BOOM) == RETRY
    assert rule.failed("trial_003", BOOM) == END
    assert rule.stopped is None


def test_different_errors_among_the_first_trials_do_not_stop_the_sweep():
    rule = FailureRule(max_failures=0, fail_fast=2)
    assert rule.failed("trial_000", BOOM) == END
    assert rule.failed("trial_001", OTHER) == END
    assert rule.failed("trial_002", BOOM) == END and rule.failed("trial_003", BOOM) == END
    assert rule.stopped is None


def test_a_lost_worker_is_retried_to_max_failures_and_is_no_error_of_the_trials():
    """No signature: a node or process lost, or --trial-timeout's kill."""
    rule = FailureRule(max_failures=2, fail_fast=2)
    assert [rule.failed("trial_000", None) for _ in range(3)] == [RETRY, RETRY, END]
    assert rule.failed("trial_001", BOOM) == RETRY  # the first trial to end did not raise
    assert rule.failed("trial_001", BOOM) == END
    assert rule.failed("trial_002", BOOM) == RETRY and rule.stopped is None


def test_a_sweep_with_a_trial_ended_without_an_error_never_stops():
    rule = FailureRule(max_failures=0, fail_fast=1, succeeded=True)  # in an earlier run
    assert rule.failed("trial_000", BOOM) == END and rule.stopped is None


def test_fail_fast_one_stops_at_the_first_trial_an_error_ends():
    rule = FailureRule(max_failures=1, fail_fast=1)
    assert rule.failed("trial_000", BOOM) == RETRY and rule.stopped is None
    assert rule.failed("trial_000", BOOM) == END
    assert rule.stopped == StoppedOn(BOOM, ("trial_000",))


TRACEBACK = """Failure # 2 (occurred at 2026-01-01_00-00-00)
ray::SweepTrainable.train() (pid=1, ip=127.0.0.1, actor_id=a)
  File "/home/me/model.py", line 12, in forward
    raise ValueError(f"width {w}")
builtins.ValueError: width 3
  see the docs
"""


def test_the_error_line_of_a_traceback_text_names_the_exception_and_the_users_line():
    assert error_line(TRACEBACK) == "ValueError: width 3 (/home/me/model.py:12)"
    assert error_line("something broke") == "Error: something broke"
