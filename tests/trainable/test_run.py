"""Tests for trainable.run.TrainingRun: bit-exact reproducibility, exact resume, best tracking."""

from __future__ import annotations

import copy
import hashlib
import math

import pytest
import torch

from trainable import TrialConfigError, loop
from trainable.run import TrainingRun, checkpoint_test_metrics

BASE = {
    "dataset": "digits",
    "model_args": {"hidden": (32,)},
    "optimizer": "adam",
    "lr": 0.01,
    "gamma": 0.9,
    "batch_size": 64,
    "max_epochs": 6,
    "seed": 0,
    "trial_index": 0,
}


def _train(config: dict, epochs: int) -> tuple[TrainingRun, list[dict]]:
    run = TrainingRun(config)
    return run, [run.step() for _ in range(epochs)]


def test_same_config_and_seed_gives_identical_metrics() -> None:
    _, first = _train(BASE, 4)
    torch.rand(10)  # disturb the global stream between runs
    _, second = _train(BASE, 4)
    assert [m.val_loss for m in first] == [m.val_loss for m in second]
    assert first == second


def test_different_trial_index_gives_different_losses() -> None:
    _, a = _train(BASE, 2)
    _, b = _train({**BASE, "trial_index": 1}, 2)
    assert [m.val_loss for m in a] != [m.val_loss for m in b]
    assert a[0].train_loss != b[0].train_loss


def test_same_trial_index_starts_from_same_weights() -> None:
    a, b = TrainingRun(BASE), TrainingRun(BASE)
    c = TrainingRun({**BASE, "trial_index": 1})
    for pa_, pb, pc in zip(
        a.model.parameters(), b.model.parameters(), c.model.parameters(), strict=True
    ):
        assert torch.equal(pa_, pb)
        assert not torch.equal(pa_, pc)


def test_metrics_report_lr_before_decay_and_epoch_number() -> None:
    run, metrics = _train(BASE, 3)
    assert [m.epoch for m in metrics] == [1, 2, 3]
    assert [m.lr for m in metrics] == pytest.approx([0.01, 0.009, 0.0081], rel=1e-12)
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.9**3, rel=1e-12)


def test_finished_after_max_epochs() -> None:
    run = TrainingRun({**BASE, "max_epochs": 2})
    assert not run.finished
    run.step()
    assert not run.finished
    run.step()
    assert run.finished


@pytest.mark.parametrize("optimizer", ["adam", "nesterov", "adagrad"])
def test_resume_from_checkpoint_is_exact(tmp_path, optimizer: str) -> None:
    config = {**BASE, "optimizer": optimizer, "lr": 0.01 if optimizer == "adam" else 0.1}
    straight, expected = _train(config, 6)

    first_half, _ = _train(config, 3)
    first_half.save(str(tmp_path))
    del first_half
    torch.rand(100)  # the resumed run must not depend on ambient RNG state

    resumed = TrainingRun.from_checkpoint(str(tmp_path))
    assert resumed.epoch == 3
    assert resumed.config == straight.config
    tail = [resumed.step() for _ in range(3)]

    assert tail == expected[3:]
    assert [m.lr for m in tail] == [m.lr for m in expected[3:]]
    for p_straight, p_resumed in zip(
        straight.model.parameters(), resumed.model.parameters(), strict=True
    ):
        assert torch.equal(p_straight, p_resumed)
    assert resumed.test() == straight.test()


def test_a_checkpoint_tests_like_its_run_without_building_an_optimizer(tmp_path) -> None:
    run, _ = _train({**BASE, "max_epochs": 4}, 4)
    run.save(str(tmp_path))
    assert checkpoint_test_metrics(str(tmp_path)) == run.test()


def test_restore_into_fresh_run_is_exact(tmp_path) -> None:
    _, expected = _train(BASE, 4)
    first, _ = _train(BASE, 2)
    first.save(str(tmp_path))
    fresh = TrainingRun(BASE)
    fresh.restore(str(tmp_path))
    assert [fresh.step() for _ in range(2)] == expected[2:]


def test_test_uses_best_validation_weights() -> None:
    # A large Adam step overfits digits quickly: validation loss bottoms out early.
    config = {**BASE, "lr": 0.05, "gamma": 1.0, "batch_size": 16, "max_epochs": 4}
    run, _ = _train(config, 4)
    assert run.best_epoch < run.epoch  # precondition: final weights are not the best ones
    assert run.best_state is not None
    final_params = [p.detach().clone() for p in run.model.parameters()]

    best_model = copy.deepcopy(run.model)
    best_model.load_state_dict(run.best_state)
    expected = loop.evaluate(best_model, run.split.eval_batches("test", 16))
    final = loop.evaluate(run.model, run.split.eval_batches("test", 16))

    result = run.test()
    assert (result["test_loss"], result["test_acc"]) == (expected.loss, expected.accuracy)
    assert result["test_loss"] != final.loss
    rows = hashlib.sha256(
        b"".join(t.numpy().tobytes() for x, y in run.split.eval_batches("test", 16) for t in (x, y))
    )
    assert result["test_rows_sha256"] == rows.hexdigest()
    # test() must not swap the best weights into the live model.
    for before, after in zip(final_params, run.model.parameters(), strict=True):
        assert torch.equal(before, after)


def test_best_state_is_a_snapshot_not_a_live_view() -> None:
    config = {**BASE, "lr": 0.05, "gamma": 1.0, "batch_size": 16, "max_epochs": 4}
    run, _ = _train(config, 4)
    assert run.best_epoch < run.epoch
    live = run.model.state_dict()
    assert any(not torch.equal(run.best_state[k], live[k]) for k in live)


def test_best_val_loss_and_epoch_track_minimum() -> None:
    config = {**BASE, "lr": 0.05, "gamma": 1.0, "batch_size": 16, "max_epochs": 5}
    run, metrics = _train(config, 5)
    val = [m.val_loss for m in metrics]
    assert run.best_val_loss == min(val)
    assert run.best_epoch == val.index(min(val)) + 1
    for i, m in enumerate(metrics):
        assert m.best_val_loss == min(val[: i + 1])
        assert m.best_epoch == val.index(min(val[: i + 1])) + 1


def test_huge_lr_reports_divergence_without_raising() -> None:
    config = {**BASE, "optimizer": "sgd", "lr": 1e30, "activation": "relu", "max_epochs": 2}
    run, metrics = _train(config, 2)
    assert all(m.diverged for m in metrics)
    assert not math.isfinite(metrics[0].val_loss)
    # Diverged epochs never become the best.
    assert run.best_val_loss == math.inf
    assert run.best_epoch == 0
    assert run.best_state is None
    result = run.test()
    assert set(result) == {"test_loss", "test_acc", "test_rows_sha256"}


def test_healthy_run_does_not_report_divergence() -> None:
    _, metrics = _train(BASE, 2)
    assert not any(m.diverged for m in metrics)
    assert all(math.isfinite(m.val_loss) for m in metrics)


def test_invalid_config_dict_raises_trial_config_error() -> None:
    with pytest.raises(TrialConfigError, match=r"^lr: "):
        TrainingRun({**BASE, "lr": -1.0})
