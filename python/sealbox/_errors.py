"""Exceptions raised by sealbox (also raised from the native extension)."""


class SealboxError(Exception):
    """Base class of every sealbox error."""


class DecryptionError(SealboxError):
    """A message could not be decrypted.

    Raised for every failure alike (wrong key, wrong context, tampered, truncated
    or extended message, unknown key id, or bytes that are not a message) so
    that the error reveals nothing about which check failed.
    """


class ProviderError(SealboxError):
    """A key provider (KMS, HSM, Vault) could not do what was asked.

    Not a `DecryptionError`: the data may be perfectly good, but the service
    that holds the key-encryption key refused or could not be reached. The
    subclasses tell the common cases apart; the original exception is chained.
    """


class ProviderUnavailableError(ProviderError):
    """The provider could not be reached or kept failing after retries."""


class AccessDeniedError(ProviderError):
    """The provider refused the caller: missing permission or bad credentials."""


class KeyDisabledError(ProviderError):
    """The key-encryption key exists but is disabled, destroyed or pending deletion."""
