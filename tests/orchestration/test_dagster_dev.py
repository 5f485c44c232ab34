"""`crmloop dev` serves the code location: the UI's GraphQL API lists every ingestion asset,
the dbt models, the activation assets, the schedule and the sensor."""

import os
import signal
import time

import psutil
import pytest

from sources import load_declarations
from tests.orchestration.dagster_dev import dagster_dev, graphql

pytestmark = pytest.mark.slow


def test_dagster_dev_lists_every_asset_of_the_pipeline(tmp_path):
    home, landing = tmp_path / "home", tmp_path / "landing"
    landing.mkdir()
    with dagster_dev(home, landing) as url:
        data = graphql(url, "{ assetNodes { assetKey { path } groupName } }")
        keys = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"]}
        for source in load_declarations():
            assert f"lake/{source}" in keys
        assert {
            "warehouse/customer_ranks",
            "warehouse/customer_profiles",
            "activations/campaign_audiences",
            "activations/email",
            "activations/sms",
            "activations/marketer_files",
        } <= keys
        data = graphql(
            url,
            "{ repositoriesOrError { ... on RepositoryConnection { nodes { schedules { name cronSchedule } "
            "sensors { name } } } } }",
        )
        repo = data["repositoriesOrError"]["nodes"][0]
        assert {"daily_0200_bangkok"} == {s["name"] for s in repo["schedules"]}
        assert {"new_landing_partition"} <= {s["name"] for s in repo["sensors"]}


def test_ctrl_c_stops_every_process_of_crmloop_dev(tmp_path):
    """Ctrl-C in a terminal is SIGINT to the foreground process group: `crmloop dev` (dagster dev),
    the webserver, the daemon and the code server all end, none is left to kill by hand."""
    home, landing = tmp_path / "home", tmp_path / "landing"
    landing.mkdir()
    started: list = []
    with dagster_dev(home, landing, started=started):
        [proc] = started
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        assert len(tree) >= 3, [p.cmdline() for p in tree]  # dagster dev, webserver, daemon, code server
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=90)
        deadline = time.monotonic() + 60
        alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        while alive and time.monotonic() < deadline:
            time.sleep(1)
            alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, [" ".join(p.cmdline()) for p in alive]
