"""sealbox.compat.rails against Rails' own test vector (ruby-anchors.md §3) and an
independent implementation of Active Record Encryption written here from the Rails
sources with hashlib, hmac, zlib, json, msgpack and cryptography's AESGCM."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import zlib
from typing import Any

import msgpack
import pytest
import sealbox
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st
from sealbox import DecryptionError
from sealbox.compat.rails import DEFAULT_MAX_INFLATED_SIZE, Encryptor

# test/support/encryption_config.rb in Rails
DET = "test deterministic key"
SALT = "testing key derivation salt"
PRIMARY = "test primary key"

# --- the reference implementation ----------------------------------------------------------------


def derive(password: str, salt: str = SALT, digest: str = "sha256") -> bytes:
    return hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), 1 << 16, 32)


def key_id(key: bytes) -> str:
    return hashlib.sha1(key).hexdigest()[:4]


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def ref_seal(
    key: bytes, pt: bytes, deterministic: bool, iv: bytes | None = None
) -> tuple[bytes, bytes, bytes]:
    if iv is None:
        iv = hmac.digest(key, pt, "sha256")[:12] if deterministic else os.urandom(12)
    out = AESGCM(key).encrypt(iv, pt, b"")
    return out[:-16], iv, out[-16:]


def ref_encrypt(
    key: bytes,
    value: str | bytes,
    *,
    deterministic: bool = False,
    compress: bool = True,
    ref: str | None = None,
    encoding: str | None = None,
    msgpack_form: bool = False,
    envelope: tuple[bytes, bytes] | None = None,
) -> Any:
    """Encryptor#encrypt as Rails writes it. `envelope` = (data key, primary key)."""
    if isinstance(value, str):
        pt, enc = value.encode(), encoding
    else:
        pt, enc = value, encoding or "ASCII-8BIT"
    if deterministic and enc is not None:
        pt = b"".join(bytes([c]) if c < 0x80 else "\ufffd".encode() for c in pt)
        enc = None
    compressed = compress and len(pt) > 140
    if compressed:
        pt = zlib.compress(pt)
    headers: dict[str, Any] = {}
    if envelope:
        dk, kek = envelope
        k_ct, k_iv, k_at = ref_seal(kek, dk, False)
        ct, iv, at = ref_seal(dk, pt, False)
        nested = {"p": k_ct, "h": {"iv": k_iv, "at": k_at, "e": b"ASCII-8BIT"}}
    else:
        ct, iv, at = ref_seal(key, pt, deterministic)
    headers["iv"], headers["at"] = iv, at
    if enc is not None:
        headers["e"] = enc.encode()
    if envelope:
        headers["k"] = nested
    if ref is not None:
        headers["i"] = ref.encode()
    if compressed:
        headers["c"] = True
    if msgpack_form:

        def mp(h: dict[str, Any]) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for name, v in h.items():
                sym = msgpack.ExtType(0, name.encode())
                if name == "k":
                    out[sym] = {"p": v["p"], "h": mp(v["h"])}
                elif name in ("e", "i"):
                    out[sym] = v.decode()  # a str, not bin
                else:
                    out[sym] = v
            return out

        # An empty payload keeps the plaintext's (UTF-8) encoding: msgpack str.
        payload: Any = ct if ct or enc == "ASCII-8BIT" else ""
        return msgpack.packb(128) + msgpack.packb({"p": payload, "h": mp(headers)})

    def js(h: dict[str, Any]) -> dict[str, Any]:
        return {
            n: ({"p": b64(v["p"]), "h": js(v["h"])} if n == "k" else v if v is True else b64(v))
            for n, v in h.items()
        }

    return json.dumps({"p": b64(ct), "h": js(headers)}, separators=(",", ":"))


def ref_decrypt(keys: list[bytes], message: str) -> bytes:
    data = json.loads(message)
    h = data["h"]
    ct, iv, at = (base64.b64decode(x) for x in (data["p"], h["iv"], h["at"]))
    for key in keys:
        try:
            pt = AESGCM(key).decrypt(iv, ct + at, b"")
        except Exception:
            continue
        return zlib.decompress(pt) if h.get("c") else pt
    raise AssertionError("no key")


# --- §3: the Rails test suite's vector -----------------------------------------------------------

DUNE = '{"p":"DIohhw==","h":{"iv":"wEPaDcJP3VNIxaiz","at":"X7+2xvvcu1k1if6Dy28Esw=="}}'


def test_rails_test_suite_vector() -> None:
    # encryptable_record_test.rb "deterministic ciphertexts remain constant", SHA1 derivation
    rails = Encryptor(deterministic_key=DET, key_derivation_salt=SALT, hash_digest_class="SHA1")
    assert rails.encrypt("Dune", deterministic=True) == DUNE
    assert rails.decrypt(DUNE) == "Dune"
    assert ref_encrypt(derive(DET, digest="sha1"), "Dune", deterministic=True) == DUNE
    # With SHA256 the IV would be kfbFGCd8hLihylB4 (ruby-anchors.md §3).
    sha256 = Encryptor(deterministic_key=DET, key_derivation_salt=SALT)
    assert json.loads(sha256.encrypt("Dune", deterministic=True))["h"]["iv"] == "kfbFGCd8hLihylB4"
    with pytest.raises(DecryptionError):
        sha256.decrypt(DUNE)
    # A 7.1 app still reading what 7.0 wrote: the SHA1 scheme as a previous one.
    migrated = Encryptor(
        deterministic_key=DET, key_derivation_salt=SALT, previous=[{"hash_digest_class": "SHA1", "key": DET}]
    )
    assert migrated.decrypt(DUNE) == "Dune"


# --- deterministic messages equal Rails' byte for byte -------------------------------------------

VALUES: list[str | bytes] = [
    "",
    "a",
    "alice@example.org",
    "ünïcødé ✓ 😀",
    "x" * 140,  # not compressed
    "x" * 141,  # compressed
    "".join(chr(32 + i % 90) for i in range(1024)),
    b"binary \x00\x01",  # ASCII-8BIT, forced to UTF-8 by deterministic mode
    b"\xff\xfe high bytes",  # each high byte becomes U+FFFD
]


@pytest.mark.parametrize("digest", ["SHA1", "SHA256"])
@pytest.mark.parametrize("serializer", ["json", "message_pack"])
@pytest.mark.parametrize("refs", [False, True])
def test_deterministic_messages_are_rails_bytes(digest: str, serializer: str, refs: bool) -> None:
    rails = Encryptor(
        PRIMARY,
        DET,
        SALT,
        hash_digest_class=digest,
        store_key_references=refs,
        serializer=serializer,  # type: ignore[arg-type]
    )
    key = derive(DET, digest=digest.lower())
    for value in VALUES:
        want = ref_encrypt(
            key,
            value,
            deterministic=True,
            ref=key_id(key) if refs else None,
            msgpack_form=serializer == "message_pack",
        )
        got = rails.encrypt(value, deterministic=True)
        assert got == want, value
        assert rails.encrypt(value, deterministic=True) == got  # equal across calls
        back = rails.decrypt(got)
        if isinstance(value, bytes):
            assert back == value.decode("utf-8", "replace")  # forced to UTF-8, as Rails does
        else:
            assert back == value
    assert rails.encrypt_batch(VALUES, deterministic=True) == [
        rails.encrypt(v, deterministic=True) for v in VALUES
    ]


def test_deterministic_equal_across_instances_and_compression_off() -> None:
    a = Encryptor(PRIMARY, DET, SALT)
    b = Encryptor([PRIMARY], [DET], SALT)
    big = "y" * 500
    assert a.encrypt(big, deterministic=True) == b.encrypt(big, deterministic=True)
    plain = Encryptor(PRIMARY, DET, SALT, compress=False)
    got = plain.encrypt(big, deterministic=True)
    assert got == ref_encrypt(derive(DET), big, deterministic=True, compress=False)
    assert "c" not in json.loads(got)["h"]
    assert a.decrypt(got) == big and plain.decrypt(a.encrypt(big, deterministic=True)) == big


def test_compression_header_and_zlib_bytes() -> None:
    rails = Encryptor(PRIMARY, DET, SALT)
    m = json.loads(rails.encrypt("z" * 141, deterministic=True))
    assert m["h"]["c"] is True and list(m["h"]) == ["iv", "at", "c"]
    assert json.loads(rails.encrypt("z" * 140, deterministic=True))["h"].keys() == {"iv", "at"}
    # The payload is zlib's default-level stream (the same library Ruby's Zlib uses).
    pt = AESGCM(derive(DET)).decrypt(
        base64.b64decode(m["h"]["iv"]), base64.b64decode(m["p"]) + base64.b64decode(m["h"]["at"]), b""
    )
    assert pt == zlib.compress(b"z" * 141)


# --- non-deterministic: every option, both ways ---------------------------------------------------

OPTIONS = list(
    itertools.product(
        ["derived", "envelope"],
        [False, True],  # store_key_references
        [True, False],  # compress
        ["json", "message_pack"],
        ["SHA1", "SHA256"],
    )
)


@pytest.mark.parametrize(("provider", "refs", "compress", "serializer", "digest"), OPTIONS)
def test_round_trips_every_option(
    provider: str, refs: bool, compress: bool, serializer: str, digest: str
) -> None:
    rails = Encryptor(
        [PRIMARY + "-old", PRIMARY],
        DET,
        SALT,
        hash_digest_class=digest,
        key_provider=provider,  # type: ignore[arg-type]
        store_key_references=refs,
        compress=compress,
        serializer=serializer,  # type: ignore[arg-type]
    )
    primary = derive(PRIMARY, digest=digest.lower())
    for value in VALUES:
        m = rails.encrypt(value)
        assert isinstance(m, str if serializer == "json" else bytes)
        assert rails.decrypt(m) == value
        assert rails.encrypt(value) != m  # random IVs
        assert rails.decrypt(rails.encrypt(value, deterministic=True)) is not None
        if serializer == "json":
            h = json.loads(m)["h"]
            expect = ["iv", "at"]
            if isinstance(value, bytes):
                expect.append("e")
            if provider == "envelope":
                expect.append("k")
            if refs:
                expect.append("i")
            raw = value.encode() if isinstance(value, str) else value
            if compress and len(raw) > 140:
                expect.append("c")
            assert list(h) == expect
            if refs:
                assert base64.b64decode(h["i"]).decode() == key_id(primary)
            if provider == "envelope":
                dk = ref_decrypt([primary], json.dumps(h["k"]))
                assert list(h["k"]["h"]) == ["iv", "at", "e"]
                assert base64.b64decode(h["k"]["h"]["e"]) == b"ASCII-8BIT"
                assert ref_decrypt([dk], m) == raw
            else:
                assert ref_decrypt([primary], m) == raw
    batch = rails.encrypt_batch([*VALUES, None])
    assert batch[-1] is None
    assert rails.decrypt_batch(batch) == [*VALUES, None]


@pytest.mark.parametrize("serializer", ["json", "message_pack"])
@pytest.mark.parametrize("envelope", [False, True])
def test_reads_reference_messages(serializer: str, envelope: bool) -> None:
    """Messages written the way Rails writes them (independently built here) decrypt."""
    rails = Encryptor(PRIMARY, DET, SALT, serializer=serializer)  # type: ignore[arg-type]
    if envelope:
        rails = Encryptor(PRIMARY, DET, SALT, key_provider="envelope")
    primary = derive(PRIMARY)
    for value in VALUES:
        for refs in (False, True):
            env = (os.urandom(32), primary) if envelope else None
            m = ref_encrypt(
                primary,
                value,
                ref=key_id(primary) if refs else None,
                msgpack_form=serializer == "message_pack",
                envelope=env,
            )
            assert rails.decrypt(m) == value


def test_message_pack_layout() -> None:
    rails = Encryptor(PRIMARY, DET, SALT, serializer="message_pack", store_key_references=True)
    m = rails.encrypt("hello", deterministic=True)
    assert isinstance(m, bytes) and m[:2] == b"\xcc\x80"
    assert m[2:6] == b"\x82\xa1p\xc4"  # {"p" => bin, ...}
    assert b"\xd5\x00iv\xc4\x0c" in m and b"\xd5\x00at\xc4\x10" in m and b"\xd4\x00i\xa4" in m
    empty = rails.encrypt("", deterministic=True)
    assert empty[2:6] == b"\x82\xa1p\xa0"  # "".dup keeps UTF-8: str, not bin
    assert rails.encrypt(b"").__contains__(b"\xa1p\xc4\x00")  # a binary "" is bin
    assert rails.decrypt(empty) == "" and rails.decrypt(rails.encrypt(b"")) == b""
    unpacker = msgpack.Unpacker(strict_map_key=False)
    unpacker.feed(m)
    sig, body = list(unpacker)
    assert sig == 128 and list(body) == ["p", "h"]
    assert list(body["h"]) == [msgpack.ExtType(0, name) for name in (b"iv", b"at", b"i")]


# --- encodings (the `e` header) -----------------------------------------------------------------


def test_encodings() -> None:
    rails = Encryptor(PRIMARY, DET, SALT)
    # A cast Integer is a US-ASCII String in Rails: header e = "US-ASCII".
    m = rails.encrypt("42", encoding="US-ASCII")
    assert base64.b64decode(json.loads(m)["h"]["e"]) == b"US-ASCII"
    assert rails.decrypt(m) == "42" and rails.decrypt_raw(m) == (b"42", "US-ASCII")
    # Deterministic mode forces UTF-8, so no `e`.
    assert rails.encrypt("42", encoding="US-ASCII", deterministic=True) == rails.encrypt(
        "42", deterministic=True
    )
    latin = rails.encrypt("café", encoding="ISO-8859-1")
    assert rails.decrypt_raw(latin) == ("café".encode("latin-1"), "ISO-8859-1")
    assert rails.decrypt(latin) == "café"
    assert rails.encrypt("café", encoding="ISO-8859-1", deterministic=True) == rails.encrypt(
        "café", deterministic=True
    )
    binary = rails.encrypt(b"\x00\xff")
    assert base64.b64decode(json.loads(binary)["h"]["e"]) == b"ASCII-8BIT"
    assert rails.decrypt(binary) == b"\x00\xff"
    assert rails.decrypt_raw(rails.encrypt("x")) == (b"x", None)
    # bytes that are not UTF-8 under a text encoding keep every byte
    odd = rails.encrypt(b"\xff", encoding="UTF-8")
    assert rails.decrypt(odd) == "\udcff" and rails.decrypt_raw(odd) == (b"\xff", None)
    assert rails.decrypt(rails.encrypt("\udcff")) == "\udcff"
    with pytest.raises(ValueError):
        rails.encrypt("x", encoding="no-such-encoding")


# --- keys: rotation, references, previous schemes --------------------------------------------------


def test_rotation_and_key_references() -> None:
    old = Encryptor("old", None, SALT, store_key_references=True)
    new = Encryptor(["old", "new"], None, SALT, store_key_references=True)
    m_old = old.encrypt("v")
    assert new.decrypt(m_old) == "v"
    m_new = new.encrypt("v")
    assert base64.b64decode(json.loads(m_new)["h"]["i"]).decode() == key_id(derive("new"))
    with pytest.raises(DecryptionError):
        old.decrypt(m_new)
    assert new.key_references()[0] == [key_id(derive("old")), key_id(derive("new"))]
    # A reference to a key this encryptor does not have: DecryptionError, no trial.
    forged = json.loads(m_old)
    forged["h"]["i"] = b64(b"ffff" if key_id(derive("old")) != "ffff" else b"0000")
    with pytest.raises(DecryptionError):
        new.decrypt(json.dumps(forged, separators=(",", ":")))
    # Without the `i` header, every key is tried.
    del forged["h"]["i"]
    assert new.decrypt(json.dumps(forged)) == "v"


def test_sha1_support_and_previous_schemes() -> None:
    sha1 = Encryptor("pk", "dk", SALT, hash_digest_class="SHA1")
    m = sha1.encrypt("old message")
    current = Encryptor("pk", "dk", SALT)
    with pytest.raises(DecryptionError):
        current.decrypt(m)
    both = Encryptor("pk", "dk", SALT, support_sha1_for_non_deterministic_encryption=True)
    assert both.decrypt(m) == "old message"
    # Rails' SHA1 scheme covers the primary key only (non-deterministic encryption).
    with pytest.raises(DecryptionError):
        both.decrypt(sha1.encrypt("x", deterministic=True))
    moved = Encryptor(
        "pk2",
        "dk2",
        "other salt",
        previous=[
            {
                "primary_key": "pk",
                "deterministic_key": "dk",
                "key_derivation_salt": SALT,
                "hash_digest_class": "SHA1",
            },
            {"key": "attribute password", "key_derivation_salt": SALT},
            {"keys": [bytes(32)]},
        ],
    )
    assert moved.decrypt(m) == "old message"
    assert moved.decrypt(sha1.encrypt("d", deterministic=True)) == "d"
    attr = Encryptor("attribute password", None, SALT)
    assert moved.decrypt(attr.encrypt("per-attribute key")) == "per-attribute key"
    raw = json.dumps(
        {"p": "", "h": {"iv": b64(bytes(12)), "at": b64(AESGCM(bytes(32)).encrypt(bytes(12), b"", b""))}}
    )
    assert moved.decrypt(raw) == ""
    with pytest.raises(ValueError, match="unknown options"):
        Encryptor("pk", None, SALT, previous=[{"primary": "x"}])
    with pytest.raises(ValueError, match="names no key"):
        Encryptor("pk", None, SALT, previous=[{"key_derivation_salt": "x"}])


def test_envelope_and_derived_read_each_other_only_through_previous() -> None:
    env = Encryptor("pk", None, SALT, key_provider="envelope")
    derived = Encryptor("pk", None, SALT)
    m = env.encrypt("enveloped")
    with pytest.raises(DecryptionError):
        derived.decrypt(m)
    both = Encryptor("pk", None, SALT, previous=[{"primary_key": "pk", "key_provider": "envelope"}])
    assert both.decrypt(m) == "enveloped" and both.decrypt(derived.encrypt("d")) == "d"


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="primary_key, deterministic_key"):
        Encryptor()
    with pytest.raises(ValueError, match="key_derivation_salt"):
        Encryptor("pk")
    with pytest.raises(ValueError, match="hash_digest_class"):
        Encryptor("pk", None, SALT, hash_digest_class="MD5")
    with pytest.raises(ValueError, match="serializer"):
        Encryptor("pk", None, SALT, serializer="yaml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key_provider"):
        Encryptor("pk", None, SALT, key_provider="kms")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no key"):
        Encryptor("pk", None, SALT).encrypt("x", deterministic=True)
    with pytest.raises(ValueError, match="no key"):
        Encryptor(None, "dk", SALT).encrypt("x")
    with pytest.raises(TypeError):
        Encryptor("pk", None, SALT).encrypt(42)  # type: ignore[arg-type]
    assert Encryptor("pk", None, SALT, hash_digest_class="OpenSSL::Digest::SHA1").encrypt("x")
    with pytest.raises(TypeError, match="pickle"):
        import pickle

        pickle.dumps(Encryptor("pk", None, SALT))


# --- bad input: always DecryptionError -----------------------------------------------------------


def bad_messages(good: str) -> list[Any]:
    m = json.loads(good)
    out: list[Any] = [
        "",
        "not json",
        "{}",
        "[]",
        "null",
        '"p"',
        '{"p":null,"h":{}}',
        '{"p":1,"h":{}}',
        '{"p":"","h":[]}',
        '{"p":"","h":"x"}',
        good[:-1],
        good + " x",
        good.replace('"p":"', '"p":"!'),
        b"\xcc\x80",
        b"\xcc\x80\x81\xa1p",
        b"\xcc\x81" + b"\x80",
        b"\xff" * 10,
        "{" * 1000,
    ]
    for name in ("iv", "at"):
        for change in (b"", b"x" * 11, b"x" * 13, b"x" * 17, b"x" * 15):
            t = json.loads(good)
            t["h"][name] = b64(change)
            out.append(json.dumps(t))
        t = json.loads(good)
        del t["h"][name]
        out.append(json.dumps(t))
        t = json.loads(good)
        t["h"][name] = 5
        out.append(json.dumps(t))
    # one flipped bit in the payload, the IV and the tag
    for field in ("p", "iv", "at"):
        t = json.loads(good)
        holder = t if field == "p" else t["h"]
        raw = bytearray(base64.b64decode(holder[field]))
        raw[0] ^= 1
        holder[field] = b64(bytes(raw))
        out.append(json.dumps(t))
    # a truncated tag that GCM would accept if its length were not checked (Rails' guard)
    t = json.loads(good)
    t["h"]["at"] = b64(base64.b64decode(m["h"]["at"])[:12])
    out.append(json.dumps(t))
    # arrays, deep nesting, invalid base64 in any header
    for bad in ([1], {"p": "", "h": {"x": {"p": "", "h": {}}}}, "@@@", "YQ"):
        t = json.loads(good)
        t["h"]["x"] = bad
        out.append(json.dumps(t))
    t = json.loads(good)
    t["h"]["e"] = b64(b"NO-SUCH-ENCODING")
    out.append(json.dumps(t))
    t = json.loads(good)
    t["h"]["c"] = True  # claims compression: not a zlib stream
    out.append(json.dumps(t))
    return out


def test_bad_messages_raise_decryption_error() -> None:
    rails = Encryptor(PRIMARY, DET, SALT)
    good = rails.encrypt("secret value")
    assert isinstance(good, str)
    bad = bad_messages(good)
    for m in bad:
        with pytest.raises(DecryptionError):
            rails.decrypt(m)
    # in a batch: errors="return" gives None for each, errors="raise" names the item
    assert rails.decrypt_batch([good, *bad], errors="return") == ["secret value"] + [None] * len(bad)
    with pytest.raises(DecryptionError, match="item 1"):
        rails.decrypt_batch([good, bad[0]])
    with pytest.raises(TypeError):
        rails.decrypt(42)  # type: ignore[arg-type]
    assert rails.is_encrypted(good) and not rails.is_encrypted("plain text") and not rails.is_encrypted(None)


def test_message_pack_bad_input() -> None:
    rails = Encryptor(PRIMARY, DET, SALT, serializer="message_pack")
    good = rails.encrypt("v")
    assert isinstance(good, bytes)
    for i in range(len(good)):
        with pytest.raises(DecryptionError):
            rails.decrypt(good[:i])
    for i in range(2, len(good)):
        flipped = bytearray(good)
        flipped[i] ^= 0x40
        with contextlib.suppress(DecryptionError):
            assert rails.decrypt(bytes(flipped)) == "v"  # only a change Ruby ignores too
    with pytest.raises(DecryptionError):
        rails.decrypt(good + b"\x00")
    extra_types = msgpack.packb(128) + msgpack.packb({"p": b"", "h": {msgpack.ExtType(5, b"x"): 1}})
    with pytest.raises(DecryptionError):
        rails.decrypt(extra_types)


def test_zip_bomb_is_a_decryption_error() -> None:
    key = derive(PRIMARY)
    rails = Encryptor(PRIMARY, DET, SALT)
    bomb = zlib.compress(bytes(DEFAULT_MAX_INFLATED_SIZE + 1), 9)
    ct, iv, at = ref_seal(key, bomb, False)
    m = json.dumps({"p": b64(ct), "h": {"iv": b64(iv), "at": b64(at), "c": True}}, separators=(",", ":"))
    assert len(m) < 200_000
    with pytest.raises(DecryptionError):
        rails.decrypt(m)
    assert rails.decrypt_batch([m], errors="return") == [None]
    roomy = Encryptor(PRIMARY, DET, SALT, max_inflated_size=DEFAULT_MAX_INFLATED_SIZE + 1)
    assert len(roomy.decrypt(m)) == DEFAULT_MAX_INFLATED_SIZE + 1
    # exactly the bound inflates, one byte more does not
    small = Encryptor(PRIMARY, DET, SALT, max_inflated_size=1000)
    assert small.decrypt(small.encrypt("a" * 1000)) == "a" * 1000
    with pytest.raises(DecryptionError):
        small.decrypt(small.encrypt("a" * 1001))
    # a truncated stream under a valid tag
    ct, iv, at = ref_seal(key, zlib.compress(b"a" * 500)[:-3], False)
    with pytest.raises(DecryptionError):
        rails.decrypt(json.dumps({"p": b64(ct), "h": {"iv": b64(iv), "at": b64(at), "c": True}}))


def test_json_forms_ruby_accepts() -> None:
    """What Ruby's JSON.parse and strict_decode64 accept: whitespace, escaped
    slashes, any key order, unknown headers; non-canonical base64 is refused."""
    rails = Encryptor(None, DET, SALT, hash_digest_class="SHA1")
    m = json.loads(DUNE)
    loose = json.dumps(
        {"h": {"x": 1, "at": m["h"]["at"], "iv": m["h"]["iv"], "n": None}, "p": m["p"]}, indent=2
    )
    assert rails.decrypt(loose.replace("/", "\\/")) == "Dune"
    assert rails.decrypt(json.dumps(m, ensure_ascii=True).encode()) == "Dune"
    t = json.loads(DUNE)
    t["h"]["c"] = False
    t["h"]["i"] = None
    assert rails.decrypt(json.dumps(t)) == "Dune"
    t["h"]["iv"] = m["h"]["iv"][:-1] + "b"  # "z" -> "b": a different IV, the tag fails
    with pytest.raises(DecryptionError):
        rails.decrypt(json.dumps(t))
    t = json.loads(DUNE)
    t["p"] = "DIohhw="  # unpadded: strict_decode64 refuses it
    with pytest.raises(DecryptionError):
        rails.decrypt(json.dumps(t))


# --- batches ----------------------------------------------------------------------------------------


def test_batches_match_single_calls() -> None:
    rails = Encryptor(PRIMARY, DET, SALT, store_key_references=True)
    values = [f"user{i}@example.org" * (i % 13) for i in range(5000)] + [b"\x00\xff", None]
    for threads in (None, 1, 2):
        msgs = rails.encrypt_batch(values, threads=threads)
        assert rails.decrypt_batch(msgs, threads=threads) == values
        assert rails.decrypt_batch(tuple(msgs)) == values
        assert rails.decrypt_batch(iter(msgs)) == values
    det = rails.encrypt_batch(values, deterministic=True)
    assert det == [None if v is None else rails.encrypt(v, deterministic=True) for v in values]
    with pytest.raises(TypeError, match="values\\[1\\]"):
        rails.encrypt_batch(["a", 1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single"):
        rails.decrypt_batch("abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rails.decrypt_batch([], errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rails.decrypt_batch([], threads=0)
    assert rails.encrypt_batch([]) == [] and rails.decrypt_batch([]) == []


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(), st.binary()), st.booleans())
def test_property_round_trip(value: str | bytes, deterministic: bool) -> None:
    rails = _PROPERTY
    m = rails.encrypt(value, deterministic=deterministic)
    back = rails.decrypt(m)
    if deterministic and isinstance(value, bytes):
        assert back == "".join(chr(c) if c < 0x80 else "\ufffd" for c in value)
    else:
        assert back == value


_PROPERTY = Encryptor(PRIMARY, DET, SALT, key_provider="envelope", store_key_references=True)


def test_package_names() -> None:
    import sealbox.compat.rails as mod

    assert sealbox.compat.rails is mod and mod.Encryptor is Encryptor
    assert "Encryptor" in repr(Encryptor(PRIMARY, None, SALT))


# --- sealbox rotate --from rails ------------------------------------------------------------------


def test_rotate_from_rails_reports_rows_that_do_not_decrypt(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from sealbox import cli, codecs, column_context, tables

    rails = Encryptor(PRIMARY, DET, SALT)
    path = str(tmp_path / "app.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, avatar BLOB)")
    rows = [
        (1, rails.encrypt("a@example.org"), None),
        (2, rails.encrypt("b@example.org", deterministic=True), None),
    ]
    rows.append((3, Encryptor("other key", None, SALT).encrypt("c@example.org"), None))
    rows.append((4, None, None))
    db.executemany("INSERT INTO users VALUES (?, ?, ?)", rows)
    db.commit()
    key = bytes(range(32))
    monkeypatch.setenv("SEALBOX_KEYS", f"1:{key.hex()}")
    monkeypatch.setenv("ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY", PRIMARY)
    monkeypatch.setenv("ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY", DET)
    monkeypatch.setenv("ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT", SALT)
    argv = ["rotate", "--from", "rails", "--db", path, "--table", "users", "--column", "email", "--json"]
    assert cli.main([*argv, "--dry-run"]) == 1  # row 3 would fail
    assert db.execute("SELECT email FROM users WHERE id = 1").fetchone()[0].startswith("{")
    assert cli.main(argv) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [f["key"] for f in report["failed"]] == [3] and report["remaining"] == 1
    box = sealbox.Box(sealbox.Keyring({1: key}))
    got = dict(db.execute("SELECT id, email FROM users").fetchall())
    ctx = column_context("users", "email")
    assert codecs.decode(box.decrypt(got[1], context=ctx)) == "a@example.org"
    assert codecs.decode(box.decrypt(got[2], context=ctx)) == "b@example.org"
    assert got[3] == rows[2][1] and got[4] is None  # left as it was
    assert tables.status(path, "users", "email").not_encrypted == 1
    monkeypatch.delenv("ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT")
    assert cli.main(argv) == 2  # stopped: no salt
    assert "KEY_DERIVATION_SALT" in capsys.readouterr().err
