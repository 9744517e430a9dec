import os
from collections.abc import Callable
from typing import Any, Literal, Self, final

from typing_extensions import disjoint_base

__all__ = [
    "AESGCM",
    "AESSIV",
    "BlindIndex",
    "Box",
    "ChaCha20Poly1305",
    "IpHasher",
    "Keyring",
    "LockboxBox",
    "Message",
    "RailsEncryptor",
    "Scrubber",
    "StreamCipher",
    "X25519PrivateKey",
    "XChaCha20Poly1305",
    "aes256_cbc_decrypt",
    "aes256_cbc_encrypt",
    "argon2",
    "envelope_local_unwrap",
    "envelope_local_wrap",
    "envelope_open",
    "envelope_open_batch",
    "envelope_rewrap_batch",
    "envelope_seal",
    "envelope_seal_batch",
    "gem_index_key",
    "generate_key",
    "hkdf_sha256",
    "hmac_sha256",
    "hpke_seal",
    "lockbox_attribute_key",
    "lockbox_pad",
    "lockbox_unpad",
    "pbkdf2_hmac_sha256",
    "reseed_after_fork",
    "scrypt",
    "sealed_box_seal",
    "stream_create_wrapped",
    "stream_header",
    "stream_header_len",
    "stream_layout",
    "stream_open_wrapped",
    "stream_rewrap",
    "x25519_check_public",
]

_Buffer = bytes | bytearray | memoryview
_WritableBuffer = bytearray | memoryview

def generate_key() -> bytes: ...
def reseed_after_fork() -> None: ...
def envelope_seal(
    data_key: _Buffer,
    kek_id: int,
    flags: int,
    wrapped: bytes,
    data: _Buffer,
    context: _Buffer | str | None,
    text: bool,
) -> Any: ...
def envelope_open(data_key: _Buffer, message: _Buffer | str, context: _Buffer | str | None) -> bytes: ...
def envelope_seal_batch(
    keys: list[tuple[bytes, int, int, bytes]],
    per: int,
    values: Any,
    contexts: Any,
    text: bool,
    threads: int | None = None,
) -> list[Any]: ...
def envelope_open_batch(
    messages: Any,
    contexts: Any,
    unwrap: Callable[[int, bool, bytes, bytes], bytes | None],
    local: Box | None = None,
    local_ids: list[int] = ...,
    threads: int | None = None,
) -> list[bytes | None]: ...
def envelope_rewrap_batch(
    messages: Any,
    contexts: Any,
    rewrap: Callable[[list[tuple[int, bool, bytes, bytes]]], list[tuple[int, bytes] | bool | None]],
    text: bool,
    threads: int | None = None,
) -> tuple[list[Any], list[int]]: ...
def envelope_local_wrap(
    keyring: Keyring,
    data_key: _Buffer,
    flags: int,
    context: _Buffer | str | None,
    kek_id: int | None = None,
) -> tuple[int, bytes]: ...
def envelope_local_unwrap(
    keyring: Keyring, kek_id: int, flags: int, wrapped: bytes, context: _Buffer | str | None
) -> bytes: ...

@disjoint_base
class Keyring:
    def __new__(cls, keys: Any, *, active: Any = None) -> Self: ...
    @property
    def active_id(self) -> int: ...
    @property
    def ids(self) -> list[int]: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object, /) -> bool: ...

@disjoint_base
class Box:
    def __new__(
        cls,
        key: Any,
        *,
        algorithm: str | None = None,
        deterministic: bool = False,
        encoding: str = "binary",
        strict_encoding: bool = False,
        envelope: bool = False,
    ) -> Self: ...
    def encrypt(self, data: _Buffer, *, context: _Buffer | str | None = None) -> Any: ...
    def decrypt(self, message: _Buffer | str, *, context: _Buffer | str | None = None) -> bytes: ...
    def lookup_values(self, data: _Buffer, *, context: _Buffer | str | None = None) -> list[Any]: ...
    def needs_rotation(self, message: _Buffer | str) -> bool: ...
    def encrypt_batch(
        self,
        values: Any,
        contexts: Any = None,
        *,
        errors: Literal["raise", "return"] = "raise",
        threads: int | None = None,
    ) -> Any: ...
    def decrypt_batch(
        self,
        messages: Any,
        contexts: Any = None,
        *,
        errors: Literal["raise", "return"] = "raise",
        threads: int | None = None,
    ) -> Any: ...
    def rotate_batch(
        self,
        messages: Any,
        contexts: Any = None,
        mode: Literal["auto", "reencrypt"] = "auto",
        *,
        errors: Literal["raise", "return"] = "raise",
        threads: int | None = None,
        repeatable: bool = False,
    ) -> Any: ...
    def _column(
        self,
        op: str,
        offsets: Any,
        data: Any,
        validity: Any,
        contexts: Any,
        mode: str,
        errors: str,
        threads: int | None,
        repeatable: bool = False,
    ) -> tuple[Any, Any, bytes | None, int]: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def deterministic(self) -> bool: ...
    @property
    def encoding(self) -> str: ...
    @property
    def strict_encoding(self) -> bool: ...
    @property
    def active_key_id(self) -> int: ...
    @property
    def key_ids(self) -> list[int]: ...
    def _stream_create(
        self, segment_size: int, context: _Buffer | str | None = None
    ) -> tuple[bytes, StreamCipher]: ...
    def _stream_open(self, header: bytes, context: _Buffer | str | None = None) -> StreamCipher: ...
    def __copy__(self) -> Box: ...
    def __deepcopy__(self, _memo: Any, /) -> Box: ...

@disjoint_base
class BlindIndex:
    def __new__(
        cls,
        keys: Any,
        algorithm: str = "hmac-sha256",
        *,
        active: Any,
        bits: int | None = None,
        length: int | None = None,
        encoding: str = "raw",
        t: int | None = None,
        m: int | None = None,
        p: int | None = None,
        iterations: int | None = None,
        n: int | None = None,
        r: int | None = None,
        prepare: Any = None,
        fields: int | None = None,
        derive: tuple[str, ...] | None = None,
        allow_weak: bool = False,
    ) -> Self: ...
    def compute(self, value: Any, *, version: int | None = None) -> Any: ...
    def lookup_values(self, value: Any) -> list[Any]: ...
    def compute_batch(
        self, values: Any, *, version: int | None = None, threads: int | None = None
    ) -> list[Any]: ...
    def _column(
        self,
        offsets: Any,
        data: Any,
        validity: Any,
        version: int | None,
        threads: int | None,
    ) -> tuple[bytes, bytes | None, bytes | None, int]: ...
    @property
    def _prepares(self) -> bool: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def params(self) -> dict[str, int]: ...
    @property
    def bits(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def encoding(self) -> str: ...
    @property
    def fields(self) -> int | None: ...
    @property
    def versions(self) -> list[int]: ...
    @property
    def active_version(self) -> int: ...
    def __copy__(self) -> BlindIndex: ...
    def __deepcopy__(self, _memo: Any, /) -> BlindIndex: ...

@final
class Scrubber:
    def __new__(
        cls,
        *,
        url_password: bool = True,
        email: bool = True,
        credit_card: bool = True,
        phone: bool = True,
        ssn: bool = True,
        ip: bool = False,
        mac: bool = False,
        patterns: list[str] = ...,
        replacement: str = ...,
        index: BlindIndex | None = None,
    ) -> Self: ...
    def scrub(self, text: str) -> str: ...
    def scrub_batch(self, texts: list[str]) -> list[str]: ...
    @property
    def keyed(self) -> bool: ...

@final
class IpHasher:
    def __new__(cls, key: _Buffer | str, *, prefix_preserving: bool = False) -> Self: ...
    @staticmethod
    def ip_anonymizer(key: bytes, iterations: int) -> IpHasher: ...
    def hash(self, ip: str) -> str: ...
    def hash_batch(self, ips: list[str]) -> list[str]: ...
    def _column(
        self,
        offsets: Any,
        data: Any,
        validity: Any,
        threads: int | None = None,
    ) -> tuple[bytes, bytes, bytes | None, int]: ...

@final
class RailsEncryptor:
    def __new__(
        cls,
        providers: list[tuple[bool, list[Any]]],
        primary: int | None,
        deterministic: int | None,
        *,
        store_key_references: bool,
        compress: bool,
        serializer: str,
        max_inflated: int,
    ) -> Self: ...
    def encrypt(
        self, value: str | bytes, *, deterministic: bool = False, encoding: str | None = None
    ) -> Any: ...
    def decrypt(self, message: Any) -> Any: ...
    def decrypt_raw(self, message: Any) -> tuple[bytes, str | None]: ...
    def is_message(self, message: Any) -> bool: ...
    def key_references(self) -> list[list[str]]: ...
    def encrypt_batch(
        self, values: Any, *, deterministic: bool = False, threads: int | None = None
    ) -> list[Any]: ...
    def decrypt_batch(
        self, messages: Any, *, errors: str = "raise", threads: int | None = None
    ) -> list[Any]: ...

@final
class LockboxBox:
    def __new__(
        cls,
        algorithm: str,
        key: _Buffer | None = None,
        encryption_key: _Buffer | None = None,
        decryption_key: _Buffer | None = None,
    ) -> Self: ...
    def encrypt(self, message: _Buffer, associated_data: _Buffer) -> bytes: ...
    def decrypt(self, ciphertext: _Buffer, associated_data: _Buffer) -> bytes: ...
    @property
    def takes_associated_data(self) -> bool: ...
    @property
    def can_encrypt(self) -> bool: ...
    @property
    def can_decrypt(self) -> bool: ...

def aes256_cbc_encrypt(key: _Buffer, iv: _Buffer, data: _Buffer) -> bytes: ...
def aes256_cbc_decrypt(key: _Buffer, iv: _Buffer, data: _Buffer) -> bytes: ...
def lockbox_attribute_key(master_key: _Buffer, table: str, attribute: str) -> bytes: ...
def lockbox_pad(data: _Buffer, size: int) -> bytes: ...
def lockbox_unpad(data: _Buffer, size: int) -> bytes: ...
def gem_index_key(master_key: _Buffer | str, table: str, bidx_attribute: str) -> bytes: ...

@final
class Message:
    @staticmethod
    def parse(message: _Buffer | str) -> Message: ...
    @property
    def version(self) -> int: ...
    @property
    def suite(self) -> str: ...
    @property
    def suite_id(self) -> int: ...
    @property
    def key_id(self) -> int: ...
    @property
    def deterministic(self) -> bool: ...
    @property
    def encoding(self) -> str: ...
    @property
    def nonce(self) -> bytes: ...
    @property
    def commitment(self) -> bytes: ...
    @property
    def wrapped_key(self) -> bytes | None: ...
    @property
    def context_bound(self) -> bool: ...
    @property
    def plaintext_length(self) -> int: ...
    @property
    def overhead(self) -> int: ...
    def __len__(self) -> int: ...

@final
class AESGCM:
    def __new__(cls, key: _Buffer) -> AESGCM: ...
    @staticmethod
    def generate_key(bit_length: int) -> bytes: ...
    def encrypt(self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None) -> bytes: ...
    def decrypt(self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None) -> bytes: ...
    def encrypt_into(
        self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None, buf: _WritableBuffer
    ) -> int: ...
    def decrypt_into(
        self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None, buf: _WritableBuffer
    ) -> int: ...

@final
class ChaCha20Poly1305:
    def __new__(cls, key: _Buffer) -> ChaCha20Poly1305: ...
    @staticmethod
    def generate_key() -> bytes: ...
    def encrypt(self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None) -> bytes: ...
    def decrypt(self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None) -> bytes: ...
    def encrypt_into(
        self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None, buf: _WritableBuffer
    ) -> int: ...
    def decrypt_into(
        self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None, buf: _WritableBuffer
    ) -> int: ...

@final
class XChaCha20Poly1305:
    def __new__(cls, key: _Buffer) -> XChaCha20Poly1305: ...
    @staticmethod
    def generate_key() -> bytes: ...
    def encrypt(self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None) -> bytes: ...
    def decrypt(self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None) -> bytes: ...
    def encrypt_into(
        self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None, buf: _WritableBuffer
    ) -> int: ...
    def decrypt_into(
        self, nonce: _Buffer, data: _Buffer, associated_data: _Buffer | None, buf: _WritableBuffer
    ) -> int: ...

@final
class AESSIV:
    def __new__(cls, key: _Buffer) -> AESSIV: ...
    @staticmethod
    def generate_key(bit_length: int) -> bytes: ...
    def encrypt(self, data: _Buffer, associated_data: list[_Buffer] | None) -> bytes: ...
    def decrypt(self, data: _Buffer, associated_data: list[_Buffer] | None) -> bytes: ...
    def encrypt_into(
        self, data: _Buffer, associated_data: list[_Buffer] | None, buf: _WritableBuffer
    ) -> int: ...
    def decrypt_into(
        self, data: _Buffer, associated_data: list[_Buffer] | None, buf: _WritableBuffer
    ) -> int: ...

def hmac_sha256(key: _Buffer, data: _Buffer) -> bytes: ...
def hkdf_sha256(ikm: _Buffer, *, salt: _Buffer | None, info: _Buffer | None, length: int) -> bytes: ...
def pbkdf2_hmac_sha256(password: _Buffer, salt: _Buffer, iterations: int, length: int) -> bytes: ...
def argon2(
    variant: Literal["argon2id", "argon2i"],
    password: _Buffer,
    salt: _Buffer,
    *,
    t: int,
    m: int,
    p: int,
    length: int = 32,
    secret: _Buffer | None = None,
    associated_data: _Buffer | None = None,
) -> bytes: ...
def scrypt(password: _Buffer, salt: _Buffer, *, n: int, r: int, p: int, length: int = 32) -> bytes: ...

@final
class StreamCipher:
    @property
    def segment_size(self) -> int: ...
    def seal(self, index: int, data: _Buffer, last: bool) -> bytes: ...
    def open(self, index: int, data: _Buffer, last: bool) -> bytes: ...
    def process_file(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        header: bytes,
        per_run: int,
        seal: bool,
    ) -> None: ...

def stream_header_len(prefix: bytes) -> int: ...
def stream_header(header: bytes) -> tuple[int, str, int, bytes]: ...
def stream_layout(body_len: int, segment_size: int) -> tuple[int, int]: ...
def stream_create_wrapped(
    data_key: _Buffer,
    kek_id: int,
    wrapped: bytes,
    segment_size: int,
    context: _Buffer | str | None = None,
) -> tuple[bytes, StreamCipher]: ...
def stream_open_wrapped(
    header: bytes, data_key: _Buffer, context: _Buffer | str | None = None
) -> StreamCipher: ...
def stream_rewrap(header: bytes, kek_id: int, wrapped: bytes) -> bytes: ...

@final
class X25519PrivateKey:
    def __new__(cls, key: _Buffer) -> Self: ...
    @staticmethod
    def generate() -> X25519PrivateKey: ...
    def public_bytes(self) -> bytes: ...
    def private_bytes(self) -> bytes: ...
    def open(self, info: bytes, aad: bytes, sealed: bytes) -> bytes: ...
    def unseal(self, sealed: bytes) -> bytes: ...

def hpke_seal(public: bytes, info: bytes, aad: bytes, data: _Buffer) -> bytes: ...
def x25519_check_public(public: bytes) -> None: ...
def sealed_box_seal(public: bytes, message: _Buffer) -> bytes: ...
