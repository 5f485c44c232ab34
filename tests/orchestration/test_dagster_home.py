"""The instance's dagster.yaml as `crmloop dagster-home` writes it: the repository's file, plus the
PostgreSQL storage (every connection field an `env:` reference) when CRM_DAGSTER_STORAGE=postgres.
The server itself: tests/orchestration/test_postgres_deploy.py (slow)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from crmloop.cli import main
from crmloop.settings import REPO_ROOT, Settings, SettingsError

PG_ENV = {
    "username": "DAGSTER_PG_USERNAME",
    "password": "DAGSTER_PG_PASSWORD",
    "hostname": "DAGSTER_PG_HOST",
    "db_name": "DAGSTER_PG_DB",
    "port": "DAGSTER_PG_PORT",
}


def _written(tmp_path, monkeypatch, storage: str | None) -> dict:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    if storage is None:
        monkeypatch.delenv("CRM_DAGSTER_STORAGE", raising=False)
    else:
        monkeypatch.setenv("CRM_DAGSTER_STORAGE", storage)
    result = CliRunner().invoke(main, ["dagster-home", "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    home = tmp_path / "home" / "dagster"
    assert result.output.strip() == str(home)
    return yaml.safe_load((home / "dagster.yaml").read_text())


def test_the_default_instance_is_the_repositorys_dagster_yaml(tmp_path, monkeypatch):
    repo = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert _written(tmp_path, monkeypatch, None) == repo
    assert "storage" not in repo  # SQLite under $DAGSTER_HOME


def test_postgres_storage_reads_every_connection_field_from_the_environment(tmp_path, monkeypatch):
    repo = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    written = _written(tmp_path, monkeypatch, "postgres")
    storage = written.pop("storage")
    assert written == repo  # pools, run queue, monitoring and retries unchanged
    db = storage["postgres"]["postgres_db"]
    assert {k: v for k, v in db.items() if k != "scheme"} == {k: {"env": v} for k, v in PG_ENV.items()}
    assert db["scheme"] == "postgresql+psycopg2"  # the driver dagster-postgres depends on


def test_an_unknown_storage_is_refused_naming_the_variable():
    with pytest.raises(SettingsError, match="CRM_DAGSTER_STORAGE must be 'sqlite' or 'postgres'"):
        Settings.from_env({"CRM_DAGSTER_STORAGE": "mysql"})
