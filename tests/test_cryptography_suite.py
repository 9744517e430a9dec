"""pyca/cryptography's own AEAD tests, run against `sealbox.hazmat`.

`tests/vectors/cryptography_aead/` holds `tests/hazmat/primitives/test_aead.py` of cryptography
51.0.1 and the two helper modules it imports, unmodified. The module is loaded here with `AESGCM`,
`AESSIV` and `ChaCha20Poly1305` replaced by sealbox's and `InvalidTag` by `DecryptionError`, and
its classes for those three AEADs are collected (cryptography has no XChaCha20-Poly1305). The
vectors come from the installed `cryptography_vectors`.

Every test must pass except the documented differences in `KNOWN_DIFFERENCES`, marked
`xfail(strict=True)`: a difference that goes away fails the run as surely as a new failure.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import hashlib
import importlib
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sealbox
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from sealbox import hazmat

SUITE = Path(__file__).parent / "vectors" / "cryptography_aead" / "tests"

# The vendored files, pinned: an update is a deliberate change to this list.
PINNED = {
    "utils.py": "80f6158ec63aa01dc8983173bc495e732813c78960d1faa1d4505b7186fdaf6c",
    "hazmat/primitives/utils.py": "863080b0435a338b4c8230f961412ce98edad998dff07436221ecdfc790ac97f",
    "hazmat/primitives/test_aead.py": "1b6636ee102d5f0f22e0419cb657513321863980eb7b0f325504f3133914bb3a",
}


def _load_suite() -> types.ModuleType:
    """Import the vendored test_aead.py as `_pyca_tests.hazmat.primitives.test_aead`, under
    packages that point at the vendored tree so its relative imports (`...utils`) resolve."""
    for name, path in (
        ("_pyca_tests", SUITE),
        ("_pyca_tests.hazmat", SUITE / "hazmat"),
        ("_pyca_tests.hazmat.primitives", SUITE / "hazmat" / "primitives"),
    ):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(path)]
            sys.modules[name] = package
    return importlib.import_module("_pyca_tests.hazmat.primitives.test_aead")


aead = _load_suite()
aead.AESGCM = hazmat.AESGCM
aead.AESSIV = hazmat.AESSIV
aead.ChaCha20Poly1305 = hazmat.ChaCha20Poly1305
aead.InvalidTag = sealbox.DecryptionError

# The 2**32-byte tests make sealbox encrypt 4 GiB: 20 to 30 s and about 12 GiB of memory each.
# They run on request.
RUN_LARGE = os.environ.get("SEALBOX_LARGE_TESTS") == "1"

NO_CAP = (
    "cryptography refuses data or associated data of 2**31 bytes and more (OverflowError); "
    "sealbox takes up to 2**36 - 32 bytes of data, GCM's limit, and any associated data "
    "(docs/backends.md). Runs with SEALBOX_LARGE_TESTS=1"
)


@dataclass(frozen=True)
class Difference:
    reason: str
    # What the test fails with: anything else is a new failure.
    raises: type[BaseException]
    run: bool = True


# pytest.raises(OverflowError) that sees no exception fails the test with this.
DID_NOT_RAISE: type[BaseException] = pytest.fail.Exception

KNOWN_DIFFERENCES: dict[tuple[str, str], Difference] = {
    # test_gcm_vectors_with_12_byte_nonces below runs the vectors sealbox takes.
    ("TestAESGCM", "test_vectors"): Difference(
        "NIST's GCM vectors include 8 to 128-byte IVs; sealbox's AESGCM takes 12-byte nonces only",
        ValueError,
    ),
    ("TestAESGCM", "test_data_too_large"): Difference(NO_CAP, DID_NOT_RAISE, RUN_LARGE),
    ("TestAESSIV", "test_data_too_large"): Difference(NO_CAP, DID_NOT_RAISE, RUN_LARGE),
    ("TestChaCha20Poly1305", "test_data_too_large"): Difference(NO_CAP, DID_NOT_RAISE, RUN_LARGE),
}


def _known_difference(test: Callable[..., Any], difference: Difference) -> Callable[..., Any]:
    # A wrapper, so the mark lands on this module's copy and not on the vendored function.
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return test(*args, **kwargs)

    mark = pytest.mark.xfail(
        strict=True, run=difference.run, raises=difference.raises, reason=difference.reason
    )
    return mark(wrapper)


def _against_sealbox(name: str) -> type:
    base: type = getattr(aead, name)
    overrides = {
        test: _known_difference(getattr(base, test), difference)
        for (cls, test), difference in KNOWN_DIFFERENCES.items()
        if cls == name
    }
    return type(name, (base,), overrides)


TestAESGCM = _against_sealbox("TestAESGCM")
TestAESSIV = _against_sealbox("TestAESSIV")
TestChaCha20Poly1305 = _against_sealbox("TestChaCha20Poly1305")


@pytest.fixture
def backend() -> Any:
    """cryptography's OpenSSL backend: the suite reads `_fips_enabled` from it."""
    return openssl_backend


class _SubTests:
    """cryptography's own `subtests` (its tests/conftest.py): a skip inside a subtest is
    ignored, any failure fails the whole test."""

    @contextlib.contextmanager
    def test(self) -> Iterator[None]:
        with contextlib.suppress(pytest.skip.Exception):
            yield


@pytest.fixture
def subtests() -> _SubTests:
    return _SubTests()


def test_vendored_files_are_pinned() -> None:
    for name, digest in PINNED.items():
        assert hashlib.sha256((SUITE / name).read_bytes()).hexdigest() == digest, name


def test_suite_classes_use_sealbox() -> None:
    assert aead.AESGCM is hazmat.AESGCM
    assert aead.AESSIV is hazmat.AESSIV
    assert aead.ChaCha20Poly1305 is hazmat.ChaCha20Poly1305
    assert aead.InvalidTag is sealbox.DecryptionError
    for cls in (TestAESGCM, TestAESSIV, TestChaCha20Poly1305):
        assert [n for n in dir(cls) if n.startswith("test_")], cls


def test_gcm_vectors_with_12_byte_nonces() -> None:
    """The part of TestAESGCM.test_vectors that sealbox takes, as that test runs it; the rest
    (other IV sizes) must be refused with ValueError."""
    sealed = refused = 0
    for vector in aead._load_gcm_vectors():
        nonce = binascii.unhexlify(vector["iv"])
        key = binascii.unhexlify(vector["key"])
        aad = binascii.unhexlify(vector["aad"])
        ct = binascii.unhexlify(vector["ct"])
        pt = binascii.unhexlify(vector.get("pt", b""))
        tag = binascii.unhexlify(vector["tag"])
        aesgcm = hazmat.AESGCM(key)
        if len(nonce) != 12:
            with pytest.raises(ValueError, match="nonce"):
                aesgcm.encrypt(nonce, pt, aad)
            refused += 1
        elif vector.get("fail") is True:
            with pytest.raises(sealbox.DecryptionError):
                aesgcm.decrypt(nonce, ct + tag, aad)
        else:
            assert aesgcm.encrypt(nonce, pt, aad) == ct + tag
            assert aesgcm.decrypt(nonce, ct + tag, aad) == pt
            buf = bytearray(len(pt))
            assert aesgcm.decrypt_into(nonce, ct + tag, aad, buf) == len(pt)
            assert buf == pt
            sealed += 1
    assert sealed > 1000
    assert refused > 1000


def test_known_differences_name_real_tests() -> None:
    for cls, test in KNOWN_DIFFERENCES:
        assert callable(getattr(getattr(aead, cls), test, None)), (cls, test)
