"""The audit trail: an event for every envelope decryption and data-key unwrap.

Events go to the ``sealbox.audit`` logger (level INFO, the event in the
record's ``sealbox_event`` attribute) and to every subscribed callback::

    import sealbox.audit

    sealbox.audit.subscribe(lambda event: audit_log.append(event.as_dict()))
    sealbox.audit.configure(context="digest")   # "digest" (default), "plain" or "none"
    sealbox.audit.configure(context="digest", digest_key=audit_key)   # digests comparable across processes

An event carries the operation (``"decrypt"``, ``"unwrap"``, ``"rewrap"``), the
provider's name, the key id, the context (a keyed digest by default, the plain
value by choice, or nothing), the outcome (``"ok"`` or the error class),
for a failure the stage that failed (``detail``: the error's text and its causes,
which the `DecryptionError` a caller sees never carries) and, for batches, the
number of items and of those that failed. Never key bytes, wrapped keys or
plaintext. Events are
emitted by envelope Boxes (``Box(EnvelopeKeyProvider(...))``), whose
key-encryption keys live in a provider; a provider's own log (KMS CloudTrail,
Vault's audit device) records its side of every unwrap.

The default context digest is ``"hmac-sha256:" + HMAC-SHA256(digest key, context)``
in hex. An unkeyed hash of a context drawn from a small set (a table name and a
row number) is reversed by hashing every candidate; a keyed one is not, without
the key. The digest key is random per process unless ``configure(digest_key=...)``
sets one (32 bytes or more, kept like any secret): events of one process can be
matched to each other, and with a configured key across processes and restarts,
and whoever holds the key can test a guess for the context.

A callback that raises does not stop the operation: the error is logged on
``sealbox.audit`` at ERROR level and the next callback runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["AuditEvent", "configure", "enabled", "subscribe", "unsubscribe"]

logger = logging.getLogger("sealbox.audit")

ContextMode = Literal["digest", "plain", "none"]

_lock = threading.Lock()
_subscribers: tuple[Callable[[AuditEvent], None], ...] = ()
_context_mode: ContextMode = "digest"
# The key of the context digest: random per process unless configure() sets one.
_digest_key: bytes = os.urandom(32)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited operation. Contains no key material and no plaintext."""

    operation: str
    provider: str
    key_id: int | None
    context: str | None
    outcome: str
    count: int
    time: float
    #: Items that gave no plaintext (a batch that raised: all of them).
    failed: int = 0
    #: For a failure, which stage failed and why (the errors' texts, causes last).
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def subscribe(callback: Callable[[AuditEvent], None]) -> None:
    """Call ``callback(event)`` for every event, in the thread that did the operation."""
    global _subscribers
    if not callable(callback):
        raise TypeError("callback must be callable")
    with _lock:
        _subscribers = (*_subscribers, callback)


def unsubscribe(callback: Callable[[AuditEvent], None]) -> None:
    """Stop calling ``callback``; a callback that is not subscribed is ignored."""
    global _subscribers
    with _lock:
        _subscribers = tuple(c for c in _subscribers if c != callback)


def configure(*, context: ContextMode = "digest", digest_key: bytes | None = None) -> None:
    """How events show the context: a keyed digest (HMAC-SHA256, hex), as given (UTF-8,
    else hex), or not at all. ``digest_key`` (at least 32 bytes) keys the digest, so
    that digests match across processes; None keeps the current key (random per
    process unless one was set)."""
    global _context_mode, _digest_key
    if context not in ("digest", "plain", "none"):
        raise ValueError(f"context must be 'digest', 'plain' or 'none', not {context!r}")
    if digest_key is not None:
        if not isinstance(digest_key, bytes | bytearray) or len(digest_key) < 32:
            raise ValueError("digest_key must be at least 32 bytes")
        _digest_key = bytes(digest_key)
    _context_mode = context


def enabled() -> bool:
    """Whether anyone listens: a subscriber, or the logger enabled for INFO."""
    return bool(_subscribers) or logger.isEnabledFor(logging.INFO)


def _show_context(context: bytes | None) -> str | None:
    if context is None or _context_mode == "none":
        return None
    if _context_mode == "digest":
        return "hmac-sha256:" + hmac.new(_digest_key, context, hashlib.sha256).hexdigest()
    try:
        return context.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + context.hex()


def emit(
    operation: str,
    provider: str,
    key_id: int | None,
    context: bytes | None,
    outcome: str,
    count: int = 1,
    detail: str | None = None,
    failed: int | None = None,
) -> None:
    """Record one event (library-internal; cheap when nobody listens)."""
    if not enabled():
        return
    event = AuditEvent(
        operation=operation,
        provider=provider,
        key_id=key_id,
        context=_show_context(context),
        outcome=outcome,
        count=count,
        time=time.time(),
        failed=(0 if outcome == "ok" else count) if failed is None else failed,
        detail=detail,
    )
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s key_id=%s count=%d failed=%d outcome=%s",
            operation,
            provider,
            key_id,
            count,
            event.failed,
            outcome,
            extra={"sealbox_event": event},
        )
    for callback in _subscribers:
        try:
            callback(event)
        except Exception:
            logger.exception("an audit callback raised")


def outcome_of(error: BaseException | None) -> str:
    return "ok" if error is None else type(error).__name__


def detail_of(error: BaseException | None) -> str | None:
    """The stage a failure came from: each error's class and text, following its causes."""
    parts: list[str] = []
    while error is not None and len(parts) < 4:
        text = str(error)
        parts.append(f"{type(error).__name__}: {text}" if text else type(error).__name__)
        error = error.__cause__
    return " <- ".join(parts) or None
