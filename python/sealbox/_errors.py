"""Exceptions raised by sealbox (also raised from the native extension)."""

#: The text of every DecryptionError raised for a message.
DECRYPTION_FAILED = "decryption failed"


class SealboxError(Exception):
    """Base class of every sealbox error."""


class DecryptionError(SealboxError):
    """A message could not be decrypted.

    Raised for every failure alike (wrong key, wrong context, tampered, truncated
    or extended message, unknown key id, a wrapped data key that does not unwrap,
    or bytes that are not a message) with one text, ``"decryption failed"``, and
    no chained cause, so that the error reveals nothing about which check failed.
    A batch names the failed item (``"item 3 failed to decrypt"``), and the ORM
    integrations the table and column. The stage that failed goes to the audit
    trail only (`sealbox.audit`, the event's ``detail``).
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


class KeyVersionDisabledError(KeyDisabledError):
    """The wrapped key names a version of the key-encryption key that the provider's
    policy no longer decrypts (Vault transit's ``min_decryption_version``).

    The version is read from the wrapped key, which lives in the message, so whoever
    can write a message can choose it: an envelope Box treats this as that message's
    failure (`DecryptionError`; this error goes to the audit event's ``detail``),
    never as the provider's, and a batch goes on with the other messages.
    """
