# ruff: noqa: RUF001  -- look-alike characters are what the normalizers are tested on
"""Blind indexes: vectors, differential tests, truncation, normalizers,
compound fields, key versions during a rotation, the planner, hygiene; the
separation of index keys from Box keys, and OWASP's minimum costs.

Expected values are computed here from docs/search.md with hmac, hashlib and
argon2-cffi: an index hashes under HMAC-SHA256(K, "sealbox/v1/blind-index/key"
|| 0x00 || algorithm), never under K."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import math
import os
import pickle
import sqlite3
import struct
import threading
import time
from collections import Counter
from typing import Any

import nacl.bindings as sodium
import pytest
import sealbox
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sealbox import BlindIndex, Box, EnvelopeKeyProvider, Keyring, hazmat, plan_bits
from sealbox import normalizers as nz

from .conftest import VECTOR_COUNTS, load_vectors

argon2 = pytest.importorskip("argon2.low_level")

KEY = bytes(range(32))
K1, K2 = b"\x01" * 32, b"\x02" * 32
h = bytes.fromhex


def hash_key(key: bytes, algorithm: str = "hmac-sha256") -> bytes:
    """docs/search.md: the key an index hashes with, from the key it is given."""
    return hmac.digest(key, b"sealbox/v1/blind-index/key\x00" + algorithm.encode(), "sha256")


HK = hash_key(KEY)


def cffi(value: bytes, salt: bytes, t: int, m: int, p: int, n: int, kind: Any) -> bytes:
    return argon2.hash_secret_raw(
        value, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=n, type=kind
    )


# --- vectors -------------------------------------------------------------------------------------


def test_wycheproof_hmac_and_blind_index() -> None:
    """Every Wycheproof HMAC-SHA256 case with a 256-bit key, full and 128-bit tags, through
    the HMAC BlindIndex runs; a BlindIndex of the message is that HMAC under its hash key,
    truncated to the tag's bits."""
    data = load_vectors("wycheproof/hmac_sha256_test.json")
    counts: Counter[str] = Counter()
    for group in data["testGroups"]:
        if group["keySize"] != 256:
            continue
        size = group["tagSize"] // 8
        for t in group["tests"]:
            key, msg = h(t["key"]), h(t["msg"])
            matches = hazmat.hmac_sha256(key, msg)[:size] == h(t["tag"])
            assert matches == (t["result"] == "valid"), t["tcId"]
            index = BlindIndex(key, bits=group["tagSize"])
            assert index.compute(msg) == hmac.digest(hash_key(key), msg, "sha256")[:size]
            assert index.compute_batch([msg]) == [index.compute(msg)]
            counts[f"blind index {t['result']}"] += 1
    VECTOR_COUNTS["hmac_sha256_test.json (hazmat, BlindIndex)"] = counts
    assert counts["blind index valid"] == 54 and counts["blind index invalid"] == 108


def test_rfc4231_hmac_sha256() -> None:
    # RFC 4231 keys are not 32 bytes, so they run through the same RustCrypto HMAC via hazmat.
    counts: Counter[str] = Counter()
    for v in load_vectors("rfc_vectors.json")["hmac_sha256"]:
        mac = hazmat.hmac_sha256(h(v["key"]), h(v["data"]))
        assert mac == h(v["mac"]) if "mac" in v else mac[:16] == h(v["mac_truncated_128"])
        counts["hmac"] += 1
    assert counts["hmac"] == 7


def test_argon2id_rfc9106_and_reference_vectors() -> None:
    counts: Counter[str] = Counter()
    for v in load_vectors("rfc_vectors.json")["argon2id"]:
        assert int(v["version"]) == 0x13
        out = hazmat.argon2id(
            h(v["password"]),
            h(v["salt"]),
            t=int(v["time_cost"]),
            m=int(v["memory_kib"]),
            p=int(v["parallelism"]),
            length=int(v["tag_length"]),
            secret=h(v["secret"]) or None,
            associated_data=h(v["associated_data"]) or None,
        )
        assert out == h(v["tag"]), v["id"]
        counts["argon2id"] += 1
    VECTOR_COUNTS["rfc_vectors.json (argon2id)"] = counts
    assert counts["argon2id"] == 9


def test_wycheproof_pbkdf2_and_blind_index_agree() -> None:
    """Wycheproof PBKDF2 through hazmat; BlindIndex's PBKDF2 (salt = hash key) equals hashlib's."""
    data = load_vectors("wycheproof/pbkdf2_hmacsha256_test.json")
    checked = 0
    for group in data["testGroups"]:
        for t in group["tests"]:
            if t["iterationCount"] > 4096 or t["dkLen"] > 64:
                continue
            pw = h(t["password"])
            dk = hazmat.pbkdf2_hmac_sha256(pw, h(t["salt"]), t["iterationCount"], t["dkLen"])
            assert dk == h(t["dk"]), t["tcId"]
            index = BlindIndex(
                KEY, "pbkdf2-sha256", iterations=t["iterationCount"], length=t["dkLen"], allow_weak=True
            )
            assert index.compute(pw) == hashlib.pbkdf2_hmac(
                "sha256", pw, hash_key(KEY, "pbkdf2-sha256"), t["iterationCount"], t["dkLen"]
            )
            checked += 1
    assert checked >= 30


# --- differential --------------------------------------------------------------------------------

VALUES = [b"", b"a", b"alice@example.org", "Zoë".encode(), os.urandom(100), os.urandom(1000)]


@pytest.mark.parametrize("kind", ["argon2id", "argon2i"])
def test_argon2_differential_against_argon2_cffi(kind: str) -> None:
    ty = argon2.Type.ID if kind == "argon2id" else argon2.Type.I
    salt = hash_key(KEY, kind)
    for t, m, p, length in [(3, 4096, 1, 32), (1, 64, 1, 16), (2, 256, 2, 32), (1, 32, 4, 48)]:
        index = BlindIndex(KEY, kind, t=t, m=m, p=p, length=length, allow_weak=True)  # type: ignore[arg-type]
        assert index.params == {"t": t, "m": m, "p": p}
        for v in VALUES:
            assert index.compute(v) == cffi(v, salt, t, m, p, length, ty)
        assert index.compute_batch(VALUES) == [cffi(v, salt, t, m, p, length, ty) for v in VALUES]
        hazmat_fn = hazmat.argon2id if kind == "argon2id" else hazmat.argon2i
        assert hazmat_fn(b"pw", KEY, t=t, m=m, p=p, length=length) == cffi(b"pw", KEY, t, m, p, length, ty)


def test_hmac_pbkdf2_scrypt_differential_against_hashlib() -> None:
    fast = BlindIndex(KEY)
    assert fast.compute_batch(VALUES) == [hmac.digest(HK, v, "sha256") for v in VALUES]
    pb = BlindIndex(KEY, "pbkdf2-sha256", iterations=1000, allow_weak=True)
    salt = hash_key(KEY, "pbkdf2-sha256")
    assert pb.compute_batch(VALUES) == [hashlib.pbkdf2_hmac("sha256", v, salt, 1000) for v in VALUES]
    sc = BlindIndex(KEY, "scrypt", n=1024, r=8, p=2, length=20, allow_weak=True)
    salt = hash_key(KEY, "scrypt")
    want = [hashlib.scrypt(v, salt=salt, n=1024, r=8, p=2, dklen=20) for v in VALUES]
    assert sc.compute_batch(VALUES) == want
    assert [sc.compute(v) for v in VALUES] == want
    assert hazmat.scrypt(b"pw", b"salt", n=16, r=1, p=1, length=64) == hashlib.scrypt(
        b"pw", salt=b"salt", n=16, r=1, p=1, dklen=64
    )


def test_batches_equal_single_values_across_chunks() -> None:
    values: list[Any] = [os.urandom(i % 70) for i in range(70_000)]
    values[5] = None
    values[66_000] = None
    values[7] = "text é"
    index = BlindIndex(KEY, bits=100, encoding="base64")
    out = index.compute_batch(values)
    assert len(out) == len(values) and out[5] is None and out[66_000] is None
    for i in [0, 1, 7, 65_535, 65_536, 65_537, 69_999]:
        assert out[i] == index.compute(values[i])
    assert index.compute_batch(iter(values[:1000])) == out[:1000]
    assert index.compute_batch(tuple(values[:10]), threads=1) == out[:10]
    assert index.compute_batch([]) == []


def test_arrow_columns_in_and_out() -> None:
    pa = pytest.importorskip("pyarrow")
    values = [b"a", None, b"", os.urandom(50), "é".encode()]
    raw = BlindIndex(KEY, bits=100)
    for kind in (pa.binary(), pa.large_binary()):
        out = raw.compute_batch(pa.array(values, type=kind))
        assert out.type == pa.binary(13) and out.null_count == 1
        assert out.to_pylist() == raw.compute_batch(values)
    texts = ["x", None, "ÿ", ""]
    for encoding in ("hex", "base64"):
        idx = BlindIndex(KEY, "pbkdf2-sha256", iterations=10, encoding=encoding, allow_weak=True)  # type: ignore[call-overload]
        for kind in (pa.string(), pa.large_string()):
            out = idx.compute_batch(pa.array(texts, type=kind))
            assert out.type == (pa.large_string() if kind == pa.large_string() else pa.string())
            assert out.to_pylist() == idx.compute_batch(texts)
    chunked = pa.chunked_array([pa.array(["a", "b"]), pa.array([None, "c"])])
    assert raw.compute_batch(chunked).to_pylist() == raw.compute_batch(["a", "b", None, "c"])
    sliced = pa.array(["x", None, "y", "z"]).slice(1, 2)
    assert raw.compute_batch(sliced).to_pylist() == raw.compute_batch([None, "y"])
    lowered = BlindIndex(KEY, normalize="lower")
    assert lowered.compute_batch(pa.array(["A", None])).to_pylist() == lowered.compute_batch(["a", None])
    with pytest.raises(TypeError, match="binary or string"):
        raw.compute_batch(pa.array([1, 2]))


# --- outputs and truncation ----------------------------------------------------------------------


def test_encodings_and_truncation() -> None:
    full = hmac.digest(HK, b"v", "sha256")
    assert BlindIndex(KEY).compute(b"v") == full
    assert BlindIndex(KEY, encoding="hex").compute(b"v") == full.hex()
    assert BlindIndex(KEY, encoding="base64").compute(b"v") == base64.b64encode(full).decode()
    assert BlindIndex(KEY, bits=16).compute(b"v") == full[:2]
    twelve = BlindIndex(KEY, bits=12).compute(b"v")
    assert twelve == bytes([full[0], full[1] & 0xF0])
    assert BlindIndex(KEY, bits=1).compute(b"v") in (b"\x00", b"\x80")
    assert BlindIndex(KEY, bits=12, encoding="hex").compute(b"v") == twelve.hex()
    slow = BlindIndex(KEY, "argon2id", t=1, m=64, length=64, bits=300, allow_weak=True)
    assert slow.compute(b"v") == (lambda x: x[:37] + bytes([x[37] & 0xF0]))(
        cffi(b"v", hash_key(KEY, "argon2id"), 1, 64, 1, 64, argon2.Type.ID)
    )


@pytest.mark.parametrize("bits", [4, 8, 11])
def test_truncated_values_are_uniform(bits: int) -> None:
    index = BlindIndex(KEY, bits=bits)
    buckets = 1 << bits
    n = buckets * 200
    out = index.compute_batch([i.to_bytes(4, "big") for i in range(n)])
    counts = Counter(int.from_bytes(v, "big") >> (len(v) * 8 - bits) for v in out)
    assert all(int.from_bytes(v, "big") & ((1 << (len(v) * 8 - bits)) - 1) == 0 for v in out)
    assert set(counts) <= set(range(buckets))
    expected = n / buckets
    chi2 = sum((counts.get(b, 0) - expected) ** 2 / expected for b in range(buckets))
    # The chi-square statistic has `buckets - 1` degrees of freedom; 5 sigma above its mean.
    dof = buckets - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof), chi2


# --- normalizers ---------------------------------------------------------------------------------


def test_normalizers_on_unicode_input() -> None:
    assert nz.nfkc("ＡＢＣ ﬁ ①") == "ABC fi 1"
    assert nz.nfkc("e\u0301") == "é"
    assert nz.casefold("Straße") == nz.casefold("STRASSE") == "strasse"
    assert nz.lower("ÀÉÎ") == "àéî" and nz.lower("Σ") == "σ"
    assert nz.strip("\u3000\t alice \n\u00a0") == "alice"  # noqa: B005
    assert nz.digits("١٢٣-٤٥ ６７ 89") == "123456789"
    assert nz.digits("no digits") == ""
    assert nz.last(4)("123-45-6789") == "6789" and nz.last(4)("12") == "12"
    assert nz.lower(b"\xc3\x89MILE") == "émile"
    assert nz.digits(1984) == "1984"
    with pytest.raises(ValueError, match="UTF-8"):
        nz.lower(b"\xff")
    with pytest.raises(TypeError):
        nz.lower(1.5)
    with pytest.raises(ValueError):
        nz.last(0)


def test_normalize_option_composes_in_order() -> None:
    email = BlindIndex(KEY, normalize=["strip", "nfkc", "casefold"])
    plain = BlindIndex(KEY)
    for variant in [
        "alice@example.org",
        " ALICE@example.org ",
        "Ａｌｉｃｅ@example.org",
        b"ALICE@EXAMPLE.ORG",
    ]:
        assert email.compute(variant) == plain.compute(b"alice@example.org")
    ssn = BlindIndex(KEY, normalize=[nz.digits, "last4"])
    assert ssn.compute("123-45-6789") == ssn.compute("6789") == plain.compute(b"6789")
    assert BlindIndex(KEY, normalize=["last4", nz.digits]).compute("123-45-6789") == plain.compute(b"6789")
    assert BlindIndex(KEY, normalize=["last4", "digits"]).compute("12-3-4") == plain.compute(b"34")
    custom = BlindIndex(KEY, normalize=lambda v: None if v == "" else v.upper())
    assert custom.compute("") is None and custom.compute("x") == plain.compute(b"X")
    assert email.compute_batch([" A ", None, "b"]) == [plain.compute(b"a"), None, plain.compute(b"b")]
    with pytest.raises(ValueError, match="unknown normalizer"):
        BlindIndex(KEY, normalize="upper")


# --- compound indexes ----------------------------------------------------------------------------


def pack(*pieces: bytes) -> bytes:
    return struct.pack("<I", len(pieces)) + b"".join(struct.pack("<Q", len(p)) + p for p in pieces)


def test_compound_index_over_two_fields() -> None:
    idx = BlindIndex(
        KEY, fields=["last_name", "birth_year"], normalize={"last_name": ["strip", "casefold"]}, bits=32
    )
    a = idx.compute({"last_name": " Smith ", "birth_year": 1984})
    assert a == idx.compute(("smith", 1984)) == idx.compute(["SMITH", "1984"])
    assert a == hmac.digest(HK, pack(b"smith", b"1984"), "sha256")[:4]
    assert idx.compute(("smith", 1985)) != a
    assert idx.compute(("smith", None)) is None and idx.compute(None) is None
    assert idx.compute_batch([("smith", 1984), ("x", None), {"last_name": "Smith", "birth_year": 1984}]) == [
        a,
        None,
        a,
    ]
    assert idx.fields == 2
    # The encoding is unambiguous: moving bytes between fields changes the value.
    two = BlindIndex(KEY, fields=2)
    assert two.compute(("ab", "c")) != two.compute(("a", "bc"))
    assert two.compute(("", "abc")) != two.compute(("abc", ""))
    for bad in ["smith1984", ("smith",), ("a", "b", "c")]:
        with pytest.raises((TypeError, ValueError)):
            two.compute(bad)
    with pytest.raises(ValueError, match="missing"):
        idx.compute({"last_name": "x"})
    with pytest.raises(ValueError, match="not in fields"):
        BlindIndex(KEY, fields=["a"], normalize={"b": "lower"})


# --- key versions and rotation -------------------------------------------------------------------


def test_versions_and_lookup_values() -> None:
    idx = BlindIndex({1: K1, 2: K2}, active=2)
    assert idx.versions == [1, 2] and idx.active_version == 2
    v1, v2 = hmac.digest(hash_key(K1), b"v", "sha256"), hmac.digest(hash_key(K2), b"v", "sha256")
    assert idx.compute(b"v") == v2
    assert idx.compute(b"v", version=1) == v1
    assert idx.lookup_values(b"v") == [v2, v1]
    assert idx.compute_batch([b"v"], version=1) == [v1]
    assert idx.lookup_values(None) == [None]
    with pytest.raises(ValueError, match="version 3"):
        idx.compute(b"v", version=3)
    with pytest.raises(ValueError, match="active="):
        BlindIndex({1: K1, 2: K2})
    assert BlindIndex(K1.hex()).compute(b"v") == BlindIndex(base64.b64encode(K1).decode()).compute(b"v")
    assert BlindIndex(K1).versions == [1]


def test_search_keeps_working_during_a_simulated_rotation() -> None:
    """Rows indexed under key version 1 are re-indexed to version 2 in batches;
    every lookup finds its row before, during and after, with one IN (...) query."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email BLOB, email_bidx BLOB)")
    box = Box(Keyring({1: os.urandom(32)}))
    emails = [f"user{i}@example.org" for i in range(1000)]
    old = BlindIndex({1: K1}, normalize="casefold")
    rows = zip(
        range(1000),
        box.encrypt_batch([e.encode() for e in emails], [f"users/{i}/email" for i in range(1000)]),
        old.compute_batch(emails),
        strict=True,
    )
    db.executemany("INSERT INTO users VALUES (?, ?, ?)", rows)
    both = BlindIndex({1: K1, 2: K2}, active=2, normalize="casefold")

    def find(index: BlindIndex[bytes], email: str) -> list[int]:
        values = index.lookup_values(email)
        marks = ",".join("?" * len(values))
        return [r[0] for r in db.execute(f"SELECT id FROM users WHERE email_bidx IN ({marks})", values)]

    probes = [0, 250, 499, 500, 999]
    for step in range(0, 1000, 250):
        for i in probes:
            assert find(both, emails[i].upper()) == [i]
        batch = db.execute(
            "SELECT id, email FROM users WHERE id >= ? AND id < ?", (step, step + 250)
        ).fetchall()
        new = both.reindex_batch(box, [m for _, m in batch], [f"users/{i}/email" for i, _ in batch])
        updates = [(b, i) for (i, _), b in zip(batch, new, strict=True)]
        db.executemany("UPDATE users SET email_bidx = ? WHERE id = ?", updates)
    only_new = BlindIndex({2: K2}, normalize="casefold")
    for i in probes:
        assert find(only_new, emails[i]) == [i]
        assert find(old, emails[i]) == []
    stored = [r[0] for r in db.execute("SELECT email_bidx FROM users ORDER BY id")]
    assert stored == only_new.compute_batch(emails)


def test_reindex_batch_reports_failures_as_asked() -> None:
    box = Box(KEY)
    idx = BlindIndex(K2)
    messages = box.encrypt_batch([b"a", b"b"])
    assert idx.reindex_batch(box, messages) == idx.compute_batch([b"a", b"b"])
    broken = [messages[0], b"garbage"]
    with pytest.raises(sealbox.DecryptionError):
        idx.reindex_batch(box, broken)
    assert idx.reindex_batch(box, broken, errors="return") == [idx.compute(b"a"), None]
    with pytest.raises(TypeError, match="compound"):
        BlindIndex(K2, fields=2).reindex_batch(box, messages)


def test_index_keys_from_a_master_key() -> None:
    """HKDF-SHA256(master, salt="sealbox/v1/blind-index", info=pack(table, column, index)),
    checked against cryptography's HKDF, then hashed under its own label as any index key."""
    master = os.urandom(32)
    idx = BlindIndex.from_master_key(master, table="users", column="email", index="email_exact")
    want_key = HKDF(
        hashes.SHA256(), 32, salt=b"sealbox/v1/blind-index", info=pack(b"users", b"email", b"email_exact")
    ).derive(master)
    assert idx.compute(b"v") == hmac.digest(hash_key(want_key), b"v", "sha256")
    argon = BlindIndex.from_master_key(
        master, "argon2id", t=1, m=64, allow_weak=True, table="users", column="email", index="email_exact"
    )
    assert argon.compute(b"v") == cffi(b"v", hash_key(want_key, "argon2id"), 1, 64, 1, 32, argon2.Type.ID)
    others = [
        BlindIndex.from_master_key(master, table="users", column="email", index="email_ci"),
        BlindIndex.from_master_key(master, table="users", column="phone", index="email_exact"),
        BlindIndex.from_master_key(master, table="people", column="email", index="email_exact"),
    ]
    assert len({idx.compute(b"v"), *(o.compute(b"v") for o in others)}) == 4
    rotated = BlindIndex.from_master_key(
        {1: master, 2: K2},
        "argon2id",
        t=1,
        m=64,
        allow_weak=True,
        table="users",
        column="email",
        index="e",
        active=2,
    )
    assert rotated.versions == [1, 2] and len(set(rotated.lookup_values(b"v"))) == 2
    with pytest.raises(ValueError):
        BlindIndex.from_master_key(master, table="", column="email", index="x")


# --- one key bytes as a Box key and an index key ------------------------------------------------


def prf(key: bytes, label: str, *parts: bytes) -> bytes:
    """docs/format.md's PRF, the derivation of every key a Box uses."""
    return hmac.digest(key, label.encode() + b"\0" + b"".join(parts), "sha256")


def header(suite: int, key_id: int) -> bytes:
    return bytes([1, suite]) + key_id.to_bytes(4, "big")


def box_keys_and_their_inputs(key: bytes, kid: int, ctx: bytes) -> dict[str, tuple[bytes, bytes]]:
    """Each key a Box derives from `key` (docs/format.md, computed here with hmac), shown to
    open a message the Box sealed, with the HMAC input that derives it: the value an attacker
    would have indexed under `key` when the index hashed with the key itself."""
    ring = Keyring({kid: key})
    out: dict[str, tuple[bytes, bytes]] = {}
    h2 = header(2, kid)
    xkey = prf(key, "sealbox/v1/xchacha20-poly1305", h2)
    m = Box(ring, algorithm="xchacha20-poly1305").encrypt(b"secret", context=ctx)
    assert sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(m[54:], m[:54] + ctx, m[6:30], xkey) == b"secret"
    out["xchacha20-poly1305 key"] = (b"sealbox/v1/xchacha20-poly1305\0" + h2, xkey)

    h3 = header(3, kid)
    mac, enc = prf(key, "sealbox/v1/aes-256-siv/mac", h3), prf(key, "sealbox/v1/aes-256-siv/enc", h3)
    m = Box(ring, deterministic=True).encrypt(b"secret", context=ctx)
    assert AESSIV(mac + enc).decrypt(m[30:], [m[:30], ctx]) == b"secret"
    out["aes-256-siv mac key"] = (b"sealbox/v1/aes-256-siv/mac\0" + h3, mac)
    out["aes-256-siv enc key"] = (b"sealbox/v1/aes-256-siv/enc\0" + h3, enc)

    m = Box(ring).encrypt(b"secret", context=ctx)
    subkey = prf(key, "sealbox/v1/aes-256-gcm", m[:6], m[6:22])
    assert AESGCM(subkey).decrypt(bytes(12), m[46:], m[:46] + ctx) == b"secret"
    out["aes-256-gcm subkey"] = (b"sealbox/v1/aes-256-gcm\0" + m[:22], subkey)

    h4 = header(4, kid)
    wrap_key = prf(key, "sealbox/v1/envelope/wrap", h4)
    m = Box(EnvelopeKeyProvider(ring)).encrypt(b"secret", context=ctx)
    wrapped = m[9 : 9 + 60]
    data_key = AESGCMSIV(wrap_key).decrypt(wrapped[:12], wrapped[12:], m[:7] + ctx)
    assert len(data_key) == 32
    out["envelope wrap key"] = (b"sealbox/v1/envelope/wrap\0" + h4, wrap_key)
    out["commitment"] = (b"sealbox/v1/commit\0" + h2, prf(key, "sealbox/v1/commit", h2))
    return out


def test_one_key_as_box_and_index_reveals_no_box_key() -> None:
    """Indexing a chosen value under the bytes of a Box key gave that Box's keys away when an
    index hashed with its key itself (HMAC-SHA256(K, value)); it hashes under its own label now."""
    key, ctx = os.urandom(32), b"users/1/ssn"
    chosen = box_keys_and_their_inputs(key, 7, ctx)
    values = [value for value, _ in chosen.values()]
    box_keys = {box_key for _, box_key in chosen.values()}
    for index in [
        BlindIndex(key),
        BlindIndex(key, encoding="hex"),
        BlindIndex({1: os.urandom(32), 2: key}, active=1),
        BlindIndex.from_master_key(key, table="users", column="ssn", index="ssn"),
    ]:
        out = [*(index.compute(v) for v in values), *index.compute_batch(values)]
        out += [x for v in values for x in index.lookup_values(v)]
        got = {bytes.fromhex(x) if isinstance(x, str) else x for x in out}
        leaked = [name for name, (_, box_key) in chosen.items() if box_key in got]
        assert leaked == [], repr(index)
    # What the index computes instead, as docs/search.md writes it.
    assert BlindIndex(key).compute_batch(values) == [hmac.digest(hash_key(key), v, "sha256") for v in values]
    assert not box_keys & {hmac.digest(hash_key(key), v, "sha256") for v in values}


def test_hash_keys_differ_by_algorithm_and_from_every_box_key() -> None:
    key = os.urandom(32)
    names = ["hmac-sha256", "argon2id", "argon2i", "pbkdf2-sha256", "scrypt"]
    keys = {hash_key(key, name) for name in names}
    assert len(keys) == len(names)
    assert not keys & {box_key for _, box_key in box_keys_and_their_inputs(key, 1, b"").values()}
    weak: dict[str, Any] = {"allow_weak": True, "length": 16}
    out = {
        "argon2id": BlindIndex(key, "argon2id", t=1, m=64, **weak).compute(b"v"),
        "argon2i": BlindIndex(key, "argon2i", t=1, m=64, **weak).compute(b"v"),
        "pbkdf2-sha256": BlindIndex(key, "pbkdf2-sha256", iterations=2, **weak).compute(b"v"),
        "scrypt": BlindIndex(key, "scrypt", n=4, r=1, p=1, **weak).compute(b"v"),
    }
    salt = hash_key
    assert out == {
        "argon2id": cffi(b"v", salt(key, "argon2id"), 1, 64, 1, 16, argon2.Type.ID),
        "argon2i": cffi(b"v", salt(key, "argon2i"), 1, 64, 1, 16, argon2.Type.I),
        "pbkdf2-sha256": hashlib.pbkdf2_hmac("sha256", b"v", salt(key, "pbkdf2-sha256"), 2, 16),
        "scrypt": hashlib.scrypt(b"v", salt=salt(key, "scrypt"), n=4, r=1, p=1, dklen=16),
    }


# --- costs: OWASP's minimums, or an explicit opt-in ----------------------------------------------


def test_slow_algorithms_default_to_owasps_minimums() -> None:
    # OWASP Password Storage Cheat Sheet: Argon2id m=19 MiB t=2 p=1; PBKDF2-HMAC-SHA256
    # 600,000; scrypt N=2**17 r=8 p=1. Argon2i from t=3 on: m=12 MiB t=3.
    argon = BlindIndex(KEY, "argon2id")
    assert argon.params == {"t": 2, "m": 19_456, "p": 1}
    assert argon.compute(b"v") == cffi(b"v", hash_key(KEY, "argon2id"), 2, 19_456, 1, 32, argon2.Type.ID)
    assert BlindIndex(KEY, "argon2i").params == {"t": 3, "m": 12_288, "p": 1}
    pb = BlindIndex(KEY, "pbkdf2-sha256")
    assert pb.params == {"iterations": 600_000}
    assert pb.compute(b"v") == hashlib.pbkdf2_hmac("sha256", b"v", hash_key(KEY, "pbkdf2-sha256"), 600_000)
    sc = BlindIndex(KEY, "scrypt")
    assert sc.params == {"n": 2**17, "r": 8, "p": 1}
    assert sc.compute(b"v") == hashlib.scrypt(
        b"v", salt=hash_key(KEY, "scrypt"), n=2**17, r=8, p=1, dklen=32, maxmem=2**28
    )


WEAK_COSTS: list[tuple[str, dict[str, int]]] = [
    ("argon2id", {"t": 3, "m": 4096}),  # the blind_index gem's defaults
    ("argon2id", {"t": 1, "m": 47_103}),
    ("argon2id", {"t": 2, "m": 19_455}),
    ("argon2id", {"t": 5, "m": 7_167, "p": 2}),
    ("argon2i", {"t": 2, "m": 1 << 20}),  # Argon2i needs 3 passes
    ("argon2i", {"t": 3, "m": 12_287}),
    ("pbkdf2-sha256", {"iterations": 10_000}),
    ("pbkdf2-sha256", {"iterations": 599_999}),
    ("scrypt", {"n": 4096}),
    ("scrypt", {"n": 2**16}),
    ("scrypt", {"n": 2**17, "r": 4}),
    ("scrypt", {"n": 2**13, "p": 9}),
]


@pytest.mark.parametrize(("algorithm", "cost"), WEAK_COSTS, ids=[f"{a}-{c}" for a, c in WEAK_COSTS])
def test_costs_below_owasp_are_refused_without_allow_weak(algorithm: str, cost: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"below OWASP's minimum.*allow_weak=True"):
        BlindIndex(KEY, algorithm, **cost)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="OWASP"):
        BlindIndex.from_master_key(KEY, algorithm, table="t", column="c", index="i", **cost)  # type: ignore[arg-type]
    index = BlindIndex(KEY, algorithm, allow_weak=True, **cost)  # type: ignore[arg-type]
    assert index.params == {**index.params, **cost}


def test_costs_at_any_owasp_configuration_need_no_opt_in() -> None:
    # Each of OWASP's equivalent configurations; only the parameters are checked, not hashed.
    for algorithm, cost in [
        ("argon2id", {"t": 1, "m": 47_104}),
        ("argon2id", {"t": 3, "m": 12_288}),
        ("argon2id", {"t": 4, "m": 9_216, "p": 4}),
        ("argon2id", {"t": 5, "m": 7_168}),
        ("argon2i", {"t": 4, "m": 9_216}),
        ("pbkdf2-sha256", {"iterations": 600_000}),
        ("scrypt", {"n": 2**16, "p": 2}),
        ("scrypt", {"n": 2**15, "p": 3}),
        ("scrypt", {"n": 2**14, "p": 5}),
        ("scrypt", {"n": 2**13, "r": 8, "p": 10}),
    ]:
        assert BlindIndex(KEY, algorithm, **cost).params == {  # type: ignore[arg-type]
            **BlindIndex(KEY, algorithm).params,  # type: ignore[arg-type]
            **cost,
        }
    # A parameter that cannot run at all says so, with or without the opt-in.
    for allow_weak in (False, True):
        with pytest.raises(ValueError, match="argon2 t"):
            BlindIndex(KEY, "argon2id", t=0, allow_weak=allow_weak)
    with pytest.raises(TypeError):
        BlindIndex(KEY, allow_weak="yes")  # type: ignore[call-overload]


# --- the planner ---------------------------------------------------------------------------------


def test_planner() -> None:
    plan = plan_bits(1_000_000, 10)
    assert plan.bits == 17  # 1e6 / 2**17 = 7.6 <= 10 < 1e6 / 2**16
    assert plan.false_positives == pytest.approx(1_000_000 / 2**17)
    # CipherSweet's range for a million rows: between 2 and sqrt(rows) = 1000 rows per value.
    assert (plan.min_bits, plan.max_bits) == (10, 19) and plan.safe
    unique = plan_bits(1_000_000, 0.001)
    assert unique.bits == 30 and not unique.safe and unique.coincidences < 2
    assert plan_bits(100, 1000).bits == 1
    # Another 8-bit index on the same field narrows what this one may keep.
    assert plan_bits(1_000_000, 10, other_bits=[8]).max_bits == 11
    # A field with 1 bit of entropy (a boolean) cannot be narrowed by more bits.
    boolean = plan_bits(1_000_000, 10, input_bits=1)
    assert boolean.false_positives == 500_000 and boolean.max_bits == 1
    with pytest.raises(ValueError):
        plan_bits(0, 1)
    with pytest.raises(ValueError):
        plan_bits(10, 0)
    assert len(BlindIndex(KEY, bits=plan.bits).compute(b"x")) == 3


# --- the blind_index gem -------------------------------------------------------------------------

GEM_MASTER = "0" * 64
GEM_KEY = "289737bab72fa97b1f4b081cef00d7b7d75034bcf3183c363feaf3e6441777bc"


def test_gem_published_vectors() -> None:
    from sealbox.compat import blind_index_gem, gem_index_key

    # test/blind_index_test.rb, test_index_key
    assert gem_index_key(GEM_MASTER, table="users", bidx_attribute="email_bidx") == GEM_KEY
    assert gem_index_key(bytes(32), table="users", bidx_attribute="email_bidx") == GEM_KEY
    # README "Compatibility": argon2id t=3 m=4096 p=1, 32 bytes, base64
    email = blind_index_gem(GEM_MASTER, table="users", bidx_attribute="email_bidx")
    assert email.compute("test@example.org") == "kSqBXqdAhgnZAvwGcZ/17SUCg+V6t7xnJ8CO/gRDSjU="
    assert email.compute(None) is None


def test_gem_modes_costs_and_aliases() -> None:
    from sealbox.compat import blind_index_gem

    key = h(GEM_KEY)
    kw: dict[str, Any] = {"table": "users", "bidx_attribute": "email_bidx"}

    def gem(**more: Any) -> Any:
        return blind_index_gem(GEM_MASTER, **kw, **more)

    v = "test@example.org"
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    assert gem(algorithm="argon2i").compute(v) == b64(cffi(v.encode(), key, 3, 4096, 1, 32, argon2.Type.I))
    # The gem's `argon2` alias is Argon2i (blind_index.rb), not Argon2id.
    assert gem(algorithm="argon2").compute(v) == gem(algorithm="argon2i").compute(v)
    assert gem(cost={"t": 4, "m": 13}, allow_weak=True).compute(v) == b64(
        cffi(v.encode(), key, 4, 8192, 1, 32, argon2.Type.ID)
    )
    assert gem(slow=True).compute(v) == b64(cffi(v.encode(), key, 4, 1 << 15, 1, 32, argon2.Type.ID))
    assert gem(size=16, encode=False).compute(v) == cffi(v.encode(), key, 3, 4096, 1, 16, argon2.Type.ID)
    pb = hashlib.pbkdf2_hmac("sha256", v.encode(), key, 10_000, 32)
    assert gem(algorithm="pbkdf2_sha256").compute(v) == b64(pb)
    assert gem(algorithm="pbkdf2_hmac").compute(v) == b64(pb)
    assert gem(
        algorithm="pbkdf2_hmac", cost={"iterations": 1000}, size=20, encode=False, allow_weak=True
    ).compute(v) == hashlib.pbkdf2_hmac("sha256", v.encode(), key, 1000, 20)
    assert gem(algorithm="scrypt", cost={"n": 1024, "r": 4, "p": 2}, allow_weak=True).compute(v) == b64(
        hashlib.scrypt(v.encode(), salt=key, n=1024, r=4, p=2, dklen=32)
    )
    assert gem(algorithm="scrypt").compute(v) == b64(
        hashlib.scrypt(v.encode(), salt=key, n=4096, r=8, p=1, dklen=32)
    )
    # The gem hashes `value.to_s`: an Integer as its digits; `expression:` first.
    assert gem(algorithm="pbkdf2").compute(12345) == gem(algorithm="pbkdf2").compute("12345")
    assert gem(expression=str.lower).compute("TEST@example.org") == gem().compute(v)
    for bad in [{"cost": {"t": 2}}, {"cost": {"m": 23}}, {"size": 33}, {"size": 3}, {"algorithm": "md5"}]:
        with pytest.raises(ValueError):
            gem(**bad)
    with pytest.raises(ValueError, match="iterations"):
        gem(cost={"iterations": 5})
    with pytest.raises(ValueError, match="master key"):
        blind_index_gem("abc", **kw)


def test_gem_presets_need_no_opt_in_and_other_weak_costs_do() -> None:
    from sealbox.compat import blind_index_gem

    key = h(GEM_KEY)
    v = "test@example.org"

    def gem(**more: Any) -> Any:
        return blind_index_gem(GEM_MASTER, table="users", bidx_attribute="email_bidx", encode=False, **more)

    # The gem's defaults and `slow: true` (blind_index.rb), hashed with the gem's key as they are.
    presets: list[tuple[dict[str, Any], bytes]] = [
        ({}, cffi(v.encode(), key, 3, 4096, 1, 32, argon2.Type.ID)),
        ({"cost": {"t": 3, "m": 12}}, cffi(v.encode(), key, 3, 4096, 1, 32, argon2.Type.ID)),
        ({"slow": True}, cffi(v.encode(), key, 4, 1 << 15, 1, 32, argon2.Type.ID)),
        ({"algorithm": "argon2i"}, cffi(v.encode(), key, 3, 4096, 1, 32, argon2.Type.I)),
        ({"algorithm": "argon2i", "slow": True}, cffi(v.encode(), key, 3, 4096, 1, 32, argon2.Type.I)),
        ({"algorithm": "pbkdf2_sha256"}, hashlib.pbkdf2_hmac("sha256", v.encode(), key, 10_000)),
        ({"algorithm": "pbkdf2", "slow": True}, hashlib.pbkdf2_hmac("sha256", v.encode(), key, 100_000)),
        ({"algorithm": "scrypt"}, hashlib.scrypt(v.encode(), salt=key, n=4096, r=8, p=1, dklen=32)),
    ]
    for options, want in presets:
        assert gem(**options).compute(v) == want, options
    for options in [
        {"cost": {"t": 3, "m": 13}},
        {"cost": {"t": 4, "m": 12}},
        {"algorithm": "pbkdf2_sha256", "cost": {"iterations": 20_000}},
        {"algorithm": "scrypt", "cost": {"n": 8192}},
        {"algorithm": "scrypt", "cost": {"r": 16}},
    ]:
        with pytest.raises(ValueError, match="OWASP"):
            gem(**options)
        gem(allow_weak=True, **options)
    # Costs at OWASP's minimums need nothing either.
    assert gem(cost={"t": 3, "m": 14}).params == {"t": 3, "m": 1 << 14, "p": 1}


# --- API and hygiene -----------------------------------------------------------------------------


def test_values_none_types() -> None:
    idx = BlindIndex(KEY)
    assert idx.compute(None) is None
    assert idx.compute("é") == idx.compute("é".encode()) == idx.compute(bytearray("é".encode()))
    assert idx.compute(memoryview(b"x")) == idx.compute(b"x")
    assert idx.compute(-12) == idx.compute(b"-12")
    for bad in [True, 1.5, object(), ["a"]]:
        with pytest.raises(TypeError):
            idx.compute(bad)
    with pytest.raises(TypeError, match=r"values\[1\]"):
        idx.compute_batch([b"a", 1.5])
    with pytest.raises(TypeError, match="single"):
        idx.compute_batch(b"abc")


def test_misuse_is_refused_with_a_clear_error() -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"algorithm": "md5"}, ValueError, "unknown algorithm"),
        ({"bits": 0}, ValueError, "bits"),
        ({"bits": 257}, ValueError, "bits"),
        ({"length": 33}, ValueError, "length"),
        ({"encoding": "b32"}, ValueError, "encoding"),
        ({"iterations": 5}, TypeError, "does not apply"),
        ({"algorithm": "argon2id", "n": 5}, TypeError, "does not apply"),
        ({"algorithm": "argon2id", "m": 4}, ValueError, "argon2 m"),
        ({"algorithm": "argon2id", "t": 0}, ValueError, "argon2 t"),
        ({"algorithm": "argon2id", "length": 3}, ValueError, "length"),
        ({"algorithm": "scrypt", "n": 1000}, ValueError, "power of two"),
        ({"algorithm": "scrypt", "n": 1 << 30}, ValueError, "scrypt"),
        ({"algorithm": "pbkdf2-sha256", "iterations": 0}, ValueError, "iterations"),
    ]
    for kw, err, msg in cases:
        with pytest.raises(err, match=msg):
            BlindIndex(KEY, **kw)
    with pytest.raises(ValueError, match="32 bytes"):
        BlindIndex(b"short")
    with pytest.raises(TypeError, match="Keyring"):
        BlindIndex(Keyring({1: KEY}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads"):
        BlindIndex(KEY).compute_batch([b"a"], threads=0)
    with pytest.raises(ValueError, match="salt"):
        hazmat.argon2id(b"pw", b"short", t=1, m=8, p=1)
    with pytest.raises(ValueError, match="argon2"):
        hazmat.argon2i(b"pw", KEY, t=1, m=1 << 30, p=1)
    with pytest.raises(ValueError, match="power of two"):
        hazmat.scrypt(b"pw", KEY, n=1000, r=8, p=1)
    with pytest.raises(ValueError, match="length"):
        hazmat.scrypt(b"pw", KEY, n=16, r=1, p=1, length=0)
    # p * r * 128 overflows 64 bits: refused, not a panic (PanicException is no Exception).
    with pytest.raises(ValueError, match="scrypt"):
        hazmat.scrypt(b"pw", KEY, n=2, r=2**28, p=2**29)
    with pytest.raises(ValueError, match="scrypt"):
        BlindIndex(KEY, "scrypt", n=2, r=2**28, p=2**29)


def test_no_key_in_repr_no_pickling_immutable() -> None:
    idx = BlindIndex({1: KEY, 2: K2}, "argon2id", active=1, t=1, m=64, allow_weak=True)
    text = repr(idx) + str(idx)
    assert KEY.hex() not in text and K2.hex() not in text and "argon2id" in text
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(idx, protocol=protocol)
    assert copy.copy(idx) is idx and copy.deepcopy(idx) is idx
    with pytest.raises(AttributeError):
        idx.bits = 3  # type: ignore[misc]


def test_slow_hashes_release_the_gil() -> None:
    idx = BlindIndex(KEY, "argon2id", t=3, m=32 * 1024)
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        idx.compute(b"x")
    finally:
        done.set()
        counter.join()
    assert ticks > 10


def test_one_index_shared_by_threads() -> None:
    idx = BlindIndex(KEY, bits=64, encoding="hex")
    want = {i: idx.compute(str(i)) for i in range(200)}
    errors: list[str] = []

    def work() -> None:
        for _ in range(20):
            got = idx.compute_batch([str(i) for i in range(200)])
            if got != [want[i] for i in range(200)]:
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_compute_batch_stops_reading_an_iterator_at_its_end() -> None:
    # An iterator that is not fused (it could yield again after StopIteration)
    # is read once to its end, never past it.
    class Reader:
        def __init__(self, n: int) -> None:
            self.n, self.calls = n, 0

        def __iter__(self) -> Reader:
            return self

        def __next__(self) -> bytes:
            self.calls += 1
            if self.calls > self.n:
                raise StopIteration
            return b"v"

    reader = Reader(70_000)  # more than one chunk
    assert len(BlindIndex(KEY).compute_batch(reader)) == 70_000
    assert reader.calls == 70_001
