#!/usr/bin/env python3
"""Fuzz sealbox's Python API with atheris.

    python fuzz/atheris_box.py [corpus dir] [libFuzzer flags, e.g. -max_total_time=60]

Runs against the ``sealbox`` the current interpreter imports. Each input is
one of three operations, chosen by the input itself:

* **arbitrary message**: fuzzed bytes, ``bytearray``, ``memoryview`` or ``str``
  (including unencodable ones and wrong types) go to ``Box.decrypt`` of a binary
  or text Box of any suite, ``Box.needs_rotation`` and ``Message.parse``, with a
  fuzzed context of any accepted type (or a wrong one);
* **tampered message**: a genuine message, sealed with a fuzzed plaintext and
  context, is edited (bit flips, byte edits, truncation, extension, another key
  id or suite, splices with a second message, a switch between binary and text
  form, text-only edits such as padding or a changed character) and decrypted
  by a Box that holds its key or one that does not;
* **round trip**: a fuzzed plaintext and context go through ``encrypt`` and
  ``decrypt`` of every Box; the message must have the documented size and
  header, open under its context only, not open with one bit flipped, and be
  deterministic exactly for the deterministic suite;
* **provider batch**: envelope messages whose data keys a KMS-shaped provider
  wrapped (wrapped keys of every length from 60 to 360 bytes, with or without a
  ``DataKeyCache``) are damaged, spliced and swapped between rows and opened by
  one ``decrypt_batch``: a row opens to its own plaintext exactly when its bytes
  are those sealed for it, and each distinct wrapped key is unwrapped once.

The outcome of every call is predicted and checked exactly: the plaintext when
the message is genuine, unchanged (up to its encoding) and under its context;
``DecryptionError`` for every other valid call; ``TypeError`` for an argument
of the wrong type; ``ValueError`` (``UnicodeEncodeError``) for a ``str`` that
is not valid Unicode. Any other exception, a Rust panic (``PanicException``)
or a crash of the process is a finding.

With ``SEALBOX_FUZZ_RUST_COVERAGE=1`` the harness expects a sealbox built with
SanitizerCoverage (``fuzz/run.sh`` builds one) and imports it only once the
fuzzer runs, so that libFuzzer sees coverage of the Rust core as well.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import os
import sys
from collections import OrderedDict
from hmac import compare_digest

RUST_COVERAGE = os.environ.get("SEALBOX_FUZZ_RUST_COVERAGE") == "1"
if RUST_COVERAGE:
    # The instrumented extension resolves __sanitizer_cov_* against atheris's
    # libFuzzer, which must therefore be loaded with global symbols.
    sys.setdlopenflags(os.RTLD_NOW | os.RTLD_GLOBAL)

import atheris  # noqa: E402

sealbox = None  # imported by load()

SUITES = ("aes-256-gcm", "xchacha20-poly1305", "aes-256-siv")
NONCE_LEN = {"aes-256-gcm": 16, "xchacha20-poly1305": 24, "aes-256-siv": 0}
OVERHEAD = {"aes-256-gcm": 62, "xchacha20-poly1305": 70, "aes-256-siv": 46}
COMMIT_LEN = 24

# Keys are drawn per process, so that no message sealed by an earlier run (and
# absorbed into the corpus) opens in this one.
KEY_OLD, KEY_ACTIVE, KEY_BARE = (os.urandom(32) for _ in range(3))

MAX_LEN = 512
# Plaintext repetitions: short inputs also reach the large-message paths (over
# 1 KiB the default suite changes AES-GCM backend; from 16 KiB the GIL is released).
REPEATS = [1, 1, 1, 1, 2, 3, 17, 40, 200]


class Fixture:
    """A Box of every suite and encoding over three key sets."""

    def __init__(self) -> None:
        ring = sealbox.Keyring({1: KEY_OLD, 2: KEY_ACTIVE}, active=2)
        old_ring = sealbox.Keyring({1: KEY_OLD, 2: KEY_ACTIVE}, active=1)
        self.boxes = []  # (box, group): boxes of one group hold the same keys
        for key, group in ((ring, "ring"), (old_ring, "ring"), (KEY_BARE, "bare")):
            for suite in SUITES:
                for encoding in ("binary", "text"):
                    if suite == "aes-256-siv":
                        box = sealbox.Box(key, deterministic=True, encoding=encoding)
                    elif suite == "aes-256-gcm" and encoding == "binary":
                        box = sealbox.Box(key)
                    else:
                        box = sealbox.Box(key, algorithm=suite, encoding=encoding)
                    assert box.algorithm == suite and box.encoding == encoding
                    self.boxes.append((box, group))
        self.ring_boxes = [b for b, g in self.boxes[:6]]


FIX: Fixture | None = None


def load() -> None:
    global sealbox, FIX
    if sealbox is None:
        with atheris.instrument_imports(include=["sealbox"]):
            import sealbox as module
        sealbox = module
        FIX = Fixture()


# Digests of the messages sealed in this process, with their key group,
# context and plaintext: a message the fuzzer replays may open, but only under
# its own context and to its own plaintext. Messages are compared with same(),
# which the fuzzer's comparison hooks do not see, so it has no easy way to learn
# whole messages; the registry keeps the oracle exact if it does.
SEALED: OrderedDict[bytes, bytes] = OrderedDict()
SEALED_CAP = 200_000


def digest(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.digest()[:16]


def register(binary: bytes, group: str, context: bytes, plaintext: bytes) -> None:
    key = digest(binary)
    SEALED[key] = digest(group.encode(), context, plaintext)
    SEALED.move_to_end(key)
    if len(SEALED) > SEALED_CAP:
        SEALED.popitem(last=False)


def same(a: bytes | str, b: bytes | str) -> bool:
    """Equality of messages, out of sight of the fuzzer's comparison hooks."""
    return compare_digest(a, b)


def text_of(binary: bytes) -> bytes:
    return base64.urlsafe_b64encode(binary).rstrip(b"=")


def binary_of(message: bytes) -> bytes | None:
    """The binary form of a message in either encoding, if it has one."""
    if not message:
        return None
    if message[0] == 1:
        return message
    try:
        binary = base64.urlsafe_b64decode(message + b"=" * (-len(message) % 4))
    except ValueError:
        return None
    return binary


# Arguments: what is passed and what the extension sees.
WRONG_TYPE = object()  # the call must raise TypeError
UNENCODABLE = object()  # a str with lone surrogates: UnicodeEncodeError


class Arg:
    __slots__ = ("effective", "lenient", "omit", "value")

    def __init__(self, value, effective, lenient=False, omit=False):
        self.value = value
        self.effective = effective  # bytes, WRONG_TYPE or UNENCODABLE
        self.lenient = lenient  # a strided view: TypeError or success
        self.omit = omit


def str_arg(text: str) -> Arg:
    try:
        return Arg(text, text.encode("utf-8"))
    except UnicodeEncodeError:
        return Arg(text, UNENCODABLE)


def message_arg(fdp: atheris.FuzzedDataProvider, raw: bytes) -> Arg:
    """Present `raw` as one of the types a message may have (or a wrong one)."""
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:
        return Arg(bytearray(raw), raw)
    if kind == 1:
        return Arg(memoryview(raw), raw)
    if kind == 2:
        # Invalid UTF-8 becomes lone surrogates.
        return str_arg(raw.decode("utf-8", errors="surrogateescape"))
    if kind == 3:
        return str_arg(raw.decode("latin-1"))
    if kind == 4:
        doubled = bytes(b for c in raw for b in (c, 0))
        return Arg(memoryview(doubled)[::2], raw, lenient=True)
    if kind == 5:
        return Arg(fdp.PickValueInList([None, 7, [raw], 1.5]), WRONG_TYPE)
    return Arg(raw, raw)


def context_arg(fdp: atheris.FuzzedDataProvider, raw: bytes | None = None) -> Arg:
    """A context of any accepted type (or a wrong one); `raw` fixes its bytes."""
    kind = fdp.ConsumeIntInRange(0, 9)
    if raw is None:
        if kind == 0:
            return Arg(None, b"", omit=True)
        if kind == 1:
            return Arg(None, b"")
        if kind == 2:
            return str_arg(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 300)))
        if kind == 3:
            return Arg(fdp.PickValueInList([5, ["a"], 2.0, object()]), WRONG_TYPE)
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
    if kind in (4, 5) and raw.isascii():
        return Arg(raw.decode("ascii"), raw)
    if kind == 6:
        return Arg(bytearray(raw), raw)
    if kind == 7:
        return Arg(memoryview(raw), raw)
    if not raw and kind in (0, 1):
        return Arg(None, b"", omit=kind == 0)
    return Arg(raw, raw)


def call(fn, *args, **kwargs):
    """Return ("ok", value) or ("error", exception) for the exceptions the API
    may raise; anything else propagates and is reported by the fuzzer."""
    try:
        return "ok", fn(*args, **kwargs)
    except (sealbox.DecryptionError, TypeError, ValueError) as e:
        return "error", e


def describe(outcome) -> str:
    kind, value = outcome
    if kind == "ok":
        return f"returned {value!r:.200}"
    return f"raised {type(value).__name__}: {value}"


def check_misuse(outcome, *args: Arg) -> bool:
    """If an argument is invalid, check the error it must cause (the first
    invalid argument decides) and return True."""
    for arg in args:
        if arg.effective is WRONG_TYPE:
            assert outcome[0] == "error" and isinstance(outcome[1], TypeError), (
                f"wrong argument type {type(arg.value).__name__}: {describe(outcome)}"
            )
            return True
        if arg.effective is UNENCODABLE:
            assert outcome[0] == "error" and isinstance(outcome[1], UnicodeEncodeError), (
                f"unencodable str: {describe(outcome)}"
            )
            return True
        if arg.lenient and outcome[0] == "error" and isinstance(outcome[1], TypeError):
            return True
    return False


def encrypt(box, data, ctx: Arg):
    if ctx.omit:
        return call(box.encrypt, data)
    return call(box.encrypt, data, context=ctx.value)


def decrypt(box, msg: Arg, ctx: Arg):
    if ctx.omit:
        return call(box.decrypt, msg.value)
    return call(box.decrypt, msg.value, context=ctx.value)


def check_decrypt(box, group: str, msg: Arg, ctx: Arg, expected: bytes | None) -> None:
    """Decrypt and compare with the predicted plaintext (None: must fail)."""
    outcome = decrypt(box, msg, ctx)
    if check_misuse(outcome, msg, ctx):
        return
    kind, value = outcome
    if kind == "ok":
        assert type(value) is bytes, f"decrypt returned {type(value).__name__}"
        if expected is None:
            # Only a message this process sealed may open, under its context.
            binary = binary_of(msg.effective)
            assert binary is not None, f"opened something that is not a message: {msg.effective!r:.200}"
            if binary is not msg.effective:
                assert same(text_of(binary), msg.effective), (
                    f"a non-canonical text form opened: {msg.effective!r:.200}"
                )
            assert SEALED.get(digest(binary)) == digest(group.encode(), ctx.effective, value), (
                f"a message this process never sealed (or under another context) opened "
                f"to {value!r:.100}: {msg.effective!r:.200}"
            )
        else:
            assert value == expected, f"decrypted to {value!r:.100}, expected {expected!r:.100}"
    else:
        assert isinstance(value, sealbox.DecryptionError), (
            f"a failed decryption must raise DecryptionError: {describe(outcome)}"
        )
        assert expected is None, (
            f"a genuine message failed to open: {describe(outcome)} "
            f"(message {msg.effective!r:.200}, context {ctx.effective!r:.100})"
        )


def check_header(box, msg: Arg) -> None:
    """Message.parse and needs_rotation on the same input must agree."""
    parsed = call(sealbox.Message.parse, msg.value)
    rotation = call(box.needs_rotation, msg.value)
    if check_misuse(parsed, msg):
        assert check_misuse(rotation, msg) or msg.lenient
        return
    if parsed[0] == "error":
        assert isinstance(parsed[1], sealbox.DecryptionError), describe(parsed)
        assert rotation[0] == "error" and isinstance(rotation[1], sealbox.DecryptionError), (
            f"parse failed but needs_rotation {describe(rotation)}"
        )
        return
    m = parsed[1]
    binary = binary_of(msg.effective)
    assert binary is not None, f"parsed something that is not a message: {msg.effective!r:.200}"
    text = binary is not msg.effective
    assert m.encoding == ("text" if text else "binary"), m.encoding
    if text:
        assert same(text_of(binary), msg.effective), f"non-canonical text parsed: {msg.effective!r:.200}"
    assert binary[0] == 1 and m.version == 1
    assert m.suite_id == binary[1] and m.key_id == int.from_bytes(binary[2:6], "big")
    assert len(m) == len(binary) and m.plaintext_length == len(binary) - m.overhead >= 0
    if m.suite == "envelope":
        # A tampered message can be a well-formed envelope header (suite 4, a wrapped data
        # key); its layout is checked by the Rust targets.
        assert m.suite_id == 4 and not m.deterministic and m.wrapped_key is not None
    else:
        assert m.suite == SUITES[m.suite_id - 1] and m.overhead == OVERHEAD[m.suite]
        assert m.deterministic == (m.suite == "aes-256-siv")
        n = NONCE_LEN[m.suite]
        assert m.nonce == binary[6 : 6 + n] and m.commitment == binary[6 + n : 6 + n + COMMIT_LEN]
    assert rotation[0] == "ok", f"parse succeeded but needs_rotation {describe(rotation)}"
    assert rotation[1] == (m.key_id != box.active_key_id or m.suite != box.algorithm)


# --- operation 0: arbitrary message ------------------------------------------


def op_arbitrary(fdp: atheris.FuzzedDataProvider) -> None:
    box, group = fdp.PickValueInList(FIX.boxes)
    ctx = context_arg(fdp)
    msg = message_arg(fdp, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, MAX_LEN)))
    check_decrypt(box, group, msg, ctx, None)
    check_header(box, msg)


# --- operation 1: tampered genuine message -----------------------------------


def mutate(fdp: atheris.FuzzedDataProvider, binary: bytes, other: bytes) -> tuple[bytes, bool]:
    """Edit a binary message; return the message as passed and whether it is
    in text form."""
    data = bytearray(binary)
    as_text = fdp.ConsumeBool()
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        edit = fdp.ConsumeIntInRange(0, 9)
        if edit == 0 and data:  # flip one bit
            bit = fdp.ConsumeIntInRange(0, len(data) * 8 - 1)
            data[bit // 8] ^= 1 << (bit % 8)
        elif edit == 1 and data:  # set one byte
            data[fdp.ConsumeIntInRange(0, len(data) - 1)] = fdp.ConsumeIntInRange(0, 255)
        elif edit == 2:  # truncate
            del data[fdp.ConsumeIntInRange(0, len(data)) :]
        elif edit == 3:  # extend
            data += fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 32))
        elif edit == 4 and len(data) >= 6:  # another key id
            data[2:6] = fdp.PickValueInList([0, 1, 2, 3, 0xFFFFFFFF]).to_bytes(4, "big")
        elif edit == 5 and len(data) >= 2:  # another suite
            data[1] = fdp.ConsumeIntInRange(0, 4)
        elif edit == 6:  # splice with another message
            cut = fdp.ConsumeIntInRange(0, min(len(data), len(other)))
            data = data[:cut] + other[cut:]
        elif edit == 7:  # remove a range
            start = fdp.ConsumeIntInRange(0, len(data))
            del data[start : start + fdp.ConsumeIntInRange(1, 16)]
        elif edit == 8:  # swap the nonce or salt with the other message's
            data[6:30] = other[6:30]
    if not as_text:
        return bytes(data), False
    text = bytearray(text_of(bytes(data)))
    for _ in range(fdp.ConsumeIntInRange(0, 2)):
        edit = fdp.ConsumeIntInRange(0, 4)
        if edit == 0:
            text += b"=" * fdp.ConsumeIntInRange(1, 2)
        elif edit == 1 and text:
            i = fdp.ConsumeIntInRange(0, len(text) - 1)
            text[i] = fdp.PickValueInList(list(b"AQgw-_+/=. \n"))
        elif edit == 2:
            text.insert(fdp.ConsumeIntInRange(0, len(text)), fdp.PickValueInList(list(b"\n A-_=")))
        elif edit == 3 and text:  # the last character carries the spare bits
            text[-1] = fdp.PickValueInList(list(b"AQgwBRhx"))
    return bytes(text), True


def op_tampered(fdp: atheris.FuzzedDataProvider) -> None:
    sealer, group = fdp.PickValueInList(FIX.boxes)
    plaintext = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) * fdp.PickValueInList(REPEATS)
    context = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    sealed = sealer.encrypt(plaintext, context=context)
    binary = sealed if isinstance(sealed, bytes) else binary_of(sealed.encode("ascii"))
    register(binary, group, context, plaintext)
    other = fdp.PickValueInList(FIX.boxes)[0].encrypt(plaintext, context=context)
    other = other if isinstance(other, bytes) else binary_of(other.encode("ascii"))
    register(other, "ring" if other[2:6] != b"\0\0\0\0" else "bare", context, plaintext)

    edited, _ = mutate(fdp, binary, other)
    right_context = fdp.ConsumeIntInRange(0, 4) != 0
    ctx = context_arg(fdp, context if right_context else context + b"\0")
    msg = message_arg(fdp, edited)
    box, box_group = fdp.PickValueInList(FIX.boxes)
    # What the extension sees may differ from `edited` (a str is UTF-8 encoded).
    unchanged = isinstance(msg.effective, bytes) and (
        same(msg.effective, binary) or same(msg.effective, text_of(binary))
    )
    genuine = unchanged and right_context and box_group == group
    check_decrypt(box, box_group, msg, ctx, plaintext if genuine else None)
    check_header(box, msg)


# --- operation 2: round trip --------------------------------------------------


def op_round_trip(fdp: atheris.FuzzedDataProvider) -> None:
    plaintext = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, MAX_LEN)) * fdp.PickValueInList(REPEATS)
    ctx = context_arg(fdp)
    data_kind = fdp.ConsumeIntInRange(0, 2)
    data = (plaintext, bytearray(plaintext), memoryview(plaintext))[data_kind]
    flip = fdp.ConsumeIntInRange(0, 1 << 16)
    for box in FIX.ring_boxes:
        outcome = encrypt(box, data, ctx)
        if check_misuse(outcome, ctx):
            continue
        assert outcome[0] == "ok", f"encrypt {describe(outcome)}"
        sealed = outcome[1]
        if box.encoding == "text":
            assert type(sealed) is str and sealed.isascii(), type(sealed)
            binary = binary_of(sealed.encode("ascii"))
            assert same(text_of(binary), sealed.encode("ascii"))
        else:
            assert type(sealed) is bytes, type(sealed)
            binary = sealed
        assert len(binary) == len(plaintext) + OVERHEAD[box.algorithm]
        register(binary, "ring", ctx.effective, plaintext)

        m = sealbox.Message.parse(sealed)
        assert (m.suite, m.key_id, m.plaintext_length, m.encoding) == (
            box.algorithm,
            box.active_key_id,
            len(plaintext),
            box.encoding,
        ), repr(m)
        assert box.needs_rotation(sealed) is False

        for other in FIX.ring_boxes:
            opened = decrypt(other, Arg(sealed, None), ctx)
            assert opened == ("ok", plaintext), f"round trip: {describe(opened)}"
        other_form = binary if box.encoding == "text" else text_of(binary).decode("ascii")
        opened = decrypt(box, Arg(other_form, None), ctx)
        assert opened == ("ok", plaintext), f"other encoding: {describe(opened)}"

        wrong = Arg(ctx.effective + b"\0", ctx.effective + b"\0")
        check_decrypt(box, "ring", Arg(sealed, sealed), wrong, None)
        bit = flip % (len(binary) * 8)
        flipped = bytearray(binary)
        flipped[bit // 8] ^= 1 << (bit % 8)
        check_decrypt(box, "ring", Arg(bytes(flipped), bytes(flipped)), ctx, None)

        again = box.encrypt(data, context=ctx.value)
        register(
            binary_of(again.encode("ascii")) if box.encoding == "text" else again,
            "ring",
            ctx.effective,
            plaintext,
        )
        if box.deterministic:
            assert same(again, sealed), "the deterministic suite sealed equal inputs differently"
        else:
            assert not same(again, sealed), f"{box.algorithm} sealed the same message twice"


# --- operation 3: provider-backed envelope batch ------------------------------


class ShapedProvider:
    """A KMS-shaped key provider: each wrapped data key is ``pad`` filler bytes (a KMS blob
    or a Vault token of another length) then AES-GCM of the data key under this provider's
    KEK, bound to the encryption context. It counts its unwraps."""

    # A provider that ignored bytes of its blob would let those bytes change without the
    # message failing (docs/providers.md, "Writing a provider"): this one checks them all.

    name = "fuzz-kms"

    def __init__(self, pad: int) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.pad = pad
        self.kek_id = 1000 + pad
        self._aead = AESGCM(hashlib.sha256(b"fuzz kek %d" % pad).digest())
        self.unwraps: dict[tuple[bytes, bytes], int] = {}  # per wrapped key and context

    def _aad(self, context) -> bytes:
        return repr(sorted(context.items())).encode()

    def wrap(self, data_key: bytes, context) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, data_key, self._aad(context))
        return bytes([self.pad % 251]) * self.pad + nonce + sealed

    def generate_data_key(self, context):
        key = os.urandom(32)
        return key, self.wrap(key, context)

    def unwrap(self, wrapped: bytes, context) -> bytes:
        from cryptography.exceptions import InvalidTag

        asked = (bytes(wrapped), self._aad(context))
        self.unwraps[asked] = self.unwraps.get(asked, 0) + 1
        # Strict, as the KeyProvider protocol requires: a provider authenticates every byte
        # of its blob (the envelope payload does not cover the wrapped key, so that a re-wrap
        # can leave it untouched).
        if wrapped[: self.pad] != bytes([self.pad % 251]) * self.pad:
            raise sealbox.DecryptionError("the wrapped data key did not unwrap")
        body = wrapped[self.pad :]
        try:
            return self._aead.decrypt(body[:12], body[12:], self._aad(context))
        except (InvalidTag, ValueError):
            raise sealbox.DecryptionError("the wrapped data key did not unwrap") from None

    def rewrap(self, wrapped, contexts):
        return [self.wrap(self.unwrap(w, c), c) for w, c in zip(wrapped, contexts, strict=True)]

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return False


PROVIDER_BOXES: dict[tuple[int, bool], tuple[object, ShapedProvider]] = {}


def provider_box(pad: int, cached: bool):
    found = PROVIDER_BOXES.get((pad, cached))
    if found is None:
        provider = ShapedProvider(pad)
        cache = sealbox.DataKeyCache(max_messages=4) if cached else None
        found = PROVIDER_BOXES[(pad, cached)] = (
            sealbox.Box(sealbox.EnvelopeKeyProvider(provider, cache=cache)),
            provider,
        )
    return found


def op_provider_batch(fdp: atheris.FuzzedDataProvider) -> None:
    """A batch of envelope messages whose data keys a KMS-shaped provider wrapped, with
    wrapped keys of every length, damaged, spliced and swapped between rows, opened by one
    ``decrypt_batch``: a row opens, to its own plaintext, exactly when its bytes are the ones
    sealed for it (each row has its own context), every other row is None, and the provider
    unwraps each distinct wrapped key (under the context it is bound to) once."""
    box, provider = provider_box(fdp.ConsumeIntInRange(0, 300), fdp.ConsumeBool())
    n = fdp.ConsumeIntInRange(1, 12)
    plaintexts = [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)) for _ in range(n)]
    contexts = [b"row %d" % i for i in range(n)]
    sealed = box.encrypt_batch(plaintexts, contexts)
    rows = list(sealed)
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        i, j = fdp.ConsumeIntInRange(0, n - 1), fdp.ConsumeIntInRange(0, n - 1)
        kind = fdp.ConsumeIntInRange(0, 3)
        if kind == 0:  # truncated or extended
            cut = fdp.ConsumeIntInRange(0, len(rows[i]))
            rows[i] = rows[i][:cut] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
        elif kind == 1:  # another row's header (its wrapped key) spliced in
            cut = fdp.ConsumeIntInRange(0, min(len(rows[i]), len(rows[j])))
            rows[i] = rows[j][:cut] + rows[i][cut:]
        elif kind == 2:  # whole rows swapped
            rows[i], rows[j] = rows[j], rows[i]
        else:  # a byte inside the wrapped key's filler or its blob
            at = fdp.ConsumeIntInRange(0, max(len(rows[i]) - 1, 0))
            if rows[i]:
                edited = bytearray(rows[i])
                edited[at] ^= 1 << fdp.ConsumeIntInRange(0, 7)
                rows[i] = bytes(edited)
    provider.unwraps.clear()
    opened = box.decrypt_batch(rows, contexts, errors="return")
    assert len(opened) == n
    for i in range(n):
        if same(rows[i], sealed[i]):
            assert opened[i] == plaintexts[i], f"row {i} of a provider batch did not open"
        else:
            assert opened[i] is None, f"row {i}, changed, opened"
    # One unwrap per wrapped key and the context it is bound to, however many rows share it.
    assert all(count == 1 for count in provider.unwraps.values()), provider.unwraps.values()


OPERATIONS = [op_arbitrary, op_tampered, op_round_trip, op_provider_batch]


def TestOneInput(data: bytes) -> None:
    load()
    fdp = atheris.FuzzedDataProvider(data)
    fdp.PickValueInList(OPERATIONS)(fdp)


def main() -> None:
    if not RUST_COVERAGE:
        load()  # fail early, and outside the fuzzer, if sealbox is missing
    # Instrument the harness too: its branches are the coverage the fuzzer
    # sees of the outcomes when the Rust core is not instrumented.
    for obj in list(globals().values()):
        if inspect.isfunction(obj) and obj.__module__ == __name__:
            atheris.instrument_func(obj)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
