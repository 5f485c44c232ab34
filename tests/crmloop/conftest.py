"""The CLI as a user meets it: a clean CRM_* environment under tmp_path for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import SECRETS


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No CRM_* variable or provider secret leaks in from the caller; DAGSTER_HOME under tmp_path."""
    for name in [n for n in os.environ if n.startswith("CRM_")] + list(SECRETS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_START_DATE", "2024-01-01")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return tmp_path
