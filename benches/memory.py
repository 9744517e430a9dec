"""Peak memory of a batch: `python benches/memory.py [rows]` (default 1,000,000 x 64 B).

Prints the peak RSS of the process against the bytes of the batch's input and
output (target T7: at most 3x). Informative: it never fails on the figure.
"""

from __future__ import annotations

import os
import resource
import sys

import sealbox


def main(rows: int) -> None:
    old = sealbox.Box(sealbox.Keyring({1: b"\x01" * 32}))
    new = sealbox.Box(sealbox.Keyring({1: b"\x01" * 32, 2: b"\x02" * 32}, active=2))
    messages = old.encrypt_batch([os.urandom(64) for _ in range(rows)])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rotated = new.rotate_batch(messages)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    payload = sum(map(len, messages)) + sum(map(len, rotated))
    print(
        f"rotate_batch of {rows:,} x 64 B: input + output {payload / 1e6:.0f} MB, "
        f"peak RSS {peak / 1e6:.0f} MB ({peak / payload:.2f}x; target <= 3x), "
        f"of which the call added {(peak - before) / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
