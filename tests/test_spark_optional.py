"""Spark is optional for users and required in CI (tests/conftest.py): without pyspark a Spark
test skips with the install command, and fails instead where CRM_REQUIRE_SPARK or CI is set."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import INSTALL_SPARK, spark_required

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]

SPARK_TEST = textwrap.dedent(
    """
    import pytest

    pytestmark = pytest.mark.spark

    def test_on_spark():
        import pyspark  # noqa: F401
    """
)


def _run_without_pyspark(pytester: pytest.Pytester, monkeypatch, **env) -> pytest.RunResult:
    """A Spark test run by the suite's own hook (tests/conftest.py) in a pytest process where
    pyspark and dbt-spark count as not installed."""
    pytester.makeconftest(
        "import tests.conftest as suite\n"
        "suite.missing_spark_modules = lambda: list(suite.SPARK_MODULES)\n"
        "pytest_runtest_setup = suite.pytest_runtest_setup\n"
    )
    pytester.makepyfile(test_spark_thing=SPARK_TEST)
    pytester.makeini("[pytest]\nmarkers =\n    spark: needs pyspark\n")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for k in ("CRM_REQUIRE_SPARK", "CI"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")


def test_skips_with_the_install_command_outside_ci(pytester, monkeypatch):
    result = _run_without_pyspark(pytester, monkeypatch)
    result.assert_outcomes(skipped=1)
    out = result.stdout.str()
    assert "the optional Spark extra is not installed (pyspark, dbt.adapters.spark missing)" in out
    assert INSTALL_SPARK in out


@pytest.mark.parametrize("env", [{"CRM_REQUIRE_SPARK": "1"}, {"CI": "true"}])
def test_fails_instead_of_skipping_where_spark_must_be_covered(pytester, monkeypatch, env):
    result = _run_without_pyspark(pytester, monkeypatch, **env)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Spark must be covered here*"])


def test_required_only_where_told():
    assert not spark_required({})
    assert not spark_required({"CI": "false", "CRM_REQUIRE_SPARK": "0"})
    assert spark_required({"CRM_REQUIRE_SPARK": "1"})
    assert spark_required({"CI": "true"})
    assert sys.version_info >= (3, 11)
