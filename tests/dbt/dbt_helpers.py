"""Run the dbt project against a tmp warehouse and lake (each call isolated: own warehouse,
lake, target and log paths; nothing is written into dbt_project/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"  # the dbt of the interpreter running the tests


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
    cmd = [
        str(DBT),
        *args,
        "--vars",
        json.dumps({"as_of": as_of}),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--target",
        target,
    ]
    proc = subprocess.run(cmd, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        )
    results_file = target_path / "run_results.json"
    return json.loads(results_file.read_text()) if results_file.exists() else {}


# The customer model: every mart of this room and everything upstream (with their tests), so the
# suite does not depend on other rooms' models in the same project (e.g. models/*/campaigns/).
CUSTOMER_MODEL = [
    "--select",
    "+customer_profiles",
    "+customer_rank_history",
    "+rank_migration",
    "+rank_summary",
    "+customer_id_merges",
    "+customer_identity",
    "+customer_ranks",
]

_MANIFEST = {}


def dbt_in_process(
    args: list[str],
    *,
    warehouse: Path,
    lake: Path,
    work: Path,
    as_of: str,
    target: str = "duckdb",
    extra_env: dict | None = None,
) -> dict:
    """Like run_dbt, in this process, parsing the project once per process (dbt start-up is most of
    a small build). Environment variables are set for the call and restored afterwards. The parsed
    manifest names the DuckDB catalog after the warehouse file's stem, so every warehouse used with
    this function must be called `warehouse.duckdb` (in its own directory)."""
    if warehouse.name != "warehouse.duckdb":
        raise ValueError(f"{warehouse}: in-process dbt needs the warehouse file to be named warehouse.duckdb")
    from dbt.cli.main import dbtRunner

    env = {
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "CRM_WAREHOUSE": str(warehouse),
        "CRM_LAKE_DIR": str(lake),
        "CRM_DBT_TARGET": target,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(extra_env or {}),
    }
    saved = {k: os.environ.get(k) for k in env}
    cwd = os.getcwd()
    os.environ.update(env)
    work.mkdir(parents=True, exist_ok=True)
    common = [
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--project-dir",
        str(DBT_DIR),
        "--target",
        target,
        "--quiet",
    ]
    try:
        if target not in _MANIFEST:
            res = dbtRunner().invoke(["parse", *common])
            if not res.success:
                raise AssertionError(f"dbt parse failed: {res.exception}")
            _MANIFEST[target] = res.result
        res = dbtRunner(manifest=_MANIFEST[target]).invoke(
            [*args, "--vars", json.dumps({"as_of": as_of}), *common]
        )
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    results = json.loads((work / "target" / "run_results.json").read_text())
    if not res.success:
        failed = [
            (r["unique_id"], r["status"], r.get("message"))
            for r in results.get("results", [])
            if r["status"] not in ("success", "pass")
        ]
        raise AssertionError(f"dbt {' '.join(args)} failed: {res.exception or failed}")
    return results


def query(warehouse: Path, sql: str) -> list[tuple]:
    # same configuration as dbt-duckdb's own (in-process) connection, which may still be open
    con = duckdb.connect(str(warehouse))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
