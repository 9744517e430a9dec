"""The `sealbox` command."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

from sealbox._keyring import Keyring, generate_key

# Exit statuses: 0 done, 1 done with rows that failed, 2 stopped before writing (or bad usage).
FAILED_ROWS, STOPPED = 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sealbox", description="Application-level encryption tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="encrypt, search, rotate and verify a SQLite table of people")
    demo.add_argument("--rows", type=int, default=1_000_000, help="number of people (default 1,000,000)")
    demo.add_argument("--batch", type=int, default=50_000, help="rows per batch (default 50,000)")
    demo.add_argument("--db", default=None, help="SQLite file (default ./sealbox-demo.sqlite3)")
    keygen = sub.add_parser("keygen", help="print a new key as an 'id:base64' keyring entry")
    keygen.add_argument("--id", type=int, default=1, help="key id (default 1)")
    rotate = sub.add_parser("rotate", help="re-encrypt a table's columns under the active key, resumably")
    _table_options(rotate, job=True)
    from sealbox.compat import _cli as moves

    moves.add_options(rotate)
    encrypt = sub.add_parser("encrypt-column", help="encrypt a plaintext column in place, resumably")
    _table_options(encrypt, job=True)
    encrypt.add_argument("--deterministic", action="store_true", help="AES-SIV: equal values, equal messages")
    encrypt.add_argument(
        "--raw",
        action="store_true",
        help="encrypt text as UTF-8 and bytes as they are, not sealbox.codecs values",
    )
    status = sub.add_parser("status", help="count a column's rows by key, from the headers alone")
    _table_options(status, job=False)
    for name, verb in (("encrypt", "encrypt"), ("decrypt", "decrypt")):
        cmd = sub.add_parser(
            name, help=f"{verb} a file (the segmented format, docs/files.md); stdin to stdout"
        )
        cmd.add_argument("input", nargs="?", default="-", help="input file (default: stdin)")
        cmd.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
        cmd.add_argument("--context", default=None, help="the context bound to the file (UTF-8)")
        cmd.add_argument(
            "--keys-env",
            default="SEALBOX_KEYS",
            help="environment variable holding the keyring, 'id:key,...' (default SEALBOX_KEYS)",
        )
        key_file = "--public-key" if name == "encrypt" else "--private-key"
        cmd.add_argument(
            key_file,
            default=None,
            metavar="FILE",
            help=f"a file holding a {key_file[2:].replace('-', ' ')} in text form, instead of a keyring",
        )
        if name == "encrypt":
            cmd.add_argument(
                "--segment-size", type=int, default=65536, help="bytes per segment (default 65536)"
            )
    inspect = sub.add_parser(
        "inspect", help="print the header of a message or an encrypted file, without a key"
    )
    inspect.add_argument("input", nargs="?", default="-", help="a file, or '-' for stdin (default)")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    if args.command in ("rotate", "encrypt-column", "status"):
        return _table_command(args)
    if args.command in ("encrypt", "decrypt"):
        return _file_command(args)
    if args.command == "inspect":
        return _inspect_command(args)

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


def _table_options(parser: argparse.ArgumentParser, *, job: bool) -> None:
    parser.add_argument(
        "--db", required=True, help="SQLite path, sqlite:///..., postgresql://... or a SQLAlchemy URL"
    )
    parser.add_argument("--table", required=True)
    parser.add_argument(
        "--column", required=True, action="append" if job else "store", help="a column (repeat for several)"
    )
    parser.add_argument(
        "--keys-env",
        default="SEALBOX_KEYS",
        help="environment variable holding the keyring, 'id:key,...' "
        "(default SEALBOX_KEYS; the highest id is active)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    if not job:
        return
    parser.add_argument(
        "--key-column", default=None, help="the unique column to page by (default: the primary key)"
    )
    parser.add_argument(
        "--context",
        choices=["none", "column", "row"],
        default="column",
        help="column: column_context(table, column) (default); row: with the row's key; none",
    )
    parser.add_argument(
        "--batch-size", type=int, default=10_000, help="rows per batch and transaction (default 10,000)"
    )
    parser.add_argument("--dry-run", action="store_true", help="write nothing; report what would change")
    parser.add_argument("--verify", action="store_true", help="re-read and decrypt every row written")
    parser.add_argument("--strict", action="store_true", help="stop at the first row that fails")


def _table_command(args: argparse.Namespace) -> int:
    from sealbox import tables
    from sealbox.tables._progress import reporter

    def fail(message: str) -> int:
        sys.stderr.write(f"sealbox {args.command}: {message}\n")
        return STOPPED

    try:
        if args.command == "status":
            keys = Keyring.from_env(args.keys_env) if args.keys_env in os.environ else None
            found = tables.status(args.db, args.table, args.column)
            report: dict[str, Any] = found.to_json()
            if keys is not None:
                report["active_key"] = keys.active_id
                report["to_rotate"] = sum(n for k, n in found.by_key.items() if k != keys.active_id)
            _print_status(report, args.json)
            return 0
        keys = Keyring.from_env(args.keys_env)
        if args.batch_size < 1:
            return fail("--batch-size must be at least 1")
        if args.command == "rotate":
            if args.source is not None and args.target is not None:
                return fail("--from and --to go one way each: give one")
            if args.target is not None and args.verify:
                return fail("--verify reads sealbox messages back; --to writes another format")
            if args.deterministic and args.target is None:
                return fail("--deterministic goes with --to rails (a rotation keeps each message's suite)")
            if args.raw and args.source is None and args.target is None:
                return fail("--raw goes with --from or --to")
        label = "rotate" if args.command == "rotate" else "encrypt"
        progress, end = reporter(f"{label} {args.table}")
        options: dict[str, Any] = {
            "key_column": args.key_column,
            "context": args.context,
            "batch_size": args.batch_size,
            "dry_run": args.dry_run,
            "verify": args.verify,
            "strict": args.strict,
            "progress": progress,
        }
        try:
            if args.command == "rotate" and args.source is not None:
                from sealbox.compat import _cli as moves

                convert, row_columns = moves.source(args, args.table, args.column)
                result = tables.encrypt(
                    args.db,
                    args.table,
                    args.column,
                    keys,
                    codec=not args.raw,
                    convert=convert,
                    row_columns=row_columns,
                    **options,
                )
            elif args.command == "rotate" and args.target is not None:
                from sealbox.compat import _cli as moves

                del options["verify"]
                result = tables.decrypt(
                    args.db,
                    args.table,
                    args.column,
                    keys,
                    codec=not args.raw,
                    convert=dict.fromkeys(args.column, moves.target(args)),
                    **options,
                )
            elif args.command == "rotate":
                result = tables.rotate(args.db, args.table, args.column, keys, **options)
            else:
                result = tables.encrypt(
                    args.db,
                    args.table,
                    args.column,
                    keys,
                    deterministic=args.deterministic,
                    codec=not args.raw,
                    **options,
                )
        finally:
            end()
    except tables.TableJobError as exc:
        _print_report(exc.report.to_json(), args.json)
        return fail(str(exc))
    except (ValueError, TypeError) as exc:
        return fail(str(exc))
    _print_report(result.to_json(), args.json)
    return FAILED_ROWS if result.failed or result.remaining else 0


def _print_status(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    by_key = ", ".join(f"key {k}: {n:,}" for k, n in report["by_key"].items()) or "none"
    line = (
        f"{report['table']}.{report['column']}: {report['rows']:,} rows; {report['null']:,} NULL; "
        f"{by_key}; {report['not_encrypted']:,} not encrypted"
    )
    if "to_rotate" in report:
        line += f"; {report['to_rotate']:,} to rotate to key {report['active_key']}"
    sys.stdout.write(line + "\n")


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    done = report.get("rotated", report.get("encrypted", 0))
    verb = "rotated" if "rotated" in report else "encrypted"
    would = "would be " if report["dry_run"] else ""
    sys.stdout.write(
        f"{report['table']} ({', '.join(report['columns'])}): {done:,} rows {would}{verb}, "
        f"{report['unchanged']:,} unchanged, {len(report['failed']):,} failed, "
        f"{report['conflicts']:,} changed meanwhile, in {report['seconds']:.1f} s"
        + (" (every row written read back and decrypted)" if report["verified"] else "")
        + "\n"
    )
    if report.get("remaining"):
        sys.stdout.write(
            f"  {report['remaining']:,} rows are still pending (failed, or written meanwhile the old way): "
            "run again before retiring a key\n"
        )
    for failure in report["failed"][:20]:
        sys.stdout.write(f"  row {failure['key']!r}, {failure['column']}: {failure['reason']}\n")
    if len(report["failed"]) > 20:
        sys.stdout.write(f"  ... and {len(report['failed']) - 20:,} more (--json lists them all)\n")


def _file_command(args: argparse.Namespace) -> int:
    from sealbox._box import Box
    from sealbox._errors import DecryptionError
    from sealbox._public import PrivateKey, PublicKey

    def fail(message: str, status: int = STOPPED) -> int:
        sys.stderr.write(f"sealbox {args.command}: {message}\n")
        return status

    key_path = args.public_key if args.command == "encrypt" else args.private_key
    try:
        if key_path is not None:
            with open(key_path, encoding="utf-8") as f:
                text = f.read()
            key: Any = PublicKey.from_text(text) if args.command == "encrypt" else PrivateKey.from_text(text)
        else:
            key = Keyring.from_env(args.keys_env)
    except (OSError, ValueError, TypeError) as e:
        return fail(str(e))
    box: Any = Box(key)
    src: Any = sys.stdin.buffer if args.input == "-" else args.input
    dst: Any = sys.stdout.buffer if args.output == "-" else args.output
    try:
        if args.command == "encrypt":
            box.encrypt_file(src, dst, context=args.context, segment_size=args.segment_size)
        else:
            box.decrypt_file(src, dst, context=args.context)
    except DecryptionError:
        return fail("decryption failed (wrong key or context, or a damaged or truncated file)", FAILED_ROWS)
    except (OSError, ValueError, TypeError) as e:
        return fail(str(e))
    return 0


def _inspect_command(args: argparse.Namespace) -> int:
    from sealbox import _files, _native
    from sealbox._errors import DecryptionError
    from sealbox._native import Message

    def fail(message: str) -> int:
        sys.stderr.write(f"sealbox inspect: {message}\n")
        return STOPPED

    try:
        if args.input == "-":
            data = sys.stdin.buffer.read()
            size = len(data)
        else:
            with open(args.input, "rb") as f:
                data = f.read(8192)  # a file's header is at most 4162 bytes
                if data[:2] != b"\x01\x05":
                    data += f.read()  # a message is read whole
                size = os.fstat(f.fileno()).st_size
    except OSError as e:
        return fail(str(e))
    report: dict[str, Any]
    try:
        if data[:2] == b"\x01\x05":
            header = data[: _native.stream_header_len(data[:10])]
            if len(header) < _native.stream_header_len(data[:10]):
                raise DecryptionError("short header")
            report = {"kind": "file", **_files.inspect_header(header)}
            segment = report["segment_size"]
            try:
                _, length = _native.stream_layout(size - len(header), segment)
                report["plaintext_length"] = length
            except DecryptionError:
                report["plaintext_length"] = None
                report["note"] = "truncated or extended: no writer makes a file of this size"
        else:
            text = data.strip() if data[:1] != b"\x01" else data
            message = Message.parse(text if data[:1] == b"\x01" else text.decode("ascii"))
            report = {
                "kind": "message",
                "version": message.version,
                "suite": message.suite,
                "key_id": message.key_id,
                "encoding": message.encoding,
                "plaintext_length": message.plaintext_length,
            }
            if message.suite == "envelope":
                report["context_bound"] = message.context_bound
                report["wrapped_key_length"] = len(message.wrapped_key or b"")
    except (DecryptionError, UnicodeDecodeError):
        return fail("not a sealbox message or file")
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        for k, v in report.items():
            sys.stdout.write(f"{k}: {v}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
