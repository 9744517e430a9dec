"""Counting plaintext read during a migration to encrypted columns (the ORM integrations)."""

from __future__ import annotations

import threading

__all__ = ["PlaintextReads"]


class PlaintextReads:
    """How many values columns that allow plaintext read as plaintext, by column: when it
    stays at zero, a migration to encrypted values is over. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, column: str) -> None:
        with self._lock:
            self._counts[column] = self._counts.get(column, 0) + 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def by_column(self) -> dict[str, int]:
        """Reads by column (``Table.column`` or ``Model.field``)."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
