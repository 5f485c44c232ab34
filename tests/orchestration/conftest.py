import pytest


@pytest.fixture(scope="session")
def crm_env(tmp_path_factory):
    """A crmloop home and landing of its own for the whole session (definitions parse dbt once)."""
    root = tmp_path_factory.mktemp("crm")
    mp = pytest.MonkeyPatch()
    mp.setenv("CRM_HOME", str(root / "home"))
    mp.setenv("CRM_LANDING_DIR", str(root / "landing"))
    mp.setenv("CRM_START_DATE", "2024-01-01")
    (root / "landing").mkdir()
    yield root
    mp.undo()


@pytest.fixture(scope="session")
def defs(crm_env):
    from orchestration.defs import build_definitions

    return build_definitions()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on a loopback port for the session (tests/fakes/postgres.py)."""
    import importlib.util

    from tests.fakes.postgres import PostgresServer

    if importlib.util.find_spec("dagster_postgres") is None:
        pytest.fail(
            'dagster-postgres is not installed: make install-postgres (or: pip install -c constraints.txt -e ".[dev,postgres]")',
            pytrace=False,
        )

    with PostgresServer() as server:
        yield server
