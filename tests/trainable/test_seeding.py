"""Tests for trainable.seeding: per-trial seeds are stable and distinct; RNG state round-trips."""

from __future__ import annotations

import torch

from trainable.seeding import rng_state, seeded_generator, set_rng_state, trial_seed


def test_trial_seed_is_deterministic() -> None:
    assert trial_seed(42, 3) == trial_seed(42, 3)
    assert isinstance(trial_seed(42, 3), int)


def test_trial_seed_differs_across_trial_indices() -> None:
    seeds = [trial_seed(0, i) for i in range(500)]
    assert len(set(seeds)) == 500


def test_trial_seed_differs_across_sweep_seeds() -> None:
    seeds = {trial_seed(s, 0) for s in range(200)}
    assert len(seeds) == 200


def test_trial_seed_does_not_alias_neighbouring_sweeps() -> None:
    # seed + index mixing would make these equal.
    assert trial_seed(0, 1) != trial_seed(1, 0)
    assert trial_seed(5, 2) != trial_seed(2, 5)


def test_trial_seed_fits_in_signed_int64_and_seeds_torch() -> None:
    for sweep in (0, 1, 2**31 - 1, 2**40):
        for index in (0, 1, 10_000):
            seed = trial_seed(sweep, index)
            assert 0 <= seed < 2**63
            torch.tensor(seed, dtype=torch.int64)  # representable
            torch.Generator().manual_seed(seed)


def test_trial_seed_uses_high_bits() -> None:
    assert max(trial_seed(0, i) for i in range(64)) > 2**40


def test_seeded_generator_is_cpu_and_reproducible() -> None:
    a, b = seeded_generator(9), seeded_generator(9)
    assert a.device.type == "cpu"
    assert torch.equal(torch.randperm(100, generator=a), torch.randperm(100, generator=b))
    assert not torch.equal(
        torch.randperm(100, generator=seeded_generator(9)),
        torch.randperm(100, generator=seeded_generator(10)),
    )


def test_rng_state_round_trip_replays_generator_and_global_streams() -> None:
    generator = seeded_generator(1)
    torch.randperm(10, generator=generator)  # advance away from the seed state
    torch.manual_seed(123)
    torch.rand(3)
    state = rng_state(generator)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert {"shuffle", "torch"} <= set(state)

    expected_perm = torch.randperm(50, generator=generator)
    expected_rand = torch.rand(5)
    torch.randperm(50, generator=generator)  # move both streams further on
    torch.rand(5)
    assert not torch.equal(torch.randperm(50, generator=generator), expected_perm)

    set_rng_state(generator, state)
    assert torch.equal(torch.randperm(50, generator=generator), expected_perm)
    assert torch.equal(torch.rand(5), expected_rand)


def test_rng_state_restores_into_a_fresh_generator() -> None:
    source = seeded_generator(4)
    torch.randperm(20, generator=source)
    state = rng_state(source)
    fresh = seeded_generator(999)
    set_rng_state(fresh, state)
    assert torch.equal(torch.randperm(30, generator=fresh), torch.randperm(30, generator=source))
