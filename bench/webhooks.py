"""Benchmark: the webhook receiver under SendGrid batch load on loopback.

A real uvicorn process on 127.0.0.1 receives signed SendGrid batches (``--batch`` events per
POST) from ``--clients`` concurrent clients, while another process keeps reading the landing
files the receiver writes (every sealed ``*.jsonl``, every line parsed). At the end the
receiver is shut down gracefully and every row on disk is counted: events accepted (2xx) must
equal events stored, with no duplicates and no unparsable line seen by the reader.

    .venv/bin/python -m bench.webhooks [--events 100000] [--batch 100] [--clients 8]

Prints one JSON object; exits non-zero if an event was lost or the rate is under --target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sources.webhooks.landing import INFLIGHT_SUFFIX
from sources.webhooks.signatures import sign_sendgrid_payload

EVENT_TYPES = ["processed", "delivered", "open", "click", "delivered", "open", "bounce", "unsubscribe"]


def _serve(landing: str, key_b64: str, sock_fd: int, seal_seconds: float) -> None:
    import uvicorn

    from crmloop.settings import WebhookConfig
    from sources.webhooks.app import create_app

    cfg = WebhookConfig(landing_dir=Path(landing), sendgrid_public_key=key_b64, seal_seconds=seal_seconds)
    sock = socket.socket(fileno=sock_fd)
    uvicorn.run(create_app(cfg), fd=sock.fileno(), log_level="warning", access_log=False)


def _read_loop(landing: str, stop, out) -> None:
    """Read every sealed *.jsonl over and over until told to stop."""
    passes = rows_max = bad_lines = 0
    files_max = 0
    while not stop.is_set():
        rows = 0
        files = sorted(Path(landing).glob("email_events/*/*.jsonl"))
        for f in files:
            with open(f, "rb") as fh:
                for line in fh:
                    try:
                        json.loads(line)
                        rows += 1
                    except ValueError:
                        bad_lines += 1
        passes += 1
        rows_max = max(rows_max, rows)
        files_max = max(files_max, len(files))
        time.sleep(0.05)
    out.put(
        {"passes": passes, "max_rows_seen": rows_max, "max_files_seen": files_max, "bad_lines": bad_lines}
    )


def _batches(
    n_events: int, batch: int, key: ec.EllipticCurvePrivateKey
) -> list[tuple[bytes, dict[str, str], int]]:
    now = int(time.time())
    out = []
    for start in range(0, n_events, batch):
        events = [
            {
                "email": f"customer{i % 5000}@example.com",
                "timestamp": now - (i % 3600),
                "event": EVENT_TYPES[i % len(EVENT_TYPES)],
                "sg_event_id": f"bench-{i}",
                "sg_message_id": f"msg-{i // 4}",
                "campaign_id": "welcome_prospect",
                "send_id": f"send-{i // 4}",
                "customer_id": f"C{i % 5000:05d}",
                "url": "https://shop.example/welcome" if i % len(EVENT_TYPES) == 3 else None,
            }
            for i in range(start, min(start + batch, n_events))
        ]
        body = json.dumps(events).encode()
        out.append((body, {"Content-Type": "application/json"}, len(events)))
    return out


async def _drive(url: str, batches, clients: int, key, deadline: float) -> dict:
    latencies: list[float] = []
    accepted = posts = failures = 0
    queue: asyncio.Queue = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted, posts, failures
        while not queue.empty() and time.monotonic() < deadline:
            body, headers, n = queue.get_nowait()
            ts = str(int(time.time()))
            headers = dict(headers)
            headers["X-Twilio-Email-Event-Webhook-Timestamp"] = ts
            headers["X-Twilio-Email-Event-Webhook-Signature"] = sign_sendgrid_payload(key, body, ts)
            t0 = time.perf_counter()
            resp = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            posts += 1
            if resp.status_code == 200 and resp.json().get("stored") == n:
                accepted += n
            else:
                failures += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    latencies.sort()
    return {
        "accepted_events": accepted,
        "posts": posts,
        "failed_posts": failures,
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--target", type=float, default=2000.0, help="events/s the run must sustain")
    ap.add_argument("--seal-seconds", type=float, default=2.0)
    ap.add_argument("--landing", default=None, help="landing dir (default: a fresh temp dir)")
    args = ap.parse_args(argv)

    landing = Path(args.landing or tempfile.mkdtemp(prefix="crm-bench-webhooks-"))
    key = ec.generate_private_key(ec.SECP256R1())
    key_b64 = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.set_inheritable(True)
    ctx = mp.get_context("fork")
    server = ctx.Process(target=_serve, args=(str(landing), key_b64, sock.fileno(), args.seal_seconds))
    server.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        server.terminate()
        raise SystemExit("receiver did not come up")

    stop, out = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_read_loop, args=(str(landing), stop, out))
    reader.start()

    batches = _batches(args.events, args.batch, key)
    t0 = time.monotonic()
    drive = asyncio.run(_drive(base + "/sendgrid/events", batches, args.clients, key, t0 + args.max_seconds))
    elapsed = time.monotonic() - t0
    health = httpx.get(base + "/healthz").json()

    # graceful shutdown: the receiver seals every in-flight segment
    os.kill(server.pid, 2)
    server.join(30)
    stop.set()
    reader_stats = out.get(timeout=30)
    reader.join(10)

    rows = 0
    ids: set[str] = set()
    for f in sorted(landing.glob("email_events/*/*.jsonl")):
        for line in f.read_bytes().splitlines():
            ids.add(json.loads(line)["event_id"])
            rows += 1
    leftovers = list(landing.glob(f"*/*/.*{INFLIGHT_SUFFIX}"))
    rate = drive["accepted_events"] / elapsed if elapsed else 0.0
    result = {
        "bench": "webhooks",
        "events_sent": min(args.events, drive["posts"] * args.batch),
        **drive,
        "seconds": round(elapsed, 2),
        "events_per_s": round(rate, 1),
        "target_events_per_s": args.target,
        "stored_rows": rows,
        "unique_event_ids": len(ids),
        "lost": drive["accepted_events"] - len(ids),
        "duplicates": rows - len(ids),
        "inflight_left": len(leftovers),
        "files": len(list(landing.glob("email_events/*/*.jsonl"))),
        "server_rows_stored_incl_consents": health["rows_stored"],
        "reader": reader_stats,
        "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_mb_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "landing": str(landing),
    }
    ok = (
        result["lost"] == 0
        and result["duplicates"] == 0
        and drive["failed_posts"] == 0
        and rows == drive["accepted_events"]
        and reader_stats["bad_lines"] == 0
        and rate >= args.target
    )
    result["ok"] = ok
    print(json.dumps(result))
    if not args.landing:
        import shutil

        shutil.rmtree(landing, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
