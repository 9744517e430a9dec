"""The `sealbox` command."""

from __future__ import annotations

import argparse
import base64
import sys

from sealbox._keyring import generate_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sealbox", description="Application-level encryption tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="encrypt, search, rotate and verify a SQLite table of people")
    demo.add_argument("--rows", type=int, default=1_000_000, help="number of people (default 1,000,000)")
    demo.add_argument("--batch", type=int, default=50_000, help="rows per batch (default 50,000)")
    demo.add_argument("--db", default=None, help="SQLite file (default ./sealbox-demo.sqlite3)")
    keygen = sub.add_parser("keygen", help="print a new key as an 'id:base64' keyring entry")
    keygen.add_argument("--id", type=int, default=1, help="key id (default 1)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from sealbox import demo as demo_module

        if args.rows < 2:
            parser.error("--rows must be at least 2")
        if args.batch < 1:
            parser.error("--batch must be at least 1")
        demo_module.run(rows=args.rows, db=args.db, batch=args.batch)
    elif args.command == "keygen":
        if not 0 <= args.id < 2**32:
            parser.error("--id must be between 0 and 4294967295")
        sys.stdout.write(f"{args.id}:{base64.b64encode(generate_key()).decode()}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
