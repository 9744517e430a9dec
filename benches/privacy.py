"""T12: sealbox.privacy.scrub over ~100 MB of log lines against PyPI's logstop and scrubadub,
and PiiFilter's cost per log record.

    python benches/privacy.py [--mb 100] [--scrubadub-mb 2] [--ips 1000000]

Build with `maturin develop --release` first. The text is realistic log lines (access logs,
application logs, SQL, tracebacks) of which a few percent carry PII. logstop (its Python port)
is a logging filter: it is timed both per line through its filter, as it is used, and as its
regexes over the whole text at once (its best case). scrubadub is timed on the first
``--scrubadub-mb`` MB and its rate extrapolated: at its speed 100 MB takes hours.

Then ``hash_ip_batch`` over ``--ips`` IPv4 addresses in a pyarrow column, in both modes, against
the loop a user writes with the standard library: ``hmac.digest`` per address (a keyed
pseudonym) and IP Anonymizer's ``pbkdf2_hmac(..., 1, 4)`` per address.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable

from sealbox.privacy import PiiFilter, Scrubber, hash_ip_batch

PII_SHARE = 0.04


def make_lines(target_bytes: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "curl/8.4.0",
        "python-requests/2.31.0",
    ]
    paths = ["/api/v1/orders", "/api/v1/users/me", "/static/app.js", "/health", "/api/v1/cart/items"]

    def clean() -> str:
        kind = rnd.random()
        ts = f"2026-12-07T06:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}.{rnd.randrange(1000):03d}Z"
        if kind < 0.5:
            return (
                f'{ts} nginx "{rnd.choice(["GET", "POST"])} {rnd.choice(paths)}/{rnd.randrange(10**6)}'
                f'?page={rnd.randrange(9)} HTTP/1.1" {rnd.choice([200, 200, 201, 304, 404, 500])} '
                f'{rnd.randrange(50_000)} "-" "{rnd.choice(agents)}" rt={rnd.random():.3f}'
            )
        if kind < 0.85:
            return (
                f"{ts} INFO orders.views order={rnd.randrange(10**8)} user_id={rnd.randrange(10**6)} "
                f"status={rnd.choice(['paid', 'pending', 'shipped'])} amount={rnd.randrange(10**4)}."
                f"{rnd.randrange(100):02d} currency=USD trace=0x{rnd.getrandbits(64):016x}"
            )
        if kind < 0.95:
            return (
                f"{ts} DEBUG sqlalchemy.engine SELECT users.id, users.name FROM users "
                f"WHERE users.id = {rnd.randrange(10**6)} LIMIT 1 -- took {rnd.random() * 10:.2f}ms"
            )
        return f'{ts} ERROR worker  File "/app/jobs/sync.py", line {rnd.randrange(900)}, in run: KeyError'

    def pii() -> str:
        ts = f"2026-12-07T06:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}.{rnd.randrange(1000):03d}Z"
        n = rnd.randrange(10**6)
        return rnd.choice(
            [
                f"{ts} INFO mailer password reset sent to first.last{n}@example.com",
                f"{ts} INFO billing charge card 4242 4242 4242 4242 for user {n}",
                f"{ts} INFO billing charge card 378282246310005 for user {n}",
                f"{ts} INFO sms verification code sent to +1555{n:07d}",
                f"{ts} WARN support callback requested at 555-{n % 1000:03d}-{n % 10000:04d}",
                f"{ts} ERROR db connect failed postgres://app:hunter{n}@db.internal:5432/shop",
                f"{ts} INFO kyc ssn 123-45-{n % 10000:04d} verified for user {n}",
                f'{ts} nginx "GET /signup?email=user{n}%40example.org HTTP/1.1" 302 0',
            ]
        )

    lines: list[str] = []
    size = 0
    while size < target_bytes:
        line = pii() if rnd.random() < PII_SHARE else clean()
        lines.append(line)
        size += len(line) + 1
    return lines


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def logstop_whole_text(text: str) -> str:
    """The Python logstop port's regexes, in its order, over the whole text."""
    import re

    import logstop

    msg = re.sub(logstop.URL_PASSWORD_REGEX, logstop.FILTERED_URL_STR, text)
    msg = re.sub(logstop.EMAIL_REGEX, logstop.FILTERED_STR, msg, flags=re.IGNORECASE)
    msg = re.sub(logstop.CREDIT_CARD_REGEX, logstop.FILTERED_STR, msg)
    msg = re.sub(logstop.CREDIT_CARD_REGEX_DELIMITERS, logstop.FILTERED_STR, msg)
    msg = re.sub(logstop.E164_PHONE_REGEX, logstop.FILTERED_STR, msg)
    msg = re.sub(logstop.PHONE_REGEX, logstop.FILTERED_STR, msg)
    return re.sub(logstop.SSN_REGEX, logstop.FILTERED_STR, msg)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--scrubadub-mb", type=float, default=2.0)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--ips", type=int, default=1_000_000)
    args = ap.parse_args()

    lines = make_lines(int(args.mb * 1e6))
    text = "\n".join(lines) + "\n"
    mb = len(text.encode()) / 1e6
    print(f"text: {mb:.1f} MB, {len(lines):,} lines, {PII_SHARE:.0%} with PII")
    scrubber = Scrubber()
    rows: list[tuple[str, float, str]] = []

    med, lo, hi = timed(lambda: scrubber.scrub(text), repeat=3)
    rows.append(("sealbox scrub, whole text", mb / med, f"{med:.2f} s ({lo:.2f}-{hi:.2f})"))
    med, lo, hi = timed(lambda: scrubber.scrub_batch(lines), repeat=3)
    rows.append(("sealbox scrub_batch, per line", mb / med, f"{med:.2f} s ({lo:.2f}-{hi:.2f})"))
    one = scrubber.scrub
    med, lo, hi = timed(lambda: [one(line) for line in lines])
    rows.append(("sealbox scrub, a Python loop per line", mb / med, f"{med:.2f} s"))

    try:
        import logstop

        med, _, _ = timed(lambda: logstop_whole_text(text))
        rows.append(("logstop regexes, whole text", mb / med, f"{med:.2f} s"))
        flt = logstop.LogstopFilter()

        def per_line() -> None:
            for line in lines:
                flt.filter(logging.LogRecord("app", logging.INFO, "", 0, line, None, None))

        med, _, _ = timed(per_line)
        rows.append(("logstop LogstopFilter, per line (records made)", mb / med, f"{med:.2f} s"))
    except ImportError:
        rows.append(("logstop", 0.0, "not installed (pip install logstop)"))

    try:
        import scrubadub

        sub = text[: int(args.scrubadub_mb * 1e6)]
        sub = sub[: sub.rfind("\n") + 1]
        sub_mb = len(sub.encode()) / 1e6
        med, _, _ = timed(lambda: scrubadub.clean(sub))
        rows.append((f"scrubadub.clean ({sub_mb:.1f} MB, extrapolated)", sub_mb / med, f"{med:.2f} s"))
    except ImportError:
        rows.append(("scrubadub", 0.0, "not installed (pip install scrubadub)"))

    print(f"\n{'scrub':52} {'MB/s':>9}  time")
    for name, rate, note in rows:
        print(f"{name:52} {rate:9.1f}  {note}")

    # PiiFilter per record: records made first, the filter alone timed.
    n = args.records
    pii_filter = PiiFilter()

    def records() -> list[logging.LogRecord]:
        return [
            logging.LogRecord(
                "app.orders",
                logging.INFO,
                "/app/orders.py",
                42,
                "order %s paid by user %s in %.1f ms",
                (f"{i:08d}", i % 100_000, 12.5),
                None,
            )
            for i in range(n)
        ]

    print(f"\nper log record ({n:,} records, 'order %s paid by user %s in %.1f ms', 3 args)")
    results: dict[str, list[float]] = {}
    filters: list[tuple[str, Callable[[logging.LogRecord], object]]] = [
        ("record.getMessage() alone", lambda r: r.getMessage()),
        ("sealbox PiiFilter", pii_filter.filter),
    ]
    try:
        import logstop

        filters.append(("logstop LogstopFilter", logstop.LogstopFilter().filter))
    except ImportError:
        pass
    for _ in range(3):  # interleaved
        for name, fn in filters:
            batch = records()
            start = time.perf_counter()
            for r in batch:
                fn(r)
            results.setdefault(name, []).append((time.perf_counter() - start) / n * 1e6)
    for name, us in results.items():
        print(f"{name:52} {statistics.median(us):6.2f} µs  ({min(us):.2f}-{max(us):.2f})")
    bench_hash_ip(args.ips)
    return 0


def bench_hash_ip(n: int) -> None:
    import hashlib
    import hmac
    import ipaddress

    import pyarrow as pa

    rng = random.Random(11)
    ips = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(n)]
    column = pa.array(ips, pa.string())
    key = bytes(range(32))
    print(f"\nhash_ip_batch, {n:,} IPv4 addresses (a pyarrow string column), median of 3")
    rows = [
        (
            "sealbox hash_ip_batch (keyed PRF)",
            lambda: hash_ip_batch(column, key),
            "user loop: hmac.digest per address",
            lambda: [
                str(ipaddress.IPv4Address(hmac.digest(key, ip.encode(), "sha256")[:4])) for ip in ips
            ],
        ),
        (
            "sealbox hash_ip_batch (mode='ip_anonymizer')",
            lambda: hash_ip_batch(column, "secret", mode="ip_anonymizer"),
            "user loop: pbkdf2_hmac(ip, key, 1, 4) per address",
            lambda: [
                str(ipaddress.IPv4Address(hashlib.pbkdf2_hmac("sha256", ip.encode(), b"secret", 1, 4)))
                for ip in ips
            ],
        ),
    ]
    for ours_name, ours, theirs_name, theirs in rows:
        ours_t = timed(ours, 3)[0]
        theirs_t = timed(theirs, 3)[0]
        print(f"{ours_name:52} {n / ours_t / 1e6:6.2f} M/s")
        print(f"{theirs_name:52} {n / theirs_t / 1e6:6.2f} M/s   sealbox {theirs_t / ours_t:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
