"""One benchmark row of the batch benchmarks (test_batch.py, test_blind.py) and how it runs.

A case builds its call once per pass (``build(sizes)`` returns the call and the
rows it handles) and is timed with ``benchmark.pedantic``; ``extra_info`` carries
what ``ratios.py`` needs to pair it with its anchor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest


@dataclasses.dataclass(frozen=True)
class Case:
    group: str
    impl: str
    role: str
    build: Callable[[Any], tuple[Callable[[], Any], int]]  # sizes -> (call, rows per call)
    target: float | None = None
    target_id: str | None = None
    needs: str | None = None  # an optional package the case needs


def run(
    benchmark: Any,
    case: Case,
    sizes: Any,
    batch_pass: int,
    record_skip: Callable[..., None],
    *,
    available: dict[str, bool],
    value_size: int,
    warmup_rounds: int,
) -> None:
    """Time ``case`` (``sizes.rounds`` rounds), or record why it cannot run."""
    if case.needs is not None and not available.get(case.needs, True):
        reason = f"{case.needs} not installed"
        extra = {"role": case.role, "target": case.target, "target_id": case.target_id}
        record_skip(case.group, case.impl, reason, **extra)
        pytest.skip(reason)
    call, rows = case.build(sizes)
    # Steady state. pytest-benchmark holds each round's result until the next
    # round returns, so the rounds of a batch row alternate between two output
    # buffers. Two untimed calls whose results are alive together give the
    # allocator both, as a job that rotates a table chunk by chunk has them
    # after its first two chunks; otherwise the second round of every pass
    # would fault in a fresh buffer (for a 1M-row Arrow re-wrap, 189 MB: about
    # 50 ms more), a one-time cost that docs/backends.md measures on its own.
    first = call()
    second = call()
    del first, second
    benchmark.group = case.group
    benchmark.extra_info.update(
        group=case.group,
        impl=case.impl,
        role=case.role,
        size=value_size,
        inner=1,
        rows=rows,
        bench_pass=batch_pass,
        target=case.target,
        target_id=case.target_id,
    )
    benchmark.pedantic(call, rounds=sizes.rounds, warmup_rounds=warmup_rounds, iterations=1)
