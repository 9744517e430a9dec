"""Key-encryption keys held by a KMS or an HSM, for envelope encryption.

- `AwsKms`: a key in AWS KMS, through boto3 (``pip install 'sealbox[aws]'``).
- `VaultTransit`: a transit key in HashiCorp Vault or OpenBao, through hvac
  (``pip install 'sealbox[vault]'``).
- `Pkcs11`: an AES key inside a PKCS#11 token (an HSM, SoftHSM), through
  python-pkcs11 (``pip install 'sealbox[pkcs11]'``).

Each implements `sealbox.KeyProvider`; ``AsyncAwsKms``, ``AsyncVaultTransit`` and
``AsyncPkcs11`` implement `sealbox.AsyncKeyProvider`, and `AsyncProvider` adapts any
blocking provider. The SDKs are imported when a provider is first used, never by
``import sealbox``. See docs/providers.md for setup, permissions and errors.
"""

from sealbox.providers._async import AsyncAwsKms, AsyncPkcs11, AsyncProvider, AsyncVaultTransit
from sealbox.providers._aws_kms import AwsKms
from sealbox.providers._pkcs11 import Pkcs11
from sealbox.providers._vault_transit import VaultTransit

__all__ = [
    "AsyncAwsKms",
    "AsyncPkcs11",
    "AsyncProvider",
    "AsyncVaultTransit",
    "AwsKms",
    "Pkcs11",
    "VaultTransit",
]
