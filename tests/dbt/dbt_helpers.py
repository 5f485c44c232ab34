"""Run the dbt project against a tmp warehouse and lake (each call isolated: own warehouse,
lake, target and log paths; nothing is written into dbt_project/)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"


def run_dbt(
    args: list[str],
    *,
    warehouse: Path,
    lake: Path,
    work: Path,
    as_of: str,
    target: str = "duckdb",
    extra_env: dict | None = None,
    check: bool = True,
) -> dict:
    """Run `dbt <args>` with --vars as_of; return run_results.json (raises with the log tail on failure)."""
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "CRM_WAREHOUSE": str(warehouse),
        "CRM_LAKE_DIR": str(lake),
        "CRM_DBT_TARGET": target,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(extra_env or {}),
    }
    target_path, log_path = work / "target", work / "logs"
    cmd = [str(DBT), *args, "--vars", json.dumps({"as_of": as_of}), "--target-path", str(target_path),
           "--log-path", str(log_path), "--target", target]
    proc = subprocess.run(cmd, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    results_file = target_path / "run_results.json"
    return json.loads(results_file.read_text()) if results_file.exists() else {}


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
