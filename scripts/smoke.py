"""Smoke test of an installed sealbox wheel.

.ci/run installs the wheel into a fresh virtualenv with no Rust toolchain on PATH and runs this
from a directory outside the source tree: it proves the wheel alone is a working sealbox.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import sealbox

installed = Path(sealbox.__file__).resolve().parent
if Path(sys.prefix).resolve() not in installed.parents:
    raise SystemExit(f"sealbox was imported from {installed}, not from the virtualenv at {sys.prefix}")

dist = importlib.metadata.distribution("sealbox")
assert sealbox.__version__ == dist.version, (sealbox.__version__, dist.version)
assert dist.metadata["License-Expression"] == "Apache-2.0", dist.metadata["License-Expression"]
assert any(Path(str(f)).name == "LICENSE" for f in dist.files or ()), "the wheel has no LICENSE"

# One value, a wrong context refused.
key = sealbox.generate_key()
box = sealbox.Box(key)
message = box.encrypt(b"alice@example.org", context=b"users/42/email")
assert box.decrypt(message, context=b"users/42/email") == b"alice@example.org"
try:
    box.decrypt(message, context=b"users/43/email")
except sealbox.DecryptionError:
    pass
else:
    raise AssertionError("a message decrypted under another context")

# A keyring and a batch rotation from key 1 to key 2.
old_key, new_key = sealbox.generate_key(), sealbox.generate_key()
old = sealbox.Box(sealbox.Keyring({1: old_key}, active=1))
new = sealbox.Box(sealbox.Keyring({1: old_key, 2: new_key}, active=2))
values = [f"user{i}@example.org".encode() for i in range(10_000)]
contexts = [f"users/{i}/email" for i in range(10_000)]
messages = old.encrypt_batch(values, contexts)
assert all(new.needs_rotation(m) for m in messages[:10])
rotated = new.rotate_batch(messages, contexts)
assert {sealbox.Message.parse(m).key_id for m in rotated} == {2}
assert new.decrypt_batch(rotated, contexts) == values

# Subpackages as attributes; the KMS SDKs stay unimported. The blind_index gem's README value.
index = sealbox.compat.blind_index_gem("0" * 64, table="users", bidx_attribute="email_bidx")
assert index.compute("test@example.org") == "kSqBXqdAhgnZAvwGcZ/17SUCg+V6t7xnJ8CO/gRDSjU="
assert sealbox.providers.AwsKms.__name__ == "AwsKms"
loaded = {"boto3", "hvac", "pkcs11"} & set(sys.modules)
assert not loaded, loaded

# The console script.
entry = subprocess.run(
    [str(Path(sys.executable).parent / "sealbox"), "keygen", "--id", "3"],
    capture_output=True,
    text=True,
    check=True,
).stdout
assert entry.startswith("3:"), entry

print(f"wheel smoke test passed: sealbox {sealbox.__version__} from {installed}")
