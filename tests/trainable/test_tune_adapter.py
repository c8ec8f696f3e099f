"""The Ray adapter under Ray's own Trainable API: steps, checkpoints, restore and actor reuse."""

from __future__ import annotations

import pytest

from trainable.tune_adapter import SweepTrainable

pytestmark = pytest.mark.slow

CONFIG = {
    "optimizer": "nesterov", "lr": 0.05, "momentum": 0.9, "gamma": 0.9, "activation": "elu",
    "model_args": {"hidden": [32]}, "max_epochs": 6, "seed": 3, "trial_index": 1,
}  # fmt: skip


def losses(trainable, epochs):
    return [trainable.train()["val_loss"] for _ in range(epochs)]


def test_a_restored_trial_continues_exactly_as_if_never_stopped(ray_cluster):
    straight = SweepTrainable(config=CONFIG)
    expected = losses(straight, 6)
    straight.stop()

    first = SweepTrainable(config=CONFIG)
    head = losses(first, 3)
    saved = first.save()
    first.stop()
    second = SweepTrainable(config={**CONFIG, "trial_index": 9})
    second.restore(saved)
    tail = losses(second, 3)
    second.stop()
    assert head + tail == expected


def test_the_last_epoch_and_a_divergence_end_the_trial(ray_cluster):
    trainable = SweepTrainable(config={**CONFIG, "max_epochs": 2})
    results = [trainable.train() for _ in range(2)]
    assert [r["done"] for r in results] == [False, True]
    trainable.stop()

    exploding = SweepTrainable(
        config={**CONFIG, "optimizer": "sgd", "lr": 1e30, "activation": "relu"}
    )
    result = exploding.train()
    assert result["diverged"] and result["done"]
    exploding.stop()


def test_reset_config_gives_a_reused_actor_a_fresh_trial(ray_cluster):
    reused = SweepTrainable(config=CONFIG)
    losses(reused, 2)
    other = {**CONFIG, "optimizer": "adam", "lr": 0.01, "trial_index": 2}
    assert reused.reset(other)
    fresh = SweepTrainable(config=other)
    assert losses(reused, 3) == losses(fresh, 3)
    reused.stop()
    fresh.stop()
