from __future__ import annotations

from datetime import date

import pytest

from crmloop.settings import QualityThresholds
from tests.quality.lakegen import build_clean_lake

AS_OF = date(2025, 3, 10)


@pytest.fixture
def lake(tmp_path):
    lake_dir = tmp_path / "lake"
    build_clean_lake(lake_dir, AS_OF)
    return lake_dir


@pytest.fixture
def docs(tmp_path):
    return tmp_path / "data_docs"


@pytest.fixture
def q():
    return QualityThresholds()
