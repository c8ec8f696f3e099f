"""Seeds: one sweep seed fans out into per-trial seeds; generator states go into checkpoints."""

from __future__ import annotations

import numpy as np
import torch


def trial_seed(sweep_seed: int, trial_index: int, replicate: int = 0) -> int:
    """A well-mixed 63-bit seed for trial ``trial_index`` of the sweep seeded ``sweep_seed``, or
    for its ``replicate``-th run from scratch (a confirmation run: the same configuration, a
    fresh seed).

    SeedSequence hashes the tuple, so neighbouring indices get unrelated streams (``seed + i``
    would make trial 1 of seed 0 replay trial 0 of seed 1).
    """
    entropy = [sweep_seed, trial_index, *([replicate] if replicate else [])]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for batch shuffling: CPU so the order is identical on every device."""
    return torch.Generator(device="cpu").manual_seed(seed)


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every PRNG state a trial depends on, as tensors (safe for ``weights_only`` loading)."""
    state = {"shuffle": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(generator: torch.Generator, state: dict[str, torch.Tensor]) -> None:
    generator.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
