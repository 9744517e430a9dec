"""The table job: read pending rows a batch at a time, re-encrypt (or encrypt, or decrypt)
them with one batch call per column, and write them back as a compare-and-swap.

Everything here goes through a ``Backend`` (the database) and the public ``Box`` API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import is_, itemgetter
from typing import Any, Literal

from sealbox import codecs
from sealbox._box import Box
from sealbox._context import column_context, row_parts
from sealbox._envelope import EnvelopeKeyProvider
from sealbox._errors import DecryptionError, SealboxError
from sealbox._keyring import Keyring
from sealbox._native import Message
from sealbox.tables._backend import Backend, Kind, Layout, Pending, RowRefused, Writes
from sealbox.tables._headers import (
    SUITES,
    TEXT_START,
    TEXT_THIRD,
    Headers,
    looks_encrypted,
    parse_prefix,
    suite_of,
)

Keys = Keyring | EnvelopeKeyProvider | Box[Any]
ContextMode = Literal["none", "column", "row"]
JobKind = Literal["rotate", "encrypt", "decrypt"]
_DONE = {"rotate": "rotated", "encrypt": "encrypted", "decrypt": "decrypted"}
Progress = Callable[[int, int], None]

_ALGORITHMS = {1: "aes-256-gcm", 2: "xchacha20-poly1305"}


class TableJobError(SealboxError):
    """A job stopped (``strict``, or ``verify`` found a row it could not read back);
    ``report`` says what was done before. Batches already committed stay committed."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Failure:
    """A value the job could not process: its row's key and why, never the value."""

    key: Any
    column: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        key = self.key if isinstance(self.key, int | str) else str(self.key)
        return {"key": key, "column": self.column, "reason": self.reason}


@dataclass
class Report:
    """What a ``rotate``, ``encrypt`` or ``decrypt`` did (or, with ``dry_run``, would do)."""

    job: JobKind
    table: str
    columns: tuple[str, ...]
    changed: int = 0  # rows written (rotated, encrypted or decrypted)
    unchanged: int = 0  # rows that needed nothing when the job started
    failed: list[Failure] = field(default_factory=list)
    conflicts: int = 0  # rows the application changed between the read and the write
    passes: int = 0
    remaining: int = 0  # rows still pending when the job ended (failed ones included)
    seconds: float = 0.0
    dry_run: bool = False
    verified: bool = False

    @property
    def rotated(self) -> int:
        return self.changed if self.job == "rotate" else 0

    @property
    def encrypted(self) -> int:
        return self.changed if self.job == "encrypt" else 0

    @property
    def decrypted(self) -> int:
        return self.changed if self.job == "decrypt" else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "table": self.table,
            "columns": list(self.columns),
            _DONE[self.job]: self.changed,
            "unchanged": self.unchanged,
            "failed": [f.to_json() for f in self.failed],
            "conflicts": self.conflicts,
            "remaining": self.remaining,
            "passes": self.passes,
            "dry_run": self.dry_run,
            "verified": self.verified,
            "seconds": round(self.seconds, 3),
        }


class Boxes:
    """The Box for each kind of message a job meets, so every message keeps its nature:
    its suite (deterministic stays deterministic, envelope is re-wrapped) and its form."""

    def __init__(self, keys: Keys) -> None:
        if not isinstance(keys, Keyring | EnvelopeKeyProvider | Box):
            raise TypeError(
                f"keys must be a sealbox.Keyring, an EnvelopeKeyProvider or a Box, not {type(keys).__name__}"
            )
        self.keys = keys
        self._made: dict[tuple[Any, ...], Box[Any] | str] = {}
        probe = keys if isinstance(keys, Box) else Box(keys)
        self.active_key_id: int = probe.active_key_id
        self.key_ids: list[int] = list(probe.key_ids)

    def for_message(self, suite: int, text: bool) -> Box[Any] | str:
        """The Box that rotates messages of ``suite`` in that form, or why there is none."""
        found = self._made.get((suite, text))
        if found is None:
            found = self._made[(suite, text)] = self._make(suite, "text" if text else "binary")
        return found

    def _make(self, suite: int, encoding: str) -> Box[Any] | str:
        keys = self.keys
        if isinstance(keys, Box):
            algorithm = SUITES[suite]
            if keys.algorithm != algorithm or keys.encoding != encoding:
                return (
                    f"a message of suite {algorithm} in {encoding} form, and the Box is {keys.algorithm} "
                    f"{keys.encoding}: pass the keyring to keep each message's algorithm"
                )
            return keys
        if isinstance(keys, EnvelopeKeyProvider):
            if suite != 4:
                return (
                    f"a message of suite {SUITES[suite]}; "
                    "an EnvelopeKeyProvider rotates envelope messages only"
                )
            return _box(keys, encoding=encoding)
        if suite == 4:
            return _box(EnvelopeKeyProvider(keys), encoding=encoding)
        if suite == 3:
            return _box(keys, deterministic=True, encoding=encoding)
        return _box(keys, algorithm=_ALGORITHMS[suite], encoding=encoding)

    def for_encrypt(self, kind: Kind, *, deterministic: bool, algorithm: str | None) -> Box[Any]:
        keys = self.keys
        if isinstance(keys, Box):
            if keys.encoding != kind:
                raise ValueError(
                    f"the Box writes {keys.encoding} messages and the column holds {kind}: "
                    f"use Box(..., encoding={kind!r}) or pass the keys"
                )
            return keys
        options: dict[str, Any] = {"encoding": kind}
        if deterministic:
            options["deterministic"] = True
        if algorithm is not None:
            options["algorithm"] = algorithm
        return _box(keys, **options)


@dataclass
class Job:
    """One run's settings, and the work on one page of rows."""

    kind: JobKind
    boxes: Boxes
    layout: Layout
    context: ContextMode | Mapping[str, ContextMode]
    codec: bool = True
    # encrypt: per column, how a stored value (and the row's ``layout.extra`` values) becomes
    # the value to encode; decrypt: how a decrypted value becomes the value to store.
    convert: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # Row contexts: how a key read from the database becomes the key the application binds
    # (a UUID read back as text, say); None takes it as it is.
    row_key: Callable[[Any], Any] | None = None
    deterministic: bool = False
    algorithm: str | None = None
    # Worker threads of each batch call; None: one per core.
    threads: int | None = None

    def __post_init__(self) -> None:
        modes = [self.context] if isinstance(self.context, str) else list(self.context.values())
        self._row_context = "row" in modes
        self._parts: list[bytes] | None = None
        if isinstance(self.context, Mapping) and set(self.context) != set(self.layout.columns):
            raise ValueError(
                "a context mapping names each column of the job: {column: 'none'|'column'|'row'}"
            )
        if not all(m in ("none", "column", "row") for m in modes):
            raise ValueError(
                f"context must be 'none', 'column' or 'row' (or a mapping to them), not {self.context!r}"
            )
        # A column moved off another format (encrypt with convert) reads every value not under
        # the active key: the other format's values can start like a message (see _encrypt).
        active = Headers.under([self.boxes.active_key_id])

        def done(column: str) -> Headers | None:
            moving = self.kind == "encrypt" and column in self.convert
            return active if self.kind == "rotate" or moving else None

        self.pending = [
            Pending(c, k, done(c), messages=self.kind == "decrypt")
            for c, k in zip(self.layout.columns, self.layout.kinds, strict=True)
        ]
        self._extras: list[list[Any]] = []
        self._encrypt_boxes = (
            {
                kind: self.boxes.for_encrypt(kind, deterministic=self.deterministic, algorithm=self.algorithm)
                for kind in set(self.layout.kinds)
            }
            if self.kind == "encrypt"
            else {}
        )

    def contexts(self, column: str, keys: Sequence[Any], parts: Sequence[bytes] | None = None) -> Any:
        """The contexts of ``column``'s values in the rows ``keys`` (``parts``: their
        ``row_parts``, when the caller has them already)."""
        mode = self.context if isinstance(self.context, str) else self.context[column]
        if mode == "none":
            return None
        base = column_context(self.context_table, column)
        if mode == "column":
            return base
        return [base + part for part in (self._row_parts(keys) if parts is None else parts)]

    @property
    def context_table(self) -> str:
        """The table's name as contexts bind it: without a schema (``tenant1.users`` binds as
        ``users``, as the ORMs bind it)."""
        return self.layout.table.rpartition(".")[2]

    def _row_parts(self, keys: Sequence[Any]) -> list[bytes]:
        convert = self.row_key
        return row_parts(keys if convert is None else [convert(k) for k in keys])

    def process(self, rows: Sequence[tuple[Any, ...]]) -> tuple[list[Writes], list[Failure], int]:
        """The writes for a page of rows, the values that failed, and how many values were tried."""
        columns = [list(c) for c in zip(*rows, strict=True)]  # keys, each column's values, extras
        keys = columns[0]
        self._parts = self._row_parts(keys) if self._row_context else None
        self._extras = columns[1 + len(self.layout.columns) :]
        work = {"rotate": self._rotate, "encrypt": self._encrypt, "decrypt": self._decrypt}[self.kind]
        changed: list[tuple[str, list[Any], list[int], list[Any]]] = []
        failures: list[Failure] = []
        tried = 0
        for j, column in enumerate(self.layout.columns):
            values = columns[j + 1]
            idx, new, failed, n = work(j, column, keys, values)
            tried += n
            failures += failed
            if idx:
                changed.append((column, values, idx, new))
        if changed and all(c[2] == changed[0][2] for c in changed):
            # Every changed column changes in the same rows (the rule): one statement.
            idx = changed[0][2]
            every = len(idx) == len(rows)  # idx is ascending: then it is every row
            return (
                [
                    Writes(
                        tuple(c[0] for c in changed),
                        keys if every else [keys[i] for i in idx],
                        [c[1] if every else [c[1][i] for i in idx] for c in changed],
                        [c[3] for c in changed],
                    )
                ],
                failures,
                tried,
            )
        # Columns that change in different rows: each row's changed columns in one statement.
        by_row: dict[int, dict[str, tuple[Any, Any]]] = {}
        for column, values, idx, new in changed:
            for i, n in zip(idx, new, strict=True):
                by_row.setdefault(i, {})[column] = (values[i], n)
        groups: dict[tuple[str, ...], Writes] = {}
        for i in sorted(by_row):
            names = tuple(by_row[i])
            w = groups.get(names)
            if w is None:
                w = groups[names] = Writes(names, [], [[] for _ in names], [[] for _ in names])
            w.keys.append(keys[i])
            for k, name in enumerate(names):
                w.old[k].append(by_row[i][name][0])
                w.new[k].append(by_row[i][name][1])
        return list(groups.values()), failures, tried

    def _page_contexts(self, column: str, keys: list[Any], idx: list[int] | None) -> Any:
        """The contexts of a page's values in ``column`` (of the rows ``idx``, or all)."""
        parts = self._parts
        if parts is None:
            return self.contexts(column, keys if idx is None else [keys[i] for i in idx])
        return self.contexts(column, (), parts if idx is None else [parts[i] for i in idx])

    def _by_box(
        self, column: str, keys: list[Any], values: list[Any], failures: list[Failure]
    ) -> Iterator[tuple[Box[Any], list[int]]]:
        """The indexes of a page's values by the Box that opens them; the values no Box
        opens (not messages, or of a kind the keys cannot open) go to ``failures``."""
        for (suite, text), idx in _groups(values).items():
            box = None if suite is None else self.boxes.for_message(suite, text)
            if isinstance(box, Box):
                yield box, idx
            else:
                failures += [Failure(keys[i], column, box or "not a sealbox message") for i in idx]

    def _rotate(
        self, j: int, column: str, keys: list[Any], values: list[Any]
    ) -> tuple[list[int], list[Any], list[Failure], int]:
        idx_out: list[int] = []
        new_out: list[Any] = []
        failures: list[Failure] = []
        tried = len(values) - values.count(None)
        for box, idx in self._by_box(column, keys, values, failures):
            whole = len(idx) == len(values)
            messages = values if whole else [values[i] for i in idx]
            out = box.rotate_batch(
                messages,
                self._page_contexts(column, keys, None if whole else idx),
                errors="return",
                threads=self.threads,
            )
            if None not in out and not any(map(is_, out, messages)):
                idx_out += idx
                new_out += out
                continue
            # Under the active key already (another column of the row was pending): the same object.
            for i, old, new in zip(idx, messages, out, strict=True):
                if new is old:
                    tried -= 1
                elif new is None:
                    failures.append(Failure(keys[i], column, self._why(old)))
                else:
                    idx_out.append(i)
                    new_out.append(new)
        return idx_out, new_out, failures, tried

    def _why(self, message: Any) -> str:
        try:
            key_id = Message.parse(message).key_id
        except (SealboxError, ValueError, TypeError):
            return "not a sealbox message"
        if key_id not in self.boxes.key_ids:
            return f"under key {key_id}, which the keys do not hold"
        return "does not decrypt: damaged, or written with another context"

    def _encrypt(
        self, j: int, column: str, keys: list[Any], values: list[Any]
    ) -> tuple[list[int], list[Any], list[Failure], int]:
        box = self._encrypt_boxes[self.layout.kinds[j]]
        convert = self.convert.get(column)
        todo: list[int] = []
        maybe: list[int] = []
        for i, v in enumerate(values):
            if v is None:
                continue
            if looks_encrypted(v):
                if convert is not None:
                    maybe.append(i)
                continue
            todo.append(i)
        idx: list[int] = []
        out: list[Any] = []
        tried = 0
        if maybe:
            # Another format's value can start like a message (a random Lockbox nonce does one
            # time in 16,384): what opens is a message (rotated to the active key if it is not
            # under it); the rest is read in the other format.
            masked: list[Any] = [None] * len(values)
            for i in maybe:
                masked[i] = values[i]
            idx, out, failed, tried = self._rotate(j, column, keys, masked)
            failed_keys = {f.key for f in failed}
            todo = sorted(todo + [i for i in maybe if keys[i] in failed_keys])
            tried -= len(failed)
        plain_idx: list[int] = []
        plain: list[bytes] = []
        failures: list[Failure] = []
        for i in todo:
            v = values[i]
            if convert is not None:
                try:
                    v = convert(v, *(extra[i] for extra in self._extras))
                except _UNREADABLE as exc:
                    failures.append(_unconverted(keys[i], column, exc))
                    continue
            try:
                plain.append(_plaintext(v, self.codec))
            except ValueError as exc:
                failures.append(Failure(keys[i], column, str(exc)))
                continue
            plain_idx.append(i)
        tried += len(plain_idx) + len(failures)
        if plain_idx:
            sealed = box.encrypt_batch(
                plain, self._page_contexts(column, keys, plain_idx), threads=self.threads
            )
            if idx:
                pairs = sorted(zip(idx + plain_idx, out + sealed, strict=True), key=itemgetter(0))
                idx, out = [p[0] for p in pairs], [p[1] for p in pairs]
            else:
                idx, out = plain_idx, sealed
        return idx, out, failures, tried

    def _decrypt(
        self, j: int, column: str, keys: list[Any], values: list[Any]
    ) -> tuple[list[int], list[Any], list[Failure], int]:
        convert = self.convert.get(column)
        kind = self.layout.kinds[j]
        idx_out: list[int] = []
        new_out: list[Any] = []
        failures: list[Failure] = []
        tried = len(values) - values.count(None)
        for box, idx in self._by_box(column, keys, values, failures):
            out = box.decrypt_batch(
                [values[i] for i in idx],
                self._page_contexts(column, keys, idx),
                errors="return",
                threads=self.threads,
            )
            for i, plain in zip(idx, out, strict=True):
                if plain is None:
                    failures.append(Failure(keys[i], column, self._why(values[i])))
                    continue
                try:
                    value: Any = codecs.decode(plain) if self.codec else plain
                    value = _stored(value, kind) if convert is None else convert(value)
                except _UNREADABLE as exc:
                    failures.append(_unconverted(keys[i], column, exc))
                    continue
                idx_out.append(i)
                new_out.append(value)
        return idx_out, new_out, failures, tried

    def check(self, writes: Sequence[Writes]) -> Callable[[list[tuple[Any, ...]]], None]:
        """A verification of a batch's write: every value written reads back and decrypts."""
        written: dict[tuple[Any, str], Any] = {}
        for w in writes:
            for k, name in enumerate(w.names):
                written.update(((key, name), new) for key, new in zip(w.keys, w.new[k], strict=True))

        def verify(rows: list[tuple[Any, ...]]) -> None:
            for j, column in enumerate(self.layout.columns):
                mine = [
                    (row[0], row[j + 1])
                    for row in rows
                    # A row the application changed meanwhile holds its value, not ours.
                    if written.get((row[0], column), _MISSING) == row[j + 1]
                ]
                groups = _groups([v for _, v in mine])
                for (suite, text), idx in groups.items():
                    box: Box[Any] | str | None
                    if self.kind == "encrypt":
                        box = self._encrypt_boxes[self.layout.kinds[j]]
                    else:
                        box = None if suite is None else self.boxes.for_message(suite, text)
                    key0 = mine[idx[0]][0]
                    if not isinstance(box, Box):
                        raise ValueError(f"{column} of row {key0!r} does not read back as a message")
                    out = box.decrypt_batch(
                        [mine[i][1] for i in idx],
                        self.contexts(column, [mine[i][0] for i in idx]),
                        errors="return",
                    )
                    for i, plain in zip(idx, out, strict=True):
                        if plain is None:
                            raise ValueError(
                                f"{column} of row {mine[i][0]!r} does not decrypt after the write"
                            )

        return verify


_MISSING = object()
# A first batch with at least this many values to rotate, none of which decrypts, means wrong
# keys or a wrong context (not a few damaged rows): the job stops before writing anything.
_SAMPLE = 32


def _groups(values: list[Any]) -> dict[tuple[int | None, bool], list[int]]:
    """The indexes of the non-NULL values by (suite, text form); suite None for values
    that are not messages. A few passes in C when the column is uniform (the rule)."""
    types = set(map(type, values))
    if len(types) == 1 and (bytes in types or str in types):
        text = str in types
        heads = set(map(itemgetter(slice(0, 3 if text else 2)), values))
        if len(heads) == 1:
            (head,) = heads
            return {(_text_suite(head) if text else suite_of(head), text): list(range(len(values)))}
    groups: dict[tuple[int | None, bool], list[int]] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, bytearray | memoryview):
            v = values[i] = bytes(v)
        if isinstance(v, str):
            groups.setdefault((_text_suite(v[:3]), True), []).append(i)
        elif isinstance(v, bytes):
            groups.setdefault((suite_of(v[:2]), False), []).append(i)
        else:
            groups.setdefault((None, False), []).append(i)
    return groups


def _text_suite(start: str) -> int | None:
    if len(start) == 3 and start[:2] == TEXT_START and start[2] in TEXT_THIRD:
        return TEXT_THIRD.index(start[2]) // 4 + 1
    return None


def _box(keys: Any, **options: Any) -> Box[Any]:
    box: Box[Any] = Box(keys, **options)
    return box


def _plaintext(value: Any, codec: bool) -> bytes:
    if codec:
        return codecs.encode(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValueError(f"a {type(value).__name__} value: without the codec, encrypt takes text or bytes")


# What a ``convert`` raises for a value it cannot read (a row failure, not the job's).
_UNREADABLE = (ValueError, TypeError, DecryptionError)


def _unconverted(key: Any, column: str, exc: BaseException) -> Failure:
    # The exception's message may quote the value: only its class is kept.
    return Failure(key, column, f"the plaintext does not convert ({type(exc).__name__})")


def _stored(value: Any, kind: Kind) -> str | bytes:
    """A decrypted value as its column stores plaintext: text in text columns, bytes in
    binary ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8") if kind == "text" else value  # UnicodeDecodeError: a ValueError
    if isinstance(value, str):
        return value if kind == "text" else value.encode("utf-8")
    raise TypeError(f"a {type(value).__name__} value: give convert to store it")


def run(
    backend: Backend,
    job: Job,
    *,
    batch_size: int,
    dry_run: bool,
    verify: bool,
    strict: bool,
    progress: Progress | None,
    max_passes: int = 5,
) -> Report:
    """Walk the table until no pending row is left that this run can process."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    layout = job.layout
    started = time.perf_counter()
    report = Report(job.kind, layout.table, layout.columns, dry_run=dry_run, verified=verify and not dry_run)
    total, todo = _survey(backend, job, count=progress is not None)
    failed_seen: set[tuple[Any, str]] = set()
    done_rows = 0
    worker = ThreadPoolExecutor(1, thread_name_prefix="sealbox-table-job")
    try:
        for number in range(max_passes):
            report.passes = number + 1
            conflicts = report.conflicts
            first = True
            for rows, read, (writes, failures, tried) in _pages(backend, job, batch_size, worker):
                if (
                    first
                    and number == 0
                    and tried >= _SAMPLE
                    and len(failures) == tried
                    and (job.kind != "encrypt" or job.convert)
                ):
                    if job.kind == "encrypt":
                        what, check = "reads in the source format", "the source format's keys and options"
                    else:
                        what = "decrypts under the keys"
                        check = (
                            "the keys (the same ids as when the values were written) and the context "
                            f"(context={job.context!r})"
                        )
                    raise ValueError(
                        f"none of the first {tried} values of {layout.table} {what} "
                        f"(first reason: {failures[0].reason}); nothing was written. Check {check}"
                    )
                first = False
                for f in failures:
                    if (f.key, f.column) not in failed_seen:
                        failed_seen.add((f.key, f.column))
                        report.failed.append(f)
                if strict and failures:
                    report.seconds = time.perf_counter() - started
                    f = failures[0]
                    raise TableJobError(
                        f"row {f.key!r}, column {f.column}: {f.reason} "
                        "(stopped by strict; this batch was not written)",
                        report,
                    )
                count = sum(len(w.keys) for w in writes)
                if dry_run:
                    report.changed += count
                elif count:
                    try:
                        written, refused = _write(backend, job, writes, verify, read, report)
                    except ValueError as exc:
                        report.seconds = time.perf_counter() - started
                        raise TableJobError(f"verify: {exc}; the batch was rolled back", report) from exc
                    report.changed += written
                    report.conflicts += count - written - refused
                done_rows += len(rows)
                if progress is not None:
                    progress(min(done_rows, todo), todo)
            if dry_run or report.conflicts == conflicts:
                break
    finally:
        worker.shutdown(wait=True, cancel_futures=True)
    report.unchanged = total - report.changed - len({f.key for f in report.failed}) - report.conflicts
    if not dry_run:
        # What is still to do (failed rows, rows the application kept writing the old way): an
        # operator must not retire a key while this is above zero.
        report.remaining = max(backend.survey(layout, p, None, count=True)[1] for p in job.pending)
    report.seconds = time.perf_counter() - started
    return report


def _write(
    backend: Backend, job: Job, writes: list[Writes], verify: bool, read: Any, report: Report
) -> tuple[int, int]:
    """Write a batch; when a constraint refuses it (say a unique index: a value the table
    already holds under the new key in another row), write its rows one by one and report
    those refused."""
    layout = job.layout
    try:
        return backend.write(layout, writes, job.check(writes) if verify else None, read), 0
    except RowRefused:
        pass
    written = refused = 0
    for w in writes:
        for r, key in enumerate(w.keys):
            one = [Writes(w.names, [key], [[old[r]] for old in w.old], [[new[r]] for new in w.new])]
            try:
                written += backend.write(layout, one, job.check(one) if verify else None, None)
            except RowRefused as exc:
                refused += 1
                report.failed.append(
                    Failure(key, ",".join(w.names), f"the table refuses the new value ({exc})")
                )
    return written, refused


def _pages(
    backend: Backend, job: Job, batch_size: int, worker: ThreadPoolExecutor
) -> Iterator[tuple[list[tuple[Any, ...]], Any, tuple[list[Writes], list[Failure], int]]]:
    """Each page of pending rows in key order, its read token, and what ``job.process`` made
    of it. The next page is processed (the batch calls release the GIL) while the caller
    writes this one, and read then too when the backend reads on a connection of its own;
    otherwise its one connection is only ever used by the calling thread."""
    layout = job.layout
    if backend.concurrent_reads:

        def fetch(after: Any, first: bool) -> tuple[Any, Any, Any]:
            rows, read = backend.page(layout, job.pending, after, first, batch_size)
            _check_last_key(rows)
            return rows, read, job.process(rows) if rows else None

        # The next page is read (on the backend's other connection) and processed too.
        fetching = worker.submit(fetch, None, True)
        while True:
            rows, read, processed = fetching.result()
            if not rows:
                return
            fetching = worker.submit(fetch, rows[-1][0], False)
            yield rows, read, processed
    rows, read = backend.page(layout, job.pending, None, True, batch_size)
    _check_last_key(rows)
    processing = worker.submit(job.process, rows) if rows else None
    while rows and processing is not None:
        following, next_read = backend.page(layout, job.pending, rows[-1][0], False, batch_size)
        _check_last_key(following)
        upcoming = worker.submit(job.process, following) if following else None
        yield rows, read, processing.result()
        rows, read, processing = following, next_read, upcoming


def _check_last_key(rows: Sequence[tuple[Any, ...]]) -> None:
    if rows and rows[-1][0] is None:
        raise ValueError("the key column holds NULL: a job pages by a unique, non-null key")


def _survey(backend: Backend, job: Job, *, count: bool) -> tuple[int, int]:
    """One scan per column before anything is written: the table's rows, the rows to do
    (for progress), and, for a rotation, a stop when the table holds messages under keys
    the job lacks (named by a second look, only then)."""
    layout = job.layout
    known = Headers.under(job.boxes.key_ids) if job.kind == "rotate" else None
    total = todo = 0
    for pending in job.pending:
        total, pending_rows, unknown = backend.survey(layout, pending, known, count=count)
        todo = max(todo, pending_rows)
        if unknown:
            absent: dict[int, int] = {}
            for prefix, n in backend.prefixes(layout, pending.column):
                found = parse_prefix(prefix)
                if found is not None and found[1] not in job.boxes.key_ids:
                    absent[found[1]] = absent.get(found[1], 0) + n
            listed = ", ".join(f"key {k} ({n:,} rows)" for k, n in sorted(absent.items()))
            raise ValueError(
                f"{layout.table}.{pending.column} holds messages under {listed or 'other keys'}, which the "
                "keys do not hold; nothing was written. Add the old key(s) to the keyring "
                "(they decrypt; the highest id encrypts)"
            )
    return total, todo
