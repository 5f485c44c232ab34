"""Suite-wide rules. Spark is an optional extra (`pip install -e ".[spark]"`, `make install-spark`):
a test marked `spark` is skipped, with the reason and the install command, when pyspark or
dbt-spark is not installed, except where Spark must be covered: with CRM_REQUIRE_SPARK=1 (set by
`.ci/run`) or CI=true (what CI services set) the same test fails instead of skipping."""

from __future__ import annotations

import importlib.util
import os

import pytest

SPARK_MODULES = ("pyspark", "dbt.adapters.spark")
INSTALL_SPARK = 'make install-spark (or: pip install -c constraints.txt -e ".[dev,spark]")'


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def spark_required(env=os.environ) -> bool:
    return _truthy(env.get("CRM_REQUIRE_SPARK")) or _truthy(env.get("CI"))


def missing_spark_modules() -> list[str]:
    missing = []
    for name in SPARK_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent package (dbt.adapters) without the child
            found = False
        if not found:
            missing.append(name)
    return missing


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("spark") is None:
        return
    missing = missing_spark_modules()
    if not missing:
        return
    why = f"the optional Spark extra is not installed ({', '.join(missing)} missing): {INSTALL_SPARK}"
    if spark_required():
        pytest.fail(f"Spark must be covered here (CRM_REQUIRE_SPARK / CI) but {why}", pytrace=False)
    pytest.skip(why)
