"""Benchmark: emails and SMS through the real SDKs to the local fake providers.

    .venv/bin/python -m bench.sends [--emails 1000000] [--sms 30000] [--sms-rate 300]
                                    [--email-concurrency 4] [--email-rate 100]

The fakes run in a separate process (`tests.fakes.serve`) so they do not share our GIL.
Messages are generated lazily (memory stays flat); every send goes through the DuckDB send
ledger exactly as in production. Prints one JSON object: throughput, the SMS rate held
against the configured one, duplicates seen by the fakes, RSS at start / middle / end, peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

import psutil

from activations.audiences.messages import Message, send_id_for
from activations.delivery.api import send_messages
from crmloop.settings import DeliveryConfig

SEND_DATE = date(2025, 3, 14)
REPO = Path(__file__).resolve().parent.parent


def _message(i: int, channel: str, **content) -> Message:
    """Customer i's welcome message on `channel`, custom_args filled as activations.audiences.prepare
    fills them (the send id is computed once, on the plan side)."""
    cid = f"C{i:08d}"
    return Message(
        campaign_id="welcome",
        customer_id=cid,
        channel=channel,
        send_date=SEND_DATE,
        custom_args={
            "campaign_id": "welcome",
            "send_id": send_id_for("welcome", cid, channel, SEND_DATE),
            "customer_id": cid,
            "channel": channel,
            "send_date": SEND_DATE.isoformat(),
        },
        **content,
    )


def gen_email(n: int):
    for i in range(n):
        yield _message(
            i,
            "email",
            to=f"p{i}@example.com",
            subject=f"ยินดีต้อนรับ คุณ{i}",
            text=f"สวัสดีค่ะ ลูกค้าหมายเลข {i} รับของขวัญฟรี",
            html=f"<p>สวัสดีค่ะ ลูกค้าหมายเลข {i}</p>",
            sender="news@shop.example",
            unsubscribe_group=1001,  # the plan's email_unsubscribe_group (live email needs one)
            sender_name="ร้านค้า",
        )


def gen_sms(n: int):
    for i in range(n):
        yield _message(i, "sms", to=f"+668{i:08d}", sms_body=f"รับของขวัญฟรีเมื่อซื้อครั้งแรก รหัส {i}")


class RssSampler:
    def __init__(self):
        self.proc = psutil.Process()
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.proc.memory_info().rss))
            self._stop.wait(0.5)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def start_mid_end_mb(self) -> list[float]:
        s = self.samples
        return [round(s[i][1] / 2**20, 1) for i in (0, len(s) // 2, -1)] if s else []

    def progress(self, total: int):
        """A delivery progress callback that notes RSS at 10 %, 50 % and 100 % of `total` sent."""
        marks: dict[str, float] = {}

        def cb(stage: str, info: dict) -> None:
            sent = info.get("sent", 0)
            for label, share in (("10pct", 0.1), ("50pct", 0.5), ("100pct", 1.0)):
                if label not in marks and total and sent >= share * total:
                    marks[label] = round(self.proc.memory_info().rss / 2**20, 1)

        cb.marks = marks
        return cb


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as r:
        return json.loads(r.read())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emails", type=int, default=1_000_000)
    ap.add_argument("--sms", type=int, default=20_000, help="SMS to send (200,000 takes 200000/rate seconds)")
    ap.add_argument("--sms-rate", type=float, default=200.0, help="configured Twilio requests per second")
    ap.add_argument("--sms-concurrency", type=int, default=16)
    ap.add_argument(
        "--email-rate", type=float, default=100.0, help="SendGrid requests per second (x1000 emails)"
    )
    ap.add_argument("--email-concurrency", type=int, default=4)
    args = ap.parse_args(argv)

    fakes = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.serve"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    urls = json.loads(fakes.stdout.readline())
    result: dict = {"bench": "sends", "email_count": args.emails, "sms_count": args.sms}
    try:
        with tempfile.TemporaryDirectory(prefix="crm-bench-sends-") as home:
            env = {
                "CRM_ACTIVATION_MODE": "live",
                "SENDGRID_API_KEY": "SG.bench",
                "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                "TWILIO_AUTH_TOKEN": "bench-token",
                "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32,
                "CRM_SENDGRID_BASE_URL": urls["sendgrid"],
                "CRM_TWILIO_BASE_URL": urls["twilio"],
                "CRM_SENDGRID_RATE": str(args.email_rate),
                "CRM_SENDGRID_CONCURRENCY": str(args.email_concurrency),
                "CRM_TWILIO_RATE": str(args.sms_rate),
                "CRM_TWILIO_CONCURRENCY": str(args.sms_concurrency),
                "CRM_SMS_LEDGER_BATCH": "500",
            }
            cfg = DeliveryConfig.from_env(home=Path(home), env=env)
            # what building the messages costs (the plan side's work, included in the run below)
            c0, n_gen = cpu_seconds(), min(args.emails, 100_000)
            for _ in gen_email(n_gen):
                pass
            gen_cpu_per_msg = (cpu_seconds() - c0) / max(1, n_gen)
            with RssSampler() as rss_email:
                t0, c0 = time.perf_counter(), cpu_seconds()
                email_cb = rss_email.progress(args.emails)
                s = send_messages(
                    "email", gen_email(args.emails), cfg=cfg, send_date=SEND_DATE, progress=email_cb
                )
                email_s, email_cpu = time.perf_counter() - t0, cpu_seconds() - c0
            sg = stats(urls["sendgrid"])
            result["email"] = {
                "sent": s.sent,
                "failed": dict(s.failed),
                "requests": s.requests,
                "seconds": round(email_s, 2),
                "emails_per_second": round(s.sent / email_s),
                "target_per_second": 20_000,
                "sender_cpu_seconds": round(email_cpu, 2),
                "emails_per_sender_cpu_second": round(s.sent / email_cpu) if email_cpu else None,
                "message_generation_cpu_us": round(gen_cpu_per_msg * 1e6, 1),
                "emails_per_delivery_cpu_second": round(
                    s.sent / max(1e-9, email_cpu - gen_cpu_per_msg * s.sent)
                ),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "cpus": os.cpu_count(),
                "fake_deliveries": sg["deliveries"],
                "fake_duplicates": sg["duplicates"],
                "max_personalizations_per_request": sg["max_personalizations"],
                "rss_mb_start_mid_end": rss_email.start_mid_end_mb(),
                "rss_mb_at_sent_share": email_cb.marks,
            }
            with RssSampler() as rss_sms:
                t0 = time.perf_counter()
                sms_cb = rss_sms.progress(args.sms)
                t = send_messages("sms", gen_sms(args.sms), cfg=cfg, send_date=SEND_DATE, progress=sms_cb)
                sms_s = time.perf_counter() - t0
            tw = stats(urls["twilio"])
            span = (tw["last_request"] or 0) - (tw["first_request"] or 0)
            measured = (tw["stats"]["requests"] - 1) / span if span > 0 else 0.0
            result["sms"] = {
                "sent": t.sent,
                "failed": dict(t.failed),
                "seconds": round(sms_s, 2),
                "configured_rate": args.sms_rate,
                "measured_rate_at_provider": round(measured, 1),
                "deviation_pct": round(100 * (measured - args.sms_rate) / args.sms_rate, 2),
                "within_5pct": abs(measured - args.sms_rate) <= 0.05 * args.sms_rate,
                "fake_deliveries": tw["deliveries"],
                "fake_duplicates": tw["duplicates"],
                "rss_mb_start_mid_end": rss_sms.start_mid_end_mb(),
                "rss_mb_at_sent_share": sms_cb.marks,
            }
    finally:
        fakes.stdin.close()
        fakes.wait(timeout=30)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
