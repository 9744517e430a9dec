"""Public-key boxes: X25519 key pairs, HPKE-wrapped data keys, encrypt-only Boxes."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
import sealbox
from sealbox import DecryptionError, EnvelopeKeyProvider, Message, PrivateKey, PublicKey

VECTORS = Path(__file__).parent / "vectors"


@pytest.fixture(scope="module")
def pair() -> PrivateKey:
    return PrivateKey.generate()


def test_keys_export_and_load_as_bytes_and_text(pair: PrivateKey) -> None:
    pub = pair.public_key
    assert len(pub.public_bytes()) == 32 and len(pair.private_bytes()) == 32
    assert pair.key_id == pub.key_id
    assert PublicKey.from_bytes(pub.public_bytes()) == pub  # the derived id is stable
    assert PublicKey.from_text(pub.to_text()) == pub
    again = PrivateKey.from_text(pair.to_text())
    assert again.public_key == pub and again.private_bytes() == pair.private_bytes()
    assert PrivateKey.from_bytes(pair.private_bytes()).public_key == pub
    chosen = PrivateKey.generate(key_id=7)
    assert chosen.key_id == 7 and PublicKey.from_text(chosen.public_key.to_text()).key_id == 7
    assert PrivateKey.from_text(chosen.to_text()).key_id == 7
    assert PublicKey(pub.public_bytes(), key_id=8) != pub
    # No key bytes in reprs; private keys refuse to be pickled.
    assert pair.to_text().split(":")[2] not in repr(pair)
    assert "PrivateKey(key_id=" in repr(pair)
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(pair)
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(pair._key)


def test_bad_keys_and_texts_are_refused() -> None:
    for bad_text in (
        "",
        "sealbox-x25519-public-v1:1:AAAA",
        "other:1:" + "A" * 43,
        "sealbox-x25519-public-v1:x:y",
    ):
        with pytest.raises(ValueError):
            PublicKey.from_text(bad_text)
    with pytest.raises(ValueError):
        PrivateKey.from_text(PrivateKey.generate().public_key.to_text())
    with pytest.raises(TypeError):
        PublicKey.from_text(b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PublicKey(b"\x01" * 31)
    with pytest.raises(ValueError):
        PrivateKey(b"\x01" * 31)
    with pytest.raises(TypeError):
        PrivateKey("00" * 32)  # type: ignore[arg-type]
    for bad_id in (-1, 1 << 32):
        with pytest.raises(ValueError):
            PrivateKey.generate(key_id=bad_id)
    with pytest.raises(TypeError):
        PrivateKey.generate(key_id=True)


def test_low_order_public_keys_are_refused() -> None:
    """Wycheproof's X25519 cases whose shared secret is all zeros: their public keys have
    small order, and PublicKey refuses each (the Rust core's tests run every case)."""
    data = json.loads((VECTORS / "wycheproof" / "x25519_test.json").read_text())
    low = {t["public"] for g in data["testGroups"] for t in g["tests"] if set(t["shared"]) == {"0"}}
    assert len(low) >= 10
    for public in low:
        with pytest.raises(ValueError, match="small order"):
            PublicKey(bytes.fromhex(public))
    valid = next(t for g in data["testGroups"] for t in g["tests"] if t["result"] == "valid")
    PublicKey(bytes.fromhex(valid["public"]))


def test_a_public_key_box_encrypts_values_batches_and_files_and_cannot_decrypt(pair: PrivateKey) -> None:
    enc = sealbox.Box(pair.public_key)
    dec = sealbox.Box(pair)
    ct = enc.encrypt(b"card 4242", context=b"orders/1")
    assert Message.parse(ct).suite == "envelope" and Message.parse(ct).key_id == pair.key_id
    assert dec.decrypt(ct, context=b"orders/1") == b"card 4242"
    with pytest.raises(DecryptionError):
        dec.decrypt(ct, context=b"orders/2")
    values = [bytes([i % 256]) * 64 for i in range(3000)]
    batch = enc.encrypt_batch(values, [b"c"] * 3000)
    assert dec.decrypt_batch(batch, [b"c"] * 3000) == values
    sealed = io.BytesIO()
    enc.encrypt_file(io.BytesIO(b"scan" * 50_000), sealed, context="f")
    plain = io.BytesIO()
    dec.decrypt_file(io.BytesIO(sealed.getvalue()), plain, context="f")
    assert plain.getvalue() == b"scan" * 50_000
    text = sealbox.Box(pair.public_key, encoding="text").encrypt(b"t")
    assert dec.decrypt(text) == b"t"
    # Every way to decrypt says a private key is needed.
    attempts = [
        lambda: enc.decrypt(ct, context=b"orders/1"),
        lambda: enc.decrypt_batch(batch),
        lambda: enc.rotate_batch(batch),
        lambda: enc.decrypt_file(io.BytesIO(sealed.getvalue()), io.BytesIO(), context="f"),
        lambda: enc.open(io.BytesIO(sealed.getvalue()), context="f"),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="private key"):
            attempt()
    assert not enc.needs_rotation(ct)  # the header alone: no key needed


def test_another_private_key_or_a_tampered_wrap_fails(pair: PrivateKey) -> None:
    ct = sealbox.Box(pair.public_key).encrypt(b"x", context=b"c")
    same_id = PrivateKey.generate(key_id=pair.key_id)
    with pytest.raises(DecryptionError):
        sealbox.Box(same_id).decrypt(ct, context=b"c")
    for i in range(9, 9 + 80, 7):  # the HPKE-wrapped data key: enc, then the sealed key
        bad = bytearray(ct)
        bad[i] ^= 1
        with pytest.raises(DecryptionError):
            sealbox.Box(pair).decrypt(bytes(bad), context=b"c")


def test_a_batch_pays_one_encapsulation_per_chunk(pair: PrivateKey) -> None:
    box = sealbox.Box(EnvelopeKeyProvider(pair.public_key, cache=sealbox.DataKeyCache(max_messages=1000)))
    messages = box.encrypt_batch([b"v" * 64] * 2500)
    wrapped = {Message.parse(m).wrapped_key for m in messages}
    assert len(wrapped) == 3  # 1000 + 1000 + 500
    # Each message still has its own salt, hence its own subkey.
    assert len({Message.parse(m).nonce for m in messages}) == 2500
    assert sealbox.Box(pair).decrypt_batch(messages) == [b"v" * 64] * 2500
    # Without a cache, one data key (one encapsulation) per value, bound to its context.
    single = sealbox.Box(EnvelopeKeyProvider(pair.public_key)).encrypt(b"x", context=b"row")
    assert Message.parse(single).context_bound
    assert sealbox.Box(pair).decrypt(single, context=b"row") == b"x"


def test_a_keyring_of_private_keys_decrypts_and_rotates(tmp_path: Path) -> None:
    old, new = PrivateKey.generate(key_id=1), PrivateKey.generate(key_id=2)
    old_ct = sealbox.Box(old.public_key).encrypt(b"old", context=b"c")
    (tmp_path / "f").write_bytes(b"")
    sealbox.Box(old.public_key).encrypt_file(io.BytesIO(b"file" * 9000), tmp_path / "f", context=b"c")
    ring = sealbox.Box(EnvelopeKeyProvider(new, previous=[old]))
    assert ring.decrypt(old_ct, context=b"c") == b"old"
    assert ring.needs_rotation(old_ct)
    (rotated,) = ring.rotate_batch([old_ct], [b"c"])
    assert Message.parse(rotated).key_id == 2
    assert sealbox.Box(new).decrypt(rotated, context=b"c") == b"old"
    before = (tmp_path / "f").read_bytes()
    assert ring.rotate_file(tmp_path / "f")
    after = (tmp_path / "f").read_bytes()
    assert len(after) == len(before) and after[-1000:] == before[-1000:]
    out = io.BytesIO()
    sealbox.Box(new).decrypt_file(tmp_path / "f", out, context=b"c")
    assert out.getvalue() == b"file" * 9000
    with pytest.raises(ValueError, match="KEK id"):
        EnvelopeKeyProvider(new, previous=[PrivateKey.generate(key_id=2)])


# libsodium sealed boxes (sealbox.hazmat.SealedBox) against PyNaCl and the KAT file.


def test_sealed_boxes_open_both_ways_with_pynacl() -> None:
    from nacl.public import PrivateKey as NaclPrivate
    from nacl.public import SealedBox as NaclSealed
    from sealbox.hazmat import SealedBox

    for size in (0, 1, 31, 32, 1000, 70_000):
        message = bytes(range(256)) * (size // 256) + bytes(size % 256)
        ours = PrivateKey.generate()
        theirs = NaclPrivate.generate()
        sealed = SealedBox(ours.public_key).encrypt(message)
        assert len(sealed) == size + 48
        assert NaclSealed(NaclPrivate(ours.private_bytes())).decrypt(sealed) == message
        from_nacl = NaclSealed(theirs.public_key).encrypt(message)
        assert SealedBox(PrivateKey(bytes(theirs))).decrypt(from_nacl) == message
        assert SealedBox(PublicKey(bytes(theirs.public_key))).encrypt(message) != from_nacl
        with pytest.raises(DecryptionError):
            SealedBox(ours).decrypt(from_nacl)


def test_sealed_box_known_answers_and_negatives() -> None:
    from sealbox.hazmat import SealedBox

    kat = json.loads((VECTORS / "sealed_box_kat.json").read_text())
    box = SealedBox(PrivateKey(bytes.fromhex(kat["recipient_private"])))
    assert box._public == bytes.fromhex(kat["recipient_public"])
    for v in kat["vectors"]:
        assert box.decrypt(bytes.fromhex(v["sealed"])) == bytes.fromhex(v["msg"])
    assert len(kat["negative"]) == 4
    for v in kat["negative"]:
        with pytest.raises(DecryptionError):
            box.decrypt(bytes.fromhex(v["sealed"]))


def test_sealed_box_misuse() -> None:
    from sealbox.hazmat import SealedBox

    key = PrivateKey.generate()
    with pytest.raises(TypeError, match="private key"):
        SealedBox(key.public_key).decrypt(SealedBox(key.public_key).encrypt(b"x"))
    with pytest.raises(TypeError):
        SealedBox(b"\x01" * 32)  # type: ignore[arg-type]
    for short in (b"", b"\x00" * 47):
        with pytest.raises(DecryptionError):
            SealedBox(key).decrypt(short)
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(SealedBox(key))
    assert key.to_text().split(":")[2] not in repr(SealedBox(key))
