"""The audit trail: an event for every envelope decryption and data-key unwrap.

Events go to the ``sealbox.audit`` logger (level INFO, the event in the
record's ``sealbox_event`` attribute) and to every subscribed callback::

    import sealbox.audit

    sealbox.audit.subscribe(lambda event: audit_log.append(event.as_dict()))
    sealbox.audit.configure(context="digest")   # "digest" (default), "plain" or "none"

An event carries the operation (``"decrypt"``, ``"unwrap"``, ``"rewrap"``), the
provider's name, the key id, the context (its SHA-256 digest by default, the
plain value by choice, or nothing), the outcome (``"ok"`` or the error class),
for a failure the stage that failed (``detail``: the error's text and its causes,
which the `DecryptionError` a caller sees never carries) and, for batches, the
number of items. Never key bytes, wrapped keys or plaintext. Events are
emitted by envelope Boxes (``Box(EnvelopeKeyProvider(...))``), whose
key-encryption keys live in a provider; a provider's own log (KMS CloudTrail,
Vault's audit device) records its side of every unwrap.

A callback that raises does not stop the operation: the error is logged on
``sealbox.audit`` at ERROR level and the next callback runs.
"""

from __future__ import annotations

import hashlib
import logging
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


def configure(*, context: ContextMode = "digest") -> None:
    """How events show the context: its SHA-256 (hex), as given (UTF-8, else hex), or not at all."""
    global _context_mode
    if context not in ("digest", "plain", "none"):
        raise ValueError(f"context must be 'digest', 'plain' or 'none', not {context!r}")
    _context_mode = context


def enabled() -> bool:
    """Whether anyone listens: a subscriber, or the logger enabled for INFO."""
    return bool(_subscribers) or logger.isEnabledFor(logging.INFO)


def _show_context(context: bytes | None) -> str | None:
    if context is None or _context_mode == "none":
        return None
    if _context_mode == "digest":
        return "sha256:" + hashlib.sha256(context).hexdigest()
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
        detail=detail,
    )
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s key_id=%s count=%d outcome=%s",
            operation,
            provider,
            key_id,
            count,
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
