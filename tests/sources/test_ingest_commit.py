"""A partition commit that is killed half-way never stays half-done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq

from tests.sources.conftest import D

REPO = Path(__file__).resolve().parents[2]
HEADER = "source_system,customer_id,first_name,email\n"


def _csv(prefix: str, n: int) -> str:
    return HEADER + "".join(f"pos,{prefix}{i},N{i},{prefix.lower()}{i}@example.com\n" for i in range(n))


def _ids(env) -> list[str]:
    part = env.lake / "customers" / f"load_date={D.isoformat()}"
    return sorted(
        r["source_customer_id"]
        for p in sorted(part.glob("customers-*.parquet"))
        for r in pq.read_table(p).to_pylist()
    )


def _ingest_killed_after_first_rename(env) -> int:
    """Ingest customers@D in a child process that is SIGKILLed right after the commit's first
    rename into the lake partition (as an OOM killer or a lost machine would)."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from datetime import date
        from pathlib import Path
        import sources.ingest as ing
        from sources import load_declarations

        real = os.replace
        def replace(src, dst, *a, **k):
            real(src, dst, *a, **k)
            d = Path(dst)
            if d.parent.name == "load_date={D.isoformat()}" and d.suffix == ".parquet":
                os.kill(os.getpid(), signal.SIGKILL)
        ing.os.replace = replace
        ing.ingest_partition(
            load_declarations()["customers"],
            landing_dir=Path({str(env.landing)!r}),
            lake_dir=Path({str(env.lake)!r}),
            quarantine_dir=Path({str(env.quarantine)!r}),
            load_date=date.fromisoformat({D.isoformat()!r}),
        )
        """
    )
    env_vars = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout, not another install
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env_vars, capture_output=True, text=True
    )
    return proc.returncode


def test_a_commit_killed_between_two_renames_is_completed_by_the_next_run(env):
    # yesterday's delivery for D was ingested: three files
    for k in range(3):
        env.drop("customers", f"part{k}.csv", _csv(f"OLD{k}-", 2))
    env.ingest("customers")
    assert len(_ids(env)) == 6
    # a corrected delivery replaces it: two files, then the commit is killed after its first rename
    for k in range(3):
        (env.landing / "customers" / D.isoformat() / f"part{k}.csv").unlink()
    env.drop("customers", "fixed_a.csv", _csv("A", 3))
    env.drop("customers", "fixed_b.csv", _csv("B", 4))
    assert _ingest_killed_after_first_rename(env) == -signal.SIGKILL
    # the next run ingests something else (here: orders); the customers partition is whole again
    env.drop("orders", "o.csv", "source_system,order_id,customer_id,order_date,status,total_amount\n")
    env.ingest("orders")
    expected = sorted([f"A{i}" for i in range(3)] + [f"B{i}" for i in range(4)])
    assert _ids(env) == expected
    assert list((env.lake / ".staging").glob("*")) == []  # the dead run's staging is cleaned up


def test_recovery_leaves_a_live_runs_commit_alone(env):
    import json

    from sources import recover_commits
    from sources.ingest import _lock

    # a run that is mid-commit: its staging is locked and its journal written
    staging = env.lake / ".staging" / "customers-live"
    (staging / "lake").mkdir(parents=True)
    (staging / "lake" / "part-00000.parquet").write_bytes(b"staged")
    part_dir = env.lake / "customers" / f"load_date={D.isoformat()}"
    journal = env.lake / ".commits" / "customers-live.json"
    journal.parent.mkdir(parents=True)
    plan = {
        "source": "customers",
        "load_date": D.isoformat(),
        "staging": str(staging),
        "part_dir": str(part_dir),
        "parts": [[str(staging / "lake" / "part-00000.parquet"), "customers-0000.parquet"]],
        "q_dir": str(env.quarantine / "customers" / f"load_date={D.isoformat()}"),
        "q_staged": None,
    }
    journal.write_text(json.dumps(plan))
    held = _lock(staging)
    try:
        assert recover_commits(env.lake, env.quarantine) == []
        assert journal.exists() and (staging / "lake" / "part-00000.parquet").exists()
        assert not part_dir.exists()
    finally:
        held.close()
    # once its process is gone (the lock released), the next recovery finishes it
    assert recover_commits(env.lake, env.quarantine) == [f"customers@{D.isoformat()}"]
    assert (part_dir / "customers-0000.parquet").read_bytes() == b"staged"
    assert not journal.exists() and not staging.exists()
