"""Start `crmloop dev` (dagster dev) on a free loopback port for a test, and stop it after."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
    r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
    r.raise_for_status()
    body = r.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@contextmanager
def dagster_dev(
    home: Path,
    landing: Path,
    timeout: float = 240.0,
    extra_env: dict | None = None,
    started: list | None = None,
):
    """Yields the UI's URL once the code location is served; `started` receives the process."""
    port = free_port()
    env = dict(os.environ, CRM_HOME=str(home), CRM_LANDING_DIR=str(landing), **(extra_env or {}))
    log = open(home.parent / f"dagster_dev_{port}.log", "w")
    crmloop = Path(sys.executable).with_name("crmloop")
    proc = subprocess.Popen(
        [str(crmloop), "dev", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    if started is not None:
        started.append(proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {proc.returncode}; see {log.name}")
            try:
                data = graphql(
                    url,
                    "{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name } } } }",
                )
                if data["repositoriesOrError"].get("nodes"):
                    break
            except (httpx.HTTPError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"dagster dev did not serve the code location in {timeout}s; see {log.name}"
                )
            time.sleep(2)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:  # the test stopped it already
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
