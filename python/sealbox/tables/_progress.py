"""Progress of a table job for people: a bar with rows/s and ETA on a terminal (tqdm when
installed, ``pip install "sealbox[progress]"``), a quiet line now and then otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from sealbox.tables._job import Progress


def reporter(label: str, stream: TextIO | None = None, *, every: float = 10.0) -> tuple[Progress, Any]:
    """A ``progress(done, total)`` callback and a function that ends its output."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]
        except ImportError:
            return _Bar(label, out).update, lambda: out.write("\n")
        bar: Any = None

        def update(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(
                    total=total, desc=label, unit=" rows", unit_scale=True, file=out, dynamic_ncols=True
                )
            bar.total = max(total, done)
            bar.update(done - bar.n)

        return update, lambda: bar is not None and bar.close()
    return _Lines(label, out, every).update, lambda: None


class _Bar:
    """A one-line bar, redrawn in place, for terminals without tqdm."""

    def __init__(self, label: str, out: TextIO) -> None:
        self.label, self.out, self.started = label, out, time.monotonic()

    def update(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        total = max(total, done, 1)
        eta = (total - done) / rate if rate else 0.0
        filled = 30 * done // total
        self.out.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,}"
            f" {rate:,.0f} rows/s ETA {eta:,.0f} s  "
        )
        self.out.flush()


class _Lines:
    """A line every ``every`` seconds (logs, CI): rows done, rows/s, ETA."""

    def __init__(self, label: str, out: TextIO, every: float) -> None:
        self.label, self.out, self.every = label, out, every
        self.started = self.last = time.monotonic()

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        eta = max(total - done, 0) / rate if rate else 0.0
        self.out.write(
            f"{self.label}: {done:,}/{max(total, done):,} rows, {rate:,.0f} rows/s, ETA {eta:,.0f} s\n"
        )
        self.out.flush()
