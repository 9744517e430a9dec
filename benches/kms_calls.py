#!/usr/bin/env python3
"""KMS calls per 100,000 messages, encrypted and then decrypted, through AWS KMS (moto's server).

    python benches/kms_calls.py [ROWS] [MAX_MESSAGES]

Counts the requests boto3 actually sends (a botocore ``before-send`` hook), for
``Box(EnvelopeKeyProvider(AwsKms(...), DataKeyCache(max_messages=MAX_MESSAGES)))``:
single ``encrypt``/``decrypt`` calls and ``encrypt_batch``/``decrypt_batch``.
Without a cache every message costs one GenerateDataKey and one Decrypt; that
row is measured on 1,000 messages (moto answers ~300 calls/s) and shown per message.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from typing import Any

import boto3
import sealbox
from botocore.config import Config
from moto.server import ThreadedMotoServer
from sealbox.providers import AwsKms


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "kms",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
        calls: Counter[str] = Counter()

        def count(request: Any, **_: Any) -> None:
            calls[request.headers.get("X-Amz-Target", b"?").decode().split(".")[-1]] += 1

        client.meta.events.register("before-send.kms", count)
        key_id = client.create_key()["KeyMetadata"]["KeyId"]
        calls.clear()
        values = [os.urandom(64) for _ in range(rows)]
        contexts = [b"users/%d/email" % i for i in range(rows)]

        def run(label: str, n: int, cache: bool, batch: bool) -> None:
            kek = AwsKms(key_id, client)
            box = sealbox.Box(
                sealbox.EnvelopeKeyProvider(kek, sealbox.DataKeyCache(max_messages=per) if cache else None)
            )
            reader = sealbox.Box(
                sealbox.EnvelopeKeyProvider(kek, sealbox.DataKeyCache(max_messages=per) if cache else None)
            )
            calls.clear()
            t = time.perf_counter()
            if batch:
                messages = box.encrypt_batch(values[:n], contexts[:n])
            else:
                messages = [box.encrypt(v, context=c) for v, c in zip(values[:n], contexts[:n], strict=True)]
            enc = dict(calls)
            calls.clear()
            if batch:
                plain = reader.decrypt_batch(messages, contexts[:n])
            else:
                plain = [reader.decrypt(m, context=c) for m, c in zip(messages, contexts[:n], strict=True)]
            dec = dict(calls)
            seconds = time.perf_counter() - t
            assert plain == values[:n]
            scale = 100_000 / n
            print(
                f"| {label} | {n:,} | {sum(enc.values()) * scale:,.0f} ({_fmt(enc)}) "
                f"| {sum(dec.values()) * scale:,.0f} ({_fmt(dec)}) | {seconds:.1f} s |"
            )

        print("| workload | messages | KMS calls to encrypt, per 100,000 | to decrypt, per 100,000 | time |")
        print("|---|---:|---|---|---:|")
        run(f"DataKeyCache(max_messages={per:,}), encrypt/decrypt one at a time", rows, True, False)
        run(f"DataKeyCache(max_messages={per:,}), encrypt_batch/decrypt_batch", rows, True, True)
        run("no cache (a data key per message), batches", min(rows, 1_000), False, True)
    finally:
        server.stop()


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


if __name__ == "__main__":
    main()
