from __future__ import annotations

import base64
import sqlite3
import subprocess
import sys
from pathlib import Path

from sealbox import Message, cli


def test_demo_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    lines: list[str] = []
    from sealbox import demo

    demo.run(rows=200, db=str(db), batch=64, echo=lines.append)
    assert any("found" in line for line in lines)
    assert any("DecryptionError" in line for line in lines)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, email_lookup FROM people").fetchall()
    assert len(rows) == 200
    assert all(Message.parse(name).key_id == 2 for name, _ in rows)
    assert all(Message.parse(lookup).deterministic for _, lookup in rows)
    assert not any(b"@example.org" in lookup or b"example" in name for name, lookup in rows)


def test_cli_demo_and_keygen(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["keygen", "--id", "7"]) == 0
    ident, key = capsys.readouterr().out.strip().split(":")
    assert ident == "7" and len(base64.b64decode(key)) == 32
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sealbox.cli",
            "demo",
            "--rows",
            "50",
            "--db",
            str(tmp_path / "d.db"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "verified all 50 rows" in out
