"""`crmloop dev` serves the code location: the UI's GraphQL API lists every ingestion asset,
the dbt models, the activation assets, the schedule and the sensor."""

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
