"""The package itself: its attributes, its version, its metadata, and importing it anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (so nothing is imported yet); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_without_register_at_fork() -> None:
    # Windows has no os.register_at_fork: sealbox must import and work there.
    out = run_python(
        "import os\n"
        "del os.register_at_fork\n"
        "import sealbox\n"
        "assert not hasattr(os, 'register_at_fork')\n"
        "box = sealbox.Box(sealbox.generate_key())\n"
        "m = box.encrypt(b'alice@example.org', context=b'users/42/email')\n"
        "assert box.decrypt(m, context=b'users/42/email') == b'alice@example.org'\n"
        "values = [b'a', b'b' * 100]\n"
        "assert box.decrypt_batch(box.encrypt_batch(values)) == values\n"
        "print('ok')\n"
    )
    assert out == "ok\n"
