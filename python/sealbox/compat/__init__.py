"""Compatibility with other libraries' formats, byte for byte.

- `sealbox.compat.rails`: Rails Active Record Encryption (7.0 to 8.1).
- `sealbox.compat.lockbox`: Lockbox 2.x boxes, attribute keys, type encodings and files.
- `sealbox.compat.attr_encrypted`: attr_encrypted 3.x columns (every mode, GCM and CBC).
- `sealbox.compat.kms_encrypted`: kms_encrypted's `encrypted_kms_key` column with sealbox providers.
- `sealbox.compat.blind_index_gem`: the blind_index gem's ``*_bidx`` columns.

See docs/compat.md for how to configure each from a Rails app's credentials.
"""

from __future__ import annotations

from sealbox.compat import attr_encrypted, kms_encrypted, lockbox, rails
from sealbox.compat.blind_index_gem import blind_index_gem, gem_index_key

# `sealbox.compat.blind_index_gem` names the function, as it always has; the
# module of the same name is `sys.modules["sealbox.compat.blind_index_gem"]`.
blind_index_gem.__module__ = __name__
gem_index_key.__module__ = __name__

__all__ = [
    "attr_encrypted",
    "blind_index_gem",
    "gem_index_key",
    "kms_encrypted",
    "lockbox",
    "rails",
]
