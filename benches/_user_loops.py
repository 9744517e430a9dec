"""The loops a user would write with ``cryptography``: the primary anchors of the batch targets.

Ported from the baseline harness (``baselines/b_envelope.py``, ``baselines/c_rotation.py``;
PERF.md, "Loops a user would write") with the same per-record work, the same data
shapes and the same local-name lookups, so that a ratio here is the one a user
sees when replacing their own loop with a sealbox batch call:

- 64-byte records, sliced from one ``os.urandom`` blob (``make_records``);
- keys from ``AESGCM.generate_key(256)``, prebuilt ``AESGCM`` objects for the
  key-encryption keys, a new ``AESGCM(data_key)`` per record where the record
  has its own data key;
- a fresh ``os.urandom(12)`` nonce (and ``os.urandom(32)`` data key) per use,
  no associated data, the nonce stored in front of the ciphertext;
- rotation loops read the rows ``envelope_encrypt`` writes:
  ``(nonce2 + wrapped_data_key, nonce1 + ciphertext)``.

These loops do not produce sealbox messages (no header, no key commitment, no
context binding); ``test_batch.py`` keeps its loops that do the same work as
sealbox in sealbox's own format and reports them beside these ("same format").
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RECORD_SIZE = 64
urandom = os.urandom

Row = tuple[bytes, bytes]


def make_records(n: int, size: int = RECORD_SIZE) -> list[bytes]:
    """``b_envelope.make_records``: n records of ``size`` bytes cut from one random blob."""
    blob = os.urandom(n * size)
    return [blob[i * size : (i + 1) * size] for i in range(n)]


def aesgcm_encrypt(records: list[bytes], aes: AESGCM) -> list[bytes]:
    """Encrypt each value under one prebuilt ``AESGCM`` key with a fresh random
    96-bit nonce, stored in front of the ciphertext: the plain ``encrypt_batch``
    alternative (PERF.md's "cryptography AESGCM, prebuilt, os.urandom(12) nonce",
    one value at a time in a loop)."""
    out: list[bytes] = []
    append = out.append
    _urandom = urandom
    encrypt = aes.encrypt
    for pt in records:
        n = _urandom(12)
        append(n + encrypt(n, pt, None))
    return out


def aesgcm_decrypt(messages: list[bytes], aes: AESGCM) -> list[bytes]:
    """The inverse of ``aesgcm_encrypt`` (used to check it)."""
    return [aes.decrypt(m[:12], m[12:], None) for m in messages]


def aesgcm_reencrypt(messages: list[bytes], old: AESGCM, new: AESGCM) -> list[bytes]:
    """Re-encrypt ``aesgcm_encrypt``'s output from one prebuilt key to another, a
    fresh nonce per value. Informative: one key for all rows and random 96-bit
    nonces, so it lacks the per-message key that ``c_rotation``'s loop (and
    sealbox) has against the nonce limit of a single GCM key."""
    out: list[bytes] = []
    append = out.append
    _urandom = urandom
    decrypt = old.decrypt
    encrypt = new.encrypt
    for m in messages:
        pt = decrypt(m[:12], m[12:], None)
        n = _urandom(12)
        append(n + encrypt(n, pt, None))
    return out


def envelope_encrypt(records: list[bytes], kek: AESGCM) -> list[Row]:
    """``b_envelope.envelope_encrypt`` (B1): a fresh data key per record, the record
    AES-256-GCM under it, the data key wrapped by the prebuilt KEK."""
    out: list[Row] = []
    append = out.append
    _AESGCM = AESGCM
    _urandom = urandom
    kek_encrypt = kek.encrypt
    for pt in records:
        dk = _urandom(32)
        n1 = _urandom(12)
        ct = _AESGCM(dk).encrypt(n1, pt, None)
        n2 = _urandom(12)
        append((n2 + kek_encrypt(n2, dk, None), n1 + ct))
    return out


def envelope_decrypt(rows: list[Row], kek: AESGCM) -> list[bytes]:
    """``b_envelope.envelope_decrypt`` (B4): unwrap the data key, then decrypt."""
    out: list[bytes] = []
    append = out.append
    _AESGCM = AESGCM
    kek_decrypt = kek.decrypt
    for w, c in rows:
        dk = kek_decrypt(w[:12], w[12:], None)
        append(_AESGCM(dk).decrypt(c[:12], c[12:], None))
    return out


def rotate_full(rows: list[Row], old_kek: AESGCM, new_kek: AESGCM) -> list[Row]:
    """``c_rotation.rotate_full`` (C-a), the full re-encrypt: unwrap the data key
    with the old KEK, decrypt, draw a new data key and fresh nonces, re-encrypt,
    wrap the new data key with the new KEK."""
    out: list[Row] = []
    append = out.append
    _AESGCM = AESGCM
    _urandom = urandom
    old_dec = old_kek.decrypt
    new_enc = new_kek.encrypt
    for w, c in rows:
        dk = old_dec(w[:12], w[12:], None)
        pt = _AESGCM(dk).decrypt(c[:12], c[12:], None)
        dk2 = _urandom(32)
        n1 = _urandom(12)
        n2 = _urandom(12)
        append((n2 + new_enc(n2, dk2, None), n1 + _AESGCM(dk2).encrypt(n1, pt, None)))
    return out


def rotate_rewrap(rows: list[Row], old_kek: AESGCM, new_kek: AESGCM) -> list[Row]:
    """``c_rotation.rotate_rewrap`` (C-b): unwrap the data key with the old KEK and
    wrap it with the new one under a fresh nonce; the payload is left as is."""
    out: list[Row] = []
    append = out.append
    _urandom = urandom
    old_dec = old_kek.decrypt
    new_enc = new_kek.encrypt
    for w, c in rows:
        dk = old_dec(w[:12], w[12:], None)
        n2 = _urandom(12)
        append((n2 + new_enc(n2, dk, None), c))
    return out
