"""How the benchmark times things so that its comparisons are fair to both sides."""
from __future__ import annotations

import statistics
from typing import Callable


def alternating_medians(rounds: int, *variants: Callable[[], float]) -> list[float]:
    """Each variant's median over `rounds`, run in turn (A, B, A, B, ...) so that machine drift
    (thermal, other processes) hits all of them alike rather than whichever ran last."""
    results: list[list[float]] = [[] for _ in variants]
    for _ in range(rounds):
        for out, run in zip(results, variants):
            out.append(run())
    return [statistics.median(r) for r in results]


def calibrate(rate: Callable[[int], float], seconds: float, minimum: int = 10, start: int = 5) -> int:
    """The number of updates that takes about `seconds`, from `rate(n)` (updates/s over n updates).
    The probe doubles until it lasts a fifth of the target, long enough that warm-up and fixed costs
    do not dominate the estimate."""
    probe = start
    measured = rate(probe)
    while probe / measured < 0.2 * seconds:
        probe *= 2
        measured = rate(probe)
    return max(minimum, int(measured * seconds))
