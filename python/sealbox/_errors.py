"""Exceptions raised by sealbox (also raised from the native extension)."""


class SealboxError(Exception):
    """Base class of every sealbox error."""


class DecryptionError(SealboxError):
    """A message could not be decrypted.

    Raised for every failure alike (wrong key, wrong context, tampered, truncated
    or extended message, unknown key id, or bytes that are not a message) so
    that the error reveals nothing about which check failed.
    """
