"""sealbox: application-level encryption for sensitive data.

    import sealbox
    box = sealbox.Box(sealbox.generate_key())
    message = box.encrypt(b"alice@example.org", context=b"users/42/email")
    box.decrypt(message, context=b"users/42/email")

See README.md and docs/ for the guides and docs/format.md for the wire format.
"""

import os as _os

from sealbox import hazmat, normalizers
from sealbox._blind import BitsPlan, BlindIndex, plan_bits
from sealbox._box import Box
from sealbox._errors import DecryptionError, SealboxError
from sealbox._keyring import Keyring, generate_key
from sealbox._native import Message
from sealbox._native import reseed_after_fork as _reseed_after_fork

__all__ = [
    "BitsPlan",
    "BlindIndex",
    "Box",
    "DecryptionError",
    "Keyring",
    "Message",
    "SealboxError",
    "__version__",
    "generate_key",
    "hazmat",
    "normalizers",
    "plan_bits",
]

__version__ = "0.1.0"

# Nonces and salts come from a per-thread pool of OS randomness; a forked child
# must never reuse its parent's pool.
_os.register_at_fork(after_in_child=_reseed_after_fork)
