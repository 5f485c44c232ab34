"""Run the fake providers in their own process (benchmarks, manual testing).

    python -m tests.fakes.serve [--record]     prints {"sendgrid": url, "twilio": url, "meta": url}
and serves until stdin closes. GET <url>/_fake/stats returns counts (deliveries, duplicates...).
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.fakes.providers import FakeMeta, FakeSendGrid, FakeTwilio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--record", action="store_true", help="keep full request bodies (memory grows)")
    ap.add_argument("--sendgrid-key", default="SG.bench")
    ap.add_argument("--twilio-sid", default="AC" + "1" * 32)
    ap.add_argument("--twilio-token", default="bench-token")
    ap.add_argument("--meta-token", default="meta-token")
    args = ap.parse_args(argv)
    fakes = {
        "sendgrid": FakeSendGrid(api_key=args.sendgrid_key, record_bodies=args.record).start(),
        "twilio": FakeTwilio(
            account_sid=args.twilio_sid, auth_token=args.twilio_token, record_bodies=args.record
        ).start(),
        "meta": FakeMeta(access_token=args.meta_token, record_bodies=args.record).start(),
    }
    print(json.dumps({k: f.url for k, f in fakes.items()}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    for f in fakes.values():
        f.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
