"""Every seed range the suite uses, in one place, so that they provably never overlap.

Episode seeds (`env.reset(seed=...)`):
- demonstrations: DEMO + i (collect_demos; also the expert's attempts that are discarded);
- evaluations: EVAL + i, the same list for every method, run and evaluation point;
- random-policy reference episodes: RANDOM_POLICY + i (the normalisation's lower reference);
- RL-expert checkpoint selection: EXPERT_SELECT + i; the expert's final measurement: EXPERT_MEASURE + i.
Each range holds at most RANGE seeds.

GAIL's training environments are reset from `gail_train_seed(seed, env_steps)`: one block of
GAIL_BLOCK seeds per training seed, above every episode range (training seeds start at 1).
"""
from __future__ import annotations

from dbc_bench.errors import BenchError

RANGE = 1_000_000
DEMO = 0
EVAL = 1_000_000
RANDOM_POLICY = 2_000_000
EXPERT_SELECT = 3_000_000
EXPERT_MEASURE = 4_000_000
GAIL_BLOCK = 1_000_000_000
_GAIL_OFFSET = 2_000_000  # kept from the first release: changing it would change GAIL's numbers


def episode_seeds(base: int, episodes: int) -> list[int]:
    """`episodes` consecutive seeds from `base` (one of the ranges above)."""
    if episodes > RANGE:
        raise BenchError(f"{episodes} episodes overflow a seed range of {RANGE}")
    return [base + i for i in range(episodes)]


def eval_seeds(episodes: int) -> list[int]:
    return episode_seeds(EVAL, episodes)


def gail_train_seed(seed: int, env_steps: int) -> int:
    """Seed for GAIL's training environments after `env_steps` steps of training seed `seed` (>= 1)."""
    if seed < 1:
        raise BenchError(f"training seeds start at 1, got {seed}")
    return GAIL_BLOCK * seed + _GAIL_OFFSET + env_steps


def _check_disjoint() -> None:
    bases = sorted((DEMO, EVAL, RANDOM_POLICY, EXPERT_SELECT, EXPERT_MEASURE))
    assert all(b - a >= RANGE for a, b in zip(bases, bases[1:]))
    assert GAIL_BLOCK * 1 + _GAIL_OFFSET >= bases[-1] + RANGE


_check_disjoint()
