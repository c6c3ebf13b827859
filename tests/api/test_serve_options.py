"""`riskmap serve`: how many workers by default, and each worker's share of the database connections."""

from __future__ import annotations

import os

from api.cli import default_workers, pool_per_worker


def test_workers_default_to_the_cores_plus_one_at_most_eight() -> None:
    cores = len(os.sched_getaffinity(0))
    assert default_workers() == min(cores + 1, 8)


def test_the_connections_are_shared_by_the_workers() -> None:
    assert pool_per_worker(1, 40) == 10  # at most 10 (+ 10 overflow) in one process
    assert pool_per_worker(3, 40) == 6  # 3 × (6 + 6) = 36 ≤ 40
    assert pool_per_worker(8, 40) == 2  # never fewer than 2
    for workers in range(1, 9):
        assert 2 <= pool_per_worker(workers, 40) <= 10
        if pool_per_worker(workers, 40) > 2:
            assert workers * 2 * pool_per_worker(workers, 40) <= 40
