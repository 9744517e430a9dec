"""sealbox.compat.rails.Encryptor.decrypt_batch of Rails JSON messages against the loop a
Python service would write to read them: json.loads, three base64 decodes and cryptography's
AESGCM (one prebuilt key, as Rails' primary key is one key).

    python benches/compat.py [--rows 1000000] [--loop-rows 200000] [--passes 3]

Build with `maturin develop --release` first. The messages are what Rails stores for
non-deterministic ``encrypts :email`` (e-mail addresses of 17-30 bytes, no compression), made
by sealbox's encrypt_batch and checked to decrypt with the loop. The batch and the loop run
interleaved, ``--passes`` times; the table gives the median rows/s of each and their ratio
(the loop's rate measured on ``--loop-rows`` rows, per row, so the sizes compare directly).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sealbox.compat.rails import Encryptor

SALT = "bench key derivation salt"
PRIMARY = "bench primary key"


def python_loop(messages: list[str], aesgcm: AESGCM) -> list[str]:
    out = []
    b64 = base64.b64decode
    for text in messages:
        m = json.loads(text)
        h = m["h"]
        pt = aesgcm.decrypt(b64(h["iv"]), b64(m["p"]) + b64(h["at"]), b"")
        out.append(pt.decode())
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--loop-rows", type=int, default=200_000)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    rails = Encryptor(PRIMARY, None, SALT)
    values = [f"user{i:07d}.{os.urandom(3).hex()}@example.org" for i in range(args.rows)]
    messages = rails.encrypt_batch(values)
    # The loop's key: the same PBKDF2 derivation Rails does, computed once.
    key = hashlib.pbkdf2_hmac("sha256", PRIMARY.encode(), SALT.encode(), 1 << 16, 32)
    aesgcm = AESGCM(key)
    loop_msgs = messages[: args.loop_rows]
    assert python_loop(loop_msgs[:1000], aesgcm) == values[:1000]
    assert rails.decrypt_batch(messages[:1000]) == values[:1000]

    batch_rates, loop_rates = [], []
    for _ in range(args.passes):
        t = time.perf_counter()
        got = rails.decrypt_batch(messages, threads=args.threads)
        batch_rates.append(args.rows / (time.perf_counter() - t))
        assert got[-1] == values[-1]
        del got
        t = time.perf_counter()
        python_loop(loop_msgs, aesgcm)
        loop_rates.append(len(loop_msgs) / (time.perf_counter() - t))

    b, lp = statistics.median(batch_rates), statistics.median(loop_rates)
    print(
        f"Rails JSON messages, {args.rows:,} rows per batch, {len(loop_msgs):,} per loop, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'implementation':<52} {'rows/s (median)':>16} {'min-max':>22}")
    print(
        f"{'sealbox Encryptor.decrypt_batch':<52} {b:>16,.0f} "
        f"{min(batch_rates):>10,.0f}-{max(batch_rates):<10,.0f}"
    )
    print(
        f"{'Python loop: json.loads + b64decode + AESGCM':<52} {lp:>16,.0f} "
        f"{min(loop_rates):>10,.0f}-{max(loop_rates):<10,.0f}"
    )
    print(f"ratio: {b / lp:.1f}x (target >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
