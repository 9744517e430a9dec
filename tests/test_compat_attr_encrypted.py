"""sealbox.compat.attr_encrypted against an independent implementation of attr_encrypted
3.x and encryptor 3.x written from their sources with cryptography, hashlib and base64."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sealbox import DecryptionError
from sealbox.compat.attr_encrypted import AttrEncrypted, evp_bytes_to_key

KEY = b"k" * 32
PASSWORD = b"a password of at least thirty-two bytes"


def ruby_pack_m(b: bytes) -> str:
    text = base64.b64encode(b).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def ref_cipher(algorithm: str, key: bytes, iv: bytes, data: bytes, decrypt: bool = False) -> bytes:
    if algorithm == "aes-256-gcm":
        return AESGCM(key).decrypt(iv, data, b"") if decrypt else AESGCM(key).encrypt(iv, data, b"")
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    if decrypt:
        d = c.decryptor()
        padded = d.update(data) + d.finalize()
        u = padding.PKCS7(128).unpadder()
        return u.update(padded) + u.finalize()
    p = padding.PKCS7(128).padder()
    e = c.encryptor()
    return e.update(p.update(data) + p.finalize()) + e.finalize()


def test_evp_bytes_to_key_matches_openssl() -> None:
    # `openssl enc -aes-256-cbc -P -nosalt -md md5 -k password-for-testing` (one round)
    key, iv = evp_bytes_to_key(b"password-for-testing", 32, 16, count=1)
    assert key.hex().upper() == "D50F35C303A7225923F5DDCC3B891DB611A6F9F17DFCF25E8236B2DAD659BDCB"
    assert iv.hex().upper() == "12AE1300AAD3149A4E27A27C1FE1060F"
    # Ruby's pkcs5_keyivgen runs 2048 rounds: the first block is MD5 applied 2048 times
    block = hashlib.md5(b"pw").digest()
    for _ in range(2047):
        block = hashlib.md5(block).digest()
    assert evp_bytes_to_key(b"pw", 32, 12)[0][:16] == block


@pytest.mark.parametrize(
    ("mode", "algorithm"),
    list(
        itertools.product(
            ["per_attribute_iv", "per_attribute_iv_and_salt", "single_iv_and_salt"],
            ["aes-256-gcm", "aes-256-cbc"],
        )
    ),
)
def test_every_mode_against_the_reference(mode: str, algorithm: str) -> None:
    key = PASSWORD if mode != "per_attribute_iv" else KEY
    attr = AttrEncrypted(key, mode=mode, algorithm=algorithm)  # type: ignore[arg-type]
    iv_len = 12 if algorithm == "aes-256-gcm" else 16
    for value in ("a", "alice@example.org", "ünïcødé", "x" * 200):
        cols = attr.encrypt(value)
        assert set(cols) == {"encrypted", "iv", "salt"}
        enc = cols["encrypted"]
        assert isinstance(enc, str) and enc.endswith("\n")
        raw = base64.b64decode(enc)
        assert enc == ruby_pack_m(raw)
        if mode == "single_iv_and_salt":
            assert cols["iv"] is None and cols["salt"] is None
            k, iv = evp_bytes_to_key(key, 32, iv_len)
            assert attr.encrypt(value)["encrypted"] == enc  # no random IV: deterministic
        else:
            assert isinstance(cols["iv"], str)
            iv = base64.b64decode(cols["iv"])
            assert len(iv) == iv_len and cols["iv"] == ruby_pack_m(iv)
            k = key
            if mode == "per_attribute_iv_and_salt":
                salt_col = cols["salt"]
                assert isinstance(salt_col, str) and salt_col.startswith("_")
                salt = base64.b64decode(salt_col[1:])
                assert len(salt) == 16
                k = hashlib.pbkdf2_hmac("sha1", key, salt, 2000, 32)
            else:
                assert cols["salt"] is None
        assert ref_cipher(algorithm, k, iv, raw, decrypt=True) == value.encode()
        assert attr.decrypt(enc, iv=cols["iv"], salt=cols["salt"]) == value
        # and a value written by the reference decrypts
        if mode == "per_attribute_iv":
            iv2 = os.urandom(iv_len)
            theirs = ruby_pack_m(ref_cipher(algorithm, key, iv2, b"theirs"))
            assert attr.decrypt(theirs, iv=ruby_pack_m(iv2)) == "theirs"


def test_encodings_and_empty_values() -> None:
    raw = AttrEncrypted(KEY, encode=False, encode_iv=False)
    cols = raw.encrypt(b"\x00\xff")
    assert isinstance(cols["encrypted"], bytes) and isinstance(cols["iv"], bytes) and len(cols["iv"]) == 12
    assert raw.decrypt_bytes(cols["encrypted"], iv=cols["iv"]) == b"\x00\xff"
    strict = AttrEncrypted(KEY, encode="m0", encode_iv="m0")
    cols = strict.encrypt("v")
    assert isinstance(cols["encrypted"], str) and "\n" not in cols["encrypted"]
    assert strict.decrypt(cols["encrypted"], iv=cols["iv"]) == "v"
    salted = AttrEncrypted(PASSWORD, mode="per_attribute_iv_and_salt", encode_salt=False)
    cols = salted.encrypt("v")
    assert isinstance(cols["salt"], bytes) and len(cols["salt"]) == 16
    assert salted.decrypt(cols["encrypted"], iv=cols["iv"], salt=cols["salt"]) == "v"
    attr = AttrEncrypted(KEY)
    assert attr.encrypt("") == {"encrypted": "", "iv": None, "salt": None}
    assert attr.encrypt(None) == {"encrypted": None, "iv": None, "salt": None}
    assert attr.decrypt(None) is None and attr.decrypt("") == ""
    empty_ok = AttrEncrypted(KEY, allow_empty_value=True)
    cols = empty_ok.encrypt("")
    assert cols["encrypted"] and empty_ok.decrypt(cols["encrypted"], iv=cols["iv"]) == ""
    long_text = "y" * 1000
    cols = attr.encrypt(long_text)
    assert all(len(line) <= 60 for line in str(cols["encrypted"]).splitlines())


def test_bad_input() -> None:
    attr = AttrEncrypted(KEY)
    cols = attr.encrypt("secret")
    enc, iv = cols["encrypted"], cols["iv"]
    assert isinstance(enc, str) and isinstance(iv, str)
    for bad_enc, bad_iv in [
        (enc, None),
        (enc, ""),
        (enc, ruby_pack_m(os.urandom(12))),
        (enc, ruby_pack_m(os.urandom(16))),
        (ruby_pack_m(base64.b64decode(enc)[:-1]), iv),
        (ruby_pack_m(b"\x01" + base64.b64decode(enc)[1:]), iv),
        ("AAAA", iv),
    ]:
        with pytest.raises(DecryptionError):
            attr.decrypt(bad_enc, iv=bad_iv)
    with pytest.raises(DecryptionError):
        AttrEncrypted(b"z" * 32).decrypt(enc, iv=iv)
    cbc = AttrEncrypted(KEY, algorithm="aes-256-cbc")
    c = cbc.encrypt("secret")
    # CBC has no tag: a wrong key fails on the padding, except about once in 256 times
    try:
        wrong = AttrEncrypted(b"z" * 32, algorithm="aes-256-cbc").decrypt(c["encrypted"], iv=c["iv"])
    except DecryptionError:
        wrong = None
    assert wrong != "secret"
    salted = AttrEncrypted(PASSWORD, mode="per_attribute_iv_and_salt")
    s = salted.encrypt("x")
    with pytest.raises(DecryptionError):
        salted.decrypt(s["encrypted"], iv=s["iv"])
    with pytest.raises(ValueError, match="32 bytes"):
        AttrEncrypted(b"short")
    with pytest.raises(ValueError, match="mode"):
        AttrEncrypted(KEY, mode="per_attribute")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="algorithm"):
        AttrEncrypted(KEY, algorithm="aes-128-gcm")  # type: ignore[arg-type]
