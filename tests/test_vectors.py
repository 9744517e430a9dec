"""Every applicable Wycheproof and RFC vector through sealbox.hazmat.

Each test runs all cases of one file, collects every mismatch (with its tcId)
and reports how many valid and invalid cases it checked.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sealbox
from sealbox import hazmat

from .conftest import VECTOR_COUNTS, VECTORS, load_vectors

PINNED = {
    "aes_gcm_test.json": "985e5ecc172e181eaf49e89508b9470dcf478002eb7e8559c707eb42dc97dfe7",
    "aes_siv_cmac_test.json": "8619a04fbe63c0431caaade07f94c688261a0f3ee4850d761bec1200b590930c",
    "aead_aes_siv_cmac_test.json": "1932de9a77d4c81815466b6f748351dbe533cfa6b5154cf1112965f709c408f1",
    "chacha20_poly1305_test.json": "fe61d25f90e1bde4461d00eafe61049e5f29bd999f36b766df9cda90906ad53d",
    "xchacha20_poly1305_test.json": "a79de072571b90eb40c3a63ce0c7f75dcb4b62323c8870228e1f61dcc61d63a9",
    "hmac_sha256_test.json": "2d201cfa61d1bf95e6f5d07d96634b4a348b31e8eaa277ad7c8d09677b7a743f",
    "hkdf_sha256_test.json": "bb2b462a38b251cb52a2aede706d6d4b62b26864f4e80c95497507ddb07c5f1e",
    "pbkdf2_hmacsha256_test.json": "1bf37af2cefe40c829ee9ecebb3505bb6424be8824bc97aa3e1c2076e860d192",
}

h = bytes.fromhex


def cases(name: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    data = load_vectors(f"wycheproof/{name}")
    seen = 0
    for group in data["testGroups"]:
        for test in group["tests"]:
            seen += 1
            yield group, test
    assert seen == data["numberOfTests"]


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def check(self, ok: bool, label: str, tc: object) -> None:
        self.counts[label] += 1
        if not ok:
            self.failures.append(f"tcId {tc} ({label})")

    def done(self) -> None:
        VECTOR_COUNTS[self.name] = self.counts
        assert not self.failures, f"{len(self.failures)} failures: {self.failures[:20]}"
        assert sum(self.counts.values()) > 0


def rejects(fn: Callable[[], object], *errors: type[BaseException]) -> bool:
    try:
        fn()
    except errors:
        return True
    return False


@pytest.mark.parametrize("name", sorted(PINNED))
def test_vector_files_are_the_pinned_copies(name: str) -> None:
    digest = hashlib.sha256((VECTORS / "wycheproof" / name).read_bytes()).hexdigest()
    assert digest == PINNED[name]


def aead_file(name: str, make: Callable[[bytes], Any], nonce_len: int) -> None:
    tally = Tally(name)
    for group, t in cases(name):
        key, iv, aad, msg = h(t["key"]), h(t["iv"]), h(t["aad"]), h(t["msg"])
        sealed = h(t["ct"]) + h(t["tag"])
        if group["ivSize"] // 8 != nonce_len:
            # sealbox accepts only the standard nonce size: refusing is the right answer.
            ok = rejects(lambda: make(key).encrypt(iv, msg, aad), ValueError) and rejects(
                lambda: make(key).decrypt(iv, sealed, aad), ValueError
            )
            tally.check(ok, "nonce-size refused", t["tcId"])
            continue
        aead = make(key)
        if t["result"] == "valid":
            ok = aead.encrypt(iv, msg, aad) == sealed and aead.decrypt(iv, sealed, aad) == msg
            tally.check(ok, "valid", t["tcId"])
        else:
            tally.check(
                rejects(lambda: aead.decrypt(iv, sealed, aad), sealbox.DecryptionError),
                "invalid",
                t["tcId"],
            )
    tally.done()


def test_wycheproof_aes_gcm() -> None:
    aead_file("aes_gcm_test.json", hazmat.AESGCM, 12)


def test_wycheproof_chacha20_poly1305() -> None:
    aead_file("chacha20_poly1305_test.json", hazmat.ChaCha20Poly1305, 12)


def test_wycheproof_xchacha20_poly1305() -> None:
    aead_file("xchacha20_poly1305_test.json", hazmat.XChaCha20Poly1305, 24)


def test_wycheproof_aes_siv_cmac() -> None:
    tally = Tally("aes_siv_cmac_test.json")
    for _, t in cases("aes_siv_cmac_test.json"):
        siv = hazmat.AESSIV(h(t["key"]))
        aad, msg, ct = [h(t["aad"])], h(t["msg"]), h(t["ct"])
        if t["result"] == "valid":
            ok = siv.encrypt(msg, aad) == ct and siv.decrypt(ct, aad) == msg
            tally.check(ok, "valid", t["tcId"])
        else:
            tally.check(rejects(lambda: siv.decrypt(ct, aad), sealbox.DecryptionError), "invalid", t["tcId"])
    tally.done()


def test_wycheproof_aead_aes_siv_cmac() -> None:
    # Nonce-based SIV: the nonce is the last associated-data component.
    tally = Tally("aead_aes_siv_cmac_test.json")
    for _, t in cases("aead_aes_siv_cmac_test.json"):
        siv = hazmat.AESSIV(h(t["key"]))
        ad = [h(t["aad"]), h(t["iv"])]
        msg, sealed = h(t["msg"]), h(t["tag"]) + h(t["ct"])
        if t["result"] == "valid":
            ok = siv.encrypt(msg, ad) == sealed and siv.decrypt(sealed, ad) == msg
            tally.check(ok, "valid", t["tcId"])
        else:
            tally.check(
                rejects(lambda: siv.decrypt(sealed, ad), sealbox.DecryptionError),
                "invalid",
                t["tcId"],
            )
    tally.done()


def test_wycheproof_hmac_sha256() -> None:
    tally = Tally("hmac_sha256_test.json")
    for group, t in cases("hmac_sha256_test.json"):
        tag = hazmat.hmac_sha256(h(t["key"]), h(t["msg"]))[: group["tagSize"] // 8]
        matches = tag == h(t["tag"])
        tally.check(matches == (t["result"] == "valid"), t["result"], t["tcId"])
    tally.done()


def test_wycheproof_hkdf_sha256() -> None:
    tally = Tally("hkdf_sha256_test.json")
    for _, t in cases("hkdf_sha256_test.json"):
        args = (h(t["ikm"]),)
        kw = {"salt": h(t["salt"]), "info": h(t["info"]), "length": t["size"]}
        if t["result"] == "valid":
            tally.check(hazmat.hkdf_sha256(*args, **kw) == h(t["okm"]), "valid", t["tcId"])
        else:
            tally.check(rejects(lambda: hazmat.hkdf_sha256(*args, **kw), ValueError), "invalid", t["tcId"])
    tally.done()


def test_wycheproof_pbkdf2_hmac_sha256() -> None:
    tally = Tally("pbkdf2_hmacsha256_test.json")
    for _, t in cases("pbkdf2_hmacsha256_test.json"):
        dk = hazmat.pbkdf2_hmac_sha256(h(t["password"]), h(t["salt"]), t["iterationCount"], t["dkLen"])
        tally.check(dk == h(t["dk"]), t["result"], t["tcId"])
    tally.done()


def test_rfc_vectors() -> None:
    rfc = load_vectors("rfc_vectors.json")
    tally = Tally("rfc_vectors.json")
    for v in rfc["aes_siv_cmac"]:
        ad = [h(a) for a in v["ad"]] + ([h(v["nonce"])] if v.get("nonce") else [])
        siv = hazmat.AESSIV(h(v["key"]))
        out = h(v["output"])
        ok = siv.encrypt(h(v["plaintext"]), ad) == out and siv.decrypt(out, ad) == h(v["plaintext"])
        tally.check(ok, "aes-siv", v["id"])
    for v in rfc["hkdf_sha256"]:
        okm = hazmat.hkdf_sha256(h(v["ikm"]), salt=h(v["salt"]), info=h(v["info"]), length=v["length"])
        tally.check(okm == h(v["okm"]), "hkdf", v["id"])
    for v in rfc["hmac_sha256"]:
        mac = hazmat.hmac_sha256(h(v["key"]), h(v["data"]))
        if "mac" in v:
            tally.check(mac == h(v["mac"]), "hmac", v["id"])
        else:
            tally.check(mac[:16] == h(v["mac_truncated_128"]), "hmac", v["id"])
    for v in rfc["xchacha20_poly1305"]:
        x = hazmat.XChaCha20Poly1305(h(v["key"]))
        sealed = h(v["ciphertext"]) + h(v["tag"])
        ok = x.encrypt(h(v["nonce"]), h(v["plaintext"]), h(v["aad"])) == sealed
        ok = ok and x.decrypt(h(v["nonce"]), sealed, h(v["aad"])) == h(v["plaintext"])
        tally.check(ok, "xchacha20-poly1305", v["id"])
    tally.done()


def test_a_wrong_expected_value_is_caught() -> None:
    """The harness is not vacuous: a corrupted expectation is reported."""
    tally = Tally("self-check")
    aead = hazmat.AESGCM(bytes(32))
    tally.check(aead.encrypt(bytes(12), b"x", None) == b"not this", "valid", 0)
    with pytest.raises(AssertionError, match="tcId 0"):
        tally.done()
    VECTOR_COUNTS.pop("self-check")
