"""The public API as `mypy --strict` sees it from a user's code: what each call
returns, including the envelope Box's asyncio methods and the batch methods
(a list in gives a list out, an Arrow column in an Arrow array out)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

USER_CODE = """
    import sealbox

    key = sealbox.generate_key()
    box = sealbox.Box(key)
    text = sealbox.Box(key, encoding="text")
    det = sealbox.Box(sealbox.Keyring({1: key}, active=1), deterministic=True)
    env = sealbox.Box(sealbox.EnvelopeKeyProvider(sealbox.Keyring({1: key}, active=1)))
    env_text = sealbox.Box(sealbox.EnvelopeKeyProvider(sealbox.Keyring({1: key}, active=1)), encoding="text")

    class Column:
        def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
            raise NotImplementedError

    reveal_type(box.encrypt(b"x"))
    reveal_type(text.encrypt(b"x"))
    reveal_type(det.lookup_values(b"x"))
    reveal_type(env)
    reveal_type(env_text.encrypt(b"x"))
    reveal_type(box.encrypt_batch([b"x"]))
    reveal_type(box.decrypt_batch([b"x"], errors="return"))
    reveal_type(text.rotate_batch(["x"]))
    reveal_type(box.encrypt_batch(Column()))
    reveal_type(sealbox.BlindIndex(key, bits=24).compute(b"x"))
    slow = sealbox.BlindIndex(key, "argon2id", encoding="hex", t=3, m=65536, p=1, allow_weak=False)
    reveal_type(slow.compute("x"))

    async def main() -> bytes:
        message = await env.encrypt_async(b"x", context=b"users/1/email")
        reveal_type(message)
        return await env.decrypt_async(message, context=b"users/1/email")
"""

EXPECTED = [
    "bytes",
    "str",
    "list[bytes]",
    "sealbox._box.EnvelopeBox[bytes]",
    "str",
    "list[bytes]",
    "list[bytes | None]",
    "list[str]",
    "sealbox._box.ArrowArray",
    "bytes",
    "str",
    "bytes",
]


def reveal(code: str, tmp_path: Path) -> tuple[list[str], str]:
    path = tmp_path / "user.py"
    path.write_text(textwrap.dedent(code))
    out, err, _ = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)])
    revealed = [
        line.split('Revealed type is "', 1)[1].rstrip('"')
        for line in out.splitlines()
        if "Revealed type" in line
    ]
    errors = "\n".join(line for line in out.splitlines() if ": error:" in line)
    return revealed, errors + err


def test_user_code_type_checks_with_precise_types(tmp_path: Path) -> None:
    revealed, errors = reveal(USER_CODE, tmp_path)
    assert errors == ""
    assert revealed == EXPECTED


def test_a_type_error_in_user_code_is_reported(tmp_path: Path) -> None:
    # The check above could pass with everything typed Any; this shows mypy
    # does see sealbox's types: a str message where bytes are needed fails.
    _, errors = reveal(
        """
        import sealbox
        box = sealbox.Box(sealbox.generate_key(), encoding="text")
        def store(data: bytes) -> None: ...
        store(box.encrypt(b"x"))
        store(box.encrypt_batch([b"x"])[0])
        sealbox.BlindIndex(b"k" * 32, bits="24")
        """,
        tmp_path,
    )
    assert errors.count('incompatible type "str"; expected "bytes"') == 2
    assert 'No overload variant of "BlindIndex" matches argument types "bytes", "str"' in errors
