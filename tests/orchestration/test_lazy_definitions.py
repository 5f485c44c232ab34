"""Importing the code location does no work: no environment variable of crmloop is read, no dbt
command runs and nothing is written; Dagster builds the definitions when it calls `defs()`."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# In a fresh interpreter: record every environment read made by the project's own code (the
# caller's file in the repository, not in the venv) and every dbt command started while
# `orchestration.definitions` is imported.
PROBE = r"""
import json, os, subprocess, sys
repo, venv = os.getcwd(), sys.prefix
reads, started = [], []
cls = type(os.environ)
get_item = cls.__getitem__
def spy(self, key):
    caller = sys._getframe(1)
    while caller is not None and caller.f_code.co_filename.endswith(("_collections_abc.py", "os.py")):
        caller = caller.f_back
    path = caller.f_code.co_filename if caller is not None else ""
    if path.startswith(repo) and not path.startswith(venv):
        reads.append(f"{key} ({os.path.relpath(path, repo)})")
    return get_item(self, key)
cls.__getitem__ = spy
real_popen_init = subprocess.Popen.__init__
def popen(self, args, *a, **k):
    if "dbt" in str(args):
        started.append(str(args))
    return real_popen_init(self, args, *a, **k)
subprocess.Popen.__init__ = popen
import orchestration.definitions as code_location
print(json.dumps({"reads": reads, "started": started, "defs": type(code_location.defs).__name__}))
"""


def test_importing_the_code_location_reads_no_env_and_runs_no_dbt(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "CRM_HOME": str(tmp_path / "home"),
        "CRM_LANDING_DIR": str(tmp_path / "landing"),
        "CRM_START_DATE": "not-a-date",  # read at import, this would raise SettingsError
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["reads"] == []
    assert probe["started"] == []
    assert probe["defs"] == "LazyDefinitions"
    assert not (tmp_path / "home").exists()  # no manifest, no dbt_target, nothing written


def test_the_partitions_start_when_the_definitions_are_loaded_not_at_import(tmp_path, monkeypatch):
    """The same process loads the definitions twice with another CRM_START_DATE: each load follows it."""
    import orchestration.definitions as code_location

    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "landing"))
    starts = []
    for start in ("2026-11-01", "2026-11-15"):
        monkeypatch.setenv("CRM_START_DATE", start)
        job = code_location.defs().resolve_job_def("daily_run")
        starts.append(job.partitions_def.get_first_partition_key())
    assert starts == ["2026-11-01", "2026-11-15"]


def test_without_crm_start_date_the_partitions_start_at_the_first_landing_date(tmp_path, monkeypatch):
    from crmloop.settings import Settings
    from orchestration.defs.partitions import daily_partitions

    landing = tmp_path / "landing"
    for folder in ("orders/2026-11-18", "customers/2026-11-20", "not_a_source/2025-01-01"):
        (landing / folder).mkdir(parents=True)
        (landing / folder / "x.csv").write_text("id\n1\n")
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_AS_OF", "2026-11-20")
    monkeypatch.delenv("CRM_START_DATE", raising=False)
    parts = daily_partitions(Settings.from_env())
    assert parts.get_first_partition_key() == "2026-11-18"  # the undeclared folder does not count
    monkeypatch.setenv("CRM_START_DATE", "2026-11-19")
    assert daily_partitions(Settings.from_env()).get_first_partition_key() == "2026-11-19"


def test_with_nothing_landed_the_partitions_start_at_the_as_of_date(tmp_path, monkeypatch):
    from crmloop.settings import Settings
    from orchestration.defs.partitions import daily_partitions

    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CRM_AS_OF", "2026-11-20")
    monkeypatch.delenv("CRM_START_DATE", raising=False)
    assert daily_partitions(Settings.from_env()).get_first_partition_key() == "2026-11-20"
