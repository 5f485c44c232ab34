"""`make bench`: every benchmark, each in its own process (so peak RSS is its own), one table.

    python -m bench.run                    # all, at the issues' scale (1M customers)
    python -m bench.run --only ingest      # one
    python -m bench.run --customers 100000 # smaller scale

Each bench module prints one JSON object as its last line of output; results are saved under
bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCHES = {
    # name: (module, extra args given the scale)
    "demo_data": ("bench.demo_data", lambda n: ["--customers", str(n)]),
    "ingest": ("bench.ingest", lambda n: ["--customers", str(n)]),
    "dbt_build": ("bench.dbt_build", lambda n: ["--customers", str(n)]),
    "checks": ("bench.checks", lambda n: ["--scale", str(n / 1_000_000)]),
    "prepare": ("bench.prepare", lambda n: ["--customers", str(n)]),
    "predict": ("bench.predict", lambda n: ["--customers", str(n)]),
    "sends": ("bench.sends", lambda n: []),
    "webhooks": ("bench.webhooks", lambda n: []),
}


def derived_figures(results: dict) -> dict:
    """Figures that combine benches: the share of a daily run at scale spent in quality checks
    (target under 20%): checks / (incremental dbt build + prepare/exports + checks)."""
    out = {}
    checks = results.get("checks", {}).get("daily_checks_seconds_excluding_full_snapshot")
    dbt_inc = results.get("dbt_build", {}).get("dbt_build_incremental", {}).get("seconds")
    prepare = results.get("prepare", {})
    act = (prepare.get("prepare_s") or 0) + (prepare.get("exports_s") or 0)
    if checks is not None and dbt_inc is not None:
        run = dbt_inc + act + checks
        out["daily_run_seconds_estimate"] = round(run, 1)
        out["checks_share_of_daily_run"] = round(checks / run, 3)
        out["target_checks_under_20_percent"] = checks / run < 0.20
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=sorted(BENCHES), help="run only these benches")
    ap.add_argument("--customers", type=int, default=1_000_000, help="scale for data benches")
    args = ap.parse_args()
    names = args.only or list(BENCHES)
    results: dict[str, dict] = {}
    failed = []
    for name in names:
        module, extra = BENCHES[name]
        print(f"== bench {name} ({module})", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", module, *extra(args.customers)], capture_output=True, text=True
        )
        sys.stdout.write(proc.stdout[-4000:])
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr[-4000:])
            failed.append(name)
            results[name] = {"error": f"exit {proc.returncode}", "wall_s": round(time.monotonic() - t0, 1)}
            continue
        last = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
        results[name] = json.loads(last[-1]) if last else {"error": "no JSON result printed"}
        results[name]["wall_s"] = round(time.monotonic() - t0, 1)
    derived = derived_figures(results)
    if derived:
        results["derived"] = derived
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    print(f"saved {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
