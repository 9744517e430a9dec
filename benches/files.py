"""Files: `python benches/files.py [--short]`.

Times, in one process and interleaved (median of the rounds):

- `Box.encrypt_file` and `Box.decrypt_file` of 1 GiB on tmpfs (/dev/shm), next to a
  Python loop that reads 64 KiB chunks and seals each with cryptography's AESGCM (a
  fresh nonce, written before the chunk), and next to `cp` of the same file;
- peak RSS of encrypting and decrypting a 4 GiB file, in a child process each;
- `Box(public_key).encrypt` of 32 bytes next to PyNaCl's `SealedBox(pk).encrypt`, and
  `Box(public_key).encrypt_batch` of 1M x 64 B next to a Python loop of PyNaCl sealed
  boxes (timed on 20,000 values; rows per second compared).

`--short` uses 64 MiB, 256 MiB and 100,000 values (under a minute). Informative: it
never fails on a figure.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import sealbox
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 64 * 1024
KEY = bytes(range(32))


def aesgcm_loop_encrypt(src: str, dst: str) -> None:
    aead = AESGCM(KEY)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            nonce = os.urandom(12)
            fout.write(nonce)
            fout.write(aead.encrypt(nonce, chunk, None))


def aesgcm_loop_decrypt(src: str, dst: str) -> None:
    aead = AESGCM(KEY)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while sealed := fin.read(12 + CHUNK + 16):
            fout.write(aead.decrypt(sealed[:12], sealed[12:], None))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_file(path: str, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def throughput(directory: str, size: int, rounds: int) -> None:
    box = sealbox.Box(KEY)
    plain, sealed, back = (os.path.join(directory, n) for n in ("plain", "sealed", "back"))
    loop_sealed = os.path.join(directory, "loop-sealed")
    make_file(plain, size)
    cases: dict[str, Callable[[], object]] = {
        "cp": lambda: subprocess.run(["cp", plain, back], check=True),
        "encrypt_file": lambda: box.encrypt_file(plain, sealed, context=b"bench"),
        "aesgcm loop encrypt": lambda: aesgcm_loop_encrypt(plain, loop_sealed),
        "decrypt_file": lambda: box.decrypt_file(sealed, back, context=b"bench"),
        "aesgcm loop decrypt": lambda: aesgcm_loop_decrypt(loop_sealed, back),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    with open(plain, "rb") as a, open(back, "rb") as b:
        assert a.read(1 << 20) == b.read(1 << 20)
    gib = size / (1 << 30)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"{size >> 20} MiB on {directory}, {rounds} rounds, median (min-max):")
    for name, t in times.items():
        print(
            f"  {name:22s} {med[name] * 1000:8.0f} ms  {gib / med[name]:5.2f} GiB/s  "
            f"({min(t) * 1000:.0f}-{max(t) * 1000:.0f} ms)"
        )
    for op in ("encrypt", "decrypt"):
        loop, ours = med[f"aesgcm loop {op}"], med[f"{op}_file"]
        print(
            f"  {op}_file: {loop / ours:.2f}x the AESGCM loop (target >= 1.5), "
            f"{med['cp'] / ours:.2f}x cp's speed (target >= 0.8)"
        )
    for p in (plain, sealed, back, loop_sealed):
        os.unlink(p)


PEAK = """
import resource, sys, sealbox
box = sealbox.Box(bytes(range(32)))
getattr(box, sys.argv[1])(sys.argv[2], sys.argv[3], context=b"bench")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak_rss(directory: str, size: int) -> None:
    plain, sealed, back = (os.path.join(directory, n) for n in ("plain", "sealed", "back"))
    make_file(plain, size)
    for op, src, dst in (("encrypt_file", plain, sealed), ("decrypt_file", sealed, back)):
        out = subprocess.run(
            [sys.executable, "-c", PEAK, op, src, dst], check=True, capture_output=True, text=True
        )
        peak = int(out.stdout.split()[-1])
        print(f"  {op} of {size >> 20} MiB: peak RSS {peak / (1 << 20):.0f} MiB (target <= 64 MiB)")
        if op == "decrypt_file":
            os.unlink(src)
    for p in (plain, back):
        if os.path.exists(p):
            os.unlink(p)


def public_keys(rows: int, loop_rows: int, rounds: int) -> None:
    from nacl.public import PrivateKey as NaclPrivate
    from nacl.public import SealedBox as NaclSealed

    private = sealbox.PrivateKey.generate()
    box = sealbox.Box(private.public_key)
    per_value = sealbox.Box(sealbox.EnvelopeKeyProvider(private.public_key))
    nacl = NaclSealed(NaclPrivate.generate().public_key)
    value = os.urandom(32)
    n = 2000
    singles: dict[str, Callable[[], object]] = {
        "Box(public_key).encrypt": lambda: [box.encrypt(value) for _ in range(n)],
        "  without DataKeyCache": lambda: [per_value.encrypt(value) for _ in range(n)],
        "PyNaCl SealedBox.encrypt": lambda: [nacl.encrypt(value) for _ in range(n)],
    }
    times: dict[str, list[float]] = {name: [] for name in singles}
    for _ in range(rounds):
        for name, fn in singles.items():
            times[name].append(timed(fn) / n)
    print(f"one 32-byte value, median of {rounds} rounds of {n}:")
    for name, t in times.items():
        print(f"  {name:28s} {statistics.median(t) * 1e6:7.1f} us")
    ratio = statistics.median(times["PyNaCl SealedBox.encrypt"]) / statistics.median(
        times["Box(public_key).encrypt"]
    )
    print(f"  Box(public_key).encrypt: {ratio:.1f}x PyNaCl (target >= 1)")
    values = [os.urandom(64) for _ in range(rows)]
    batch = statistics.median(timed(lambda: box.encrypt_batch(values)) for _ in range(rounds))
    loop = statistics.median(
        timed(lambda: [nacl.encrypt(v) for v in values[:loop_rows]]) for _ in range(rounds)
    )
    ours, theirs = rows / batch, loop_rows / loop
    print(
        f"encrypt_batch of {rows:,} x 64 B: {batch * 1000:.0f} ms, {ours / 1e6:.2f} M rows/s; "
        f"PyNaCl loop ({loop_rows:,} rows): {theirs / 1e3:.1f} k rows/s; {ours / theirs:.0f}x (target >= 20)"
    )


def main() -> None:
    short = "--short" in sys.argv
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as directory:
        throughput(directory, (64 if short else 1024) << 20, 3 if short else 5)
        peak_rss(directory, (256 if short else 4096) << 20)
    public_keys(100_000 if short else 1_000_000, 5_000 if short else 20_000, 3 if short else 5)


if __name__ == "__main__":
    main()
