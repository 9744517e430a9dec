"""What the Dask and Spark tests ship to their workers: a key provider that counts its unwraps,
and a step that fails each partition's first attempt (so that the engine retries the task)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sealbox import hazmat
from sealbox._provider import encode_context


class CountingKek:
    """A key-encryption key from an environment variable, wrapping with AES-256-GCM, that
    appends a line to ``log`` for every unwrap (the calls a KMS would bill)."""

    name = "counting"

    def __init__(self, log: str, key_env: str, kek_id: int) -> None:
        self._log = log
        self._aead = hazmat.AESGCM(base64.b64decode(os.environ[key_env]))
        self._kek_id = kek_id

    @property
    def kek_id(self) -> int:
        return self._kek_id

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        data_key = os.urandom(32)
        return data_key, self.wrap(data_key, context)

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, encode_context(context))

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        with open(self._log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return self._aead.decrypt(wrapped[:12], wrapped[12:], encode_context(context))

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        return [self.wrap(self.unwrap(w, c), c) for w, c in zip(wrapped, contexts, strict=True)]

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return False


def counting_kek(log: str, key_env: str, kek_id: int = 7) -> CountingKek:
    return CountingKek(log, key_env, kek_id)


def unwraps(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def fail_first_attempt(marks: str, number: int) -> None:
    """Raise the first time partition ``number`` comes here (a marker file remembers it)."""
    mark = Path(marks) / f"partition-{number}"
    if not mark.exists():
        mark.touch()
        raise RuntimeError(f"partition {number} fails its first attempt")


def flaky_pandas(df: Any, marks: str, partition_info: dict[str, Any] | None = None) -> Any:
    assert partition_info is not None
    fail_first_attempt(marks, partition_info["number"])
    return df


def flaky_arrow(marks: str, batches: Iterator[Any]) -> Iterator[Any]:
    from pyspark import TaskContext

    task = TaskContext.get()
    assert task is not None
    fail_first_attempt(marks, task.partitionId())
    yield from batches
