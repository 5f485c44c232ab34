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
    "next_best": ("bench.next_best", lambda n: []),  # its own scale: 10,000 demo people, under a minute
    "sends": ("bench.sends", lambda n: []),
    "webhooks": ("bench.webhooks", lambda n: []),
    "whole_run": ("bench.whole_run", lambda n: ["--customers", str(n)]),
}


def _row(name: str, r: dict, floor: dict | None) -> str:
    """One line of the whole-run table; ratios of wall and of CPU (CPU is the steadier one on a
    shared machine) to the floor measured in the same run."""
    ratio = f"{r['seconds'] / floor['seconds']:.1f}x" if floor else ""
    cpu = f"{r['cpu_seconds'] / floor['cpu_seconds']:.1f}x" if floor and floor.get("cpu_seconds") else ""
    return (
        f"| {name} | {r['seconds']:.1f} s | {r['cpu_seconds']:.1f} s | {r['peak_rss_mb'] / 1024:.1f} GB "
        f"| {ratio} | {cpu} | {r.get('load_avg_1m', '')} |"
    )


def table(results: dict) -> str:
    """The one table: the whole run against its floor (issue 12), then each bench's headline."""
    lines = []
    w = results.get("whole_run", {})
    if "floor" in w:
        f, fn = w["floor"], w.get("floor_next_day")
        lines += [
            f"whole run at {w['customers']:,} people ({w['data'].get('customer_records', 0):,} records, "
            f"{w['data'].get('orders', 0):,} orders, {w['data'].get('csv_bytes', 0) / 1e6:.0f} MB CSV)",
            "",
            "| | wall | CPU | peak RSS | wall / floor | CPU / floor | load 1m |",
            "|---|---|---|---|---|---|---|",
            _row("floor (DuckDB + scipy), first day", w["floor"], f),
        ]
        if "floor_next_day" in w:
            lines.append(_row("floor, next day (full recomputation)", w["floor_next_day"], fn))
        if "pandas" in w:
            lines.append(_row("pandas + scipy, first day", w["pandas"], f))
        for key, label, base in (
            ("crmloop_first_day", "crmloop run, first day", f),
            ("crmloop_next_day", "crmloop run, next day", fn),
        ):
            if key in w:
                lines.append(_row(label, w[key], base))
        for key, label in (("crmloop_first_day", "first day"), ("crmloop_next_day", "next day")):
            if key not in w:
                continue
            r = w[key]
            ra = r["rank_agreement"]
            top = ", ".join(f"{k} {v:.1f}" for k, v in list(r["steps"].items())[:8])
            models = ", ".join(f"{k} {v:.1f}" for k, v in list(r["dbt_models"].items())[:8])
            lines += [
                "",
                f"{label}: start-up {r['startup_seconds']:.1f} s {r['startup_parts']}; quality "
                f"{r['quality_seconds']:.1f} s = {r['quality_share']:.1%} of the run {r['quality_parts']}; "
                f"ranks equal to the floor for {ra['same_rank']:,} of {ra['records']:,} records ({ra['share']:.4%})",
                f"  slowest steps (s): {top}",
                f"  slowest dbt models (s): {models}",
            ]
    others = [(k, v) for k, v in results.items() if k not in ("whole_run", "derived")]
    if others:
        lines += ["", "| bench | wall | headline |", "|---|---|---|"]
        for k, v in others:
            head = v.get("error") or ""
            if k == "sends" and "email" in v:
                head = f"{v['email'].get('emails_per_second')} emails/s (target {v['email'].get('target_per_second')})"
            if k == "next_best" and "hit_rate" in v:
                head = (
                    f"next-best category in the held-back purchase: {v['hit_rate']:.1%} of "
                    f"{v['people_evaluated']:,} people (popularity {v['popularity_hit_rate']:.1%})"
                )
            lines.append(f"| {k} | {v.get('wall_s')} s | {head} |")
    return "\n".join(lines)


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
    print(table(results))
    print(f"saved {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
