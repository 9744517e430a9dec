"""`sealbox encrypt`, `decrypt` and `inspect`, run from a shell."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import sealbox

SCRIPT = Path(sys.executable).with_name("sealbox")
SEALBOX = (
    shlex.quote(str(SCRIPT))
    if SCRIPT.exists()
    else f"{shlex.quote(sys.executable)} -c 'import sys; from sealbox.cli import main; sys.exit(main())'"
)
KEY = bytes(range(32))


def sh(
    command: str, cwd: Path, stdin: bytes = b"", keys: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "SEALBOX_KEYS": f"1:{base64.b64encode(KEY).decode()}"}
    if keys is not None:
        env["OTHER_KEYS"] = keys
    return subprocess.run(
        ["bash", "-c", command.replace("sealbox ", SEALBOX + " ")],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_encrypt_and_decrypt_through_pipes_and_files(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "plain").write_bytes(data)
    # stdin to stdout, through a pipe into decrypt (not seekable).
    piped = sh("sealbox encrypt --context c < plain | sealbox decrypt --context c", tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == data
    # -o, and the result opens with the library.
    done = sh("sealbox encrypt --context c plain -o plain.sbx", tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "back"
    sealbox.Box(sealbox.Keyring({1: KEY})).decrypt_file(tmp_path / "plain.sbx", out, context="c")
    assert out.read_bytes() == data
    # Wrong context, wrong keys, a truncated file: exit 1, no output file left behind.
    wrong = sh("sealbox decrypt --context d plain.sbx -o out", tmp_path)
    assert wrong.returncode == 1 and b"decryption failed" in wrong.stderr
    assert not (tmp_path / "out").exists()
    other = base64.b64encode(os.urandom(32)).decode()
    assert (
        sh(
            "sealbox decrypt --context c --keys-env OTHER_KEYS plain.sbx", tmp_path, keys=f"1:{other}"
        ).returncode
        == 1
    )
    truncated = sh("head -c 200000 plain.sbx | sealbox decrypt --context c -o out", tmp_path)
    assert truncated.returncode == 1 and not (tmp_path / "out").exists()
    # No keyring: a usage error (2), with a message and no traceback.
    missing = sh("sealbox encrypt --keys-env NOPE < plain", tmp_path)
    assert missing.returncode == 2 and b"NOPE" in missing.stderr and b"Traceback" not in missing.stderr


def test_a_public_key_file_encrypts_and_only_the_private_key_decrypts(tmp_path: Path) -> None:
    private = sealbox.PrivateKey.generate()
    (tmp_path / "public.txt").write_text(private.public_key.to_text() + "\n")
    (tmp_path / "private.txt").write_text(private.to_text())
    data = b"collected on the web server\n" * 1000
    (tmp_path / "plain").write_bytes(data)
    enc = sh("sealbox encrypt --public-key public.txt --context form < plain > sealed", tmp_path)
    assert enc.returncode == 0, enc.stderr
    dec = sh("sealbox decrypt --private-key private.txt --context form < sealed", tmp_path)
    assert dec.returncode == 0 and dec.stdout == data
    assert sh("sealbox decrypt --context form < sealed", tmp_path).returncode == 1
    bad = sh("sealbox encrypt --public-key private.txt < plain", tmp_path)
    assert bad.returncode == 2 and b"public key" in bad.stderr


def test_inspect_prints_headers_without_a_key(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"x" * 100_000)
    assert sh("sealbox encrypt --context c --segment-size 4096 plain -o f.sbx", tmp_path).returncode == 0
    got = sh("env -u SEALBOX_KEYS " + "sealbox inspect --json f.sbx", tmp_path)
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    assert report["kind"] == "file" and report["suite"] == "stream" and report["key_id"] == 1
    assert report["segment_size"] == 4096 and report["plaintext_length"] == 100_000
    shown = sh("head -c 4180 f.sbx | sealbox inspect", tmp_path)  # a 2-byte last segment
    assert shown.returncode == 0 and b"plaintext_length: None" in shown.stdout
    text = sealbox.Box(sealbox.Keyring({7: KEY}), encoding="text").encrypt(b"hello", context=b"c")
    message = json.loads(sh("sealbox inspect --json", tmp_path, stdin=(text + "\n").encode()).stdout)
    assert message == {
        "kind": "message",
        "version": 1,
        "suite": "aes-256-gcm",
        "key_id": 7,
        "encoding": "text",
        "plaintext_length": 5,
    }
    public = sealbox.Box(sealbox.PrivateKey.generate(key_id=3).public_key).encrypt(b"v")
    (tmp_path / "m.bin").write_bytes(public)
    env_report = json.loads(sh("sealbox inspect --json m.bin", tmp_path).stdout)
    assert (
        env_report["suite"] == "envelope"
        and env_report["key_id"] == 3
        and env_report["wrapped_key_length"] == 80
    )
    assert sh("sealbox inspect", tmp_path, stdin=b"not a message").returncode == 2


@pytest.mark.parametrize("argv", [["encrypt", "--segment-size", "1000"], ["decrypt", "/nonexistent"]])
def test_bad_arguments_exit_2(tmp_path: Path, argv: list[str]) -> None:
    assert sh("sealbox " + " ".join(argv) + " < /dev/null", tmp_path).returncode == 2
