"""The dbt project as Dagster assets: every model an asset, every dbt test an asset check.

dbt runs for one partition with env CRM_AS_OF=<partition date> (not --vars, which would cost a full
re-parse every day); every warehouse writer shares the pool `duckdb_writer` (limit 1 in
dagster.yaml): DuckDB allows one writer process.
"""

import contextlib
import os
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from crmloop.settings import DBT_CAMPAIGN_MODELS, DBT_EVERY_NODE, Env, Settings
from orchestration.defs.freshness import marts_freshness
from orchestration.defs.ingestion import ingestion_key, partition_status_observation, sources_by_entity
from orchestration.defs.partitions import ONE_DAY_PER_RUN
from orchestration.defs.resources import CrmSettings

WAREHOUSE_POOL = "duckdb_writer"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
LAKE_SOURCE_NAME = "lake"
WAREHOUSE_GROUP = "warehouse"  # a dbt node outside any model folder


def _newest_mtime(root: Path) -> float:
    newest = 0.0
    for sub in ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml"):
        p = root / sub
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
        elif p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
    return newest


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project with its manifest under the crmloop home (`<home>/dbt_target`).

    `prepare_if_dev()` re-parses under `dagster dev`, as dagster-dbt intends. Elsewhere (`crmloop
    run`, the tests) the repository's project is the deployed one, so it is parsed when its
    manifest is missing or older than a file of the project, instead of requiring a separate
    `dagster-dbt project prepare-and-package` step. Either way at most one `dbt parse`, with the
    dbt environment (settings.dbt_env()) set for that command only."""
    target = settings.dbt_target_dir
    project = DbtProject(
        project_dir=settings.dbt_project_dir,
        profiles_dir=settings.dbt_project_dir,
        target_path=target,
        prepare_project_cli_args=["parse", "--quiet"],
    )
    path = _dbt_search_path()
    with _env(**settings.dbt_env(), PATH=path):
        target.mkdir(parents=True, exist_ok=True)
        project.prepare_if_dev()
        manifest = project.manifest_path
        if not manifest.exists() or manifest.stat().st_mtime < _newest_mtime(settings.dbt_project_dir):
            project.preparer.prepare(project)
    return project


class CrmDbtTranslator(DagsterDbtTranslator):
    """dbt sources `lake.<entity>` are fed by every ingestion asset of that entity; the marts
    (models under `models/marts/`) carry `marts_freshness` (orchestration/defs/freshness.py)."""

    def __init__(
        self, entity_sources: Mapping[str, list[str]], marts_freshness: dg.FreshnessPolicy | None = None
    ):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self._entity_sources = dict(entity_sources)
        self._marts_freshness = marts_freshness

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if (
            dbt_resource_props["resource_type"] == "source"
            and dbt_resource_props["source_name"] == LAKE_SOURCE_NAME
        ):
            return ingestion_key(dbt_resource_props["name"])
        return dg.AssetKey(["warehouse", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """A group per subject, from the folder: `models/<layer>/<subject>/` is group <subject>
        (identity, profiles_and_ranks, campaigns), a model directly in `models/<layer>/` is group
        <layer> (staging); `meta: {dagster: {group: ...}}` or a dbt group wins (the seed's)."""
        if group := super().get_group_name(dbt_resource_props):
            return group
        folders = dbt_resource_props["fqn"][1:-1]  # between the package and the model's own name
        return folders[-1] if folders else WAREHOUSE_GROUP

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if not unique_id.startswith("model."):
            return spec
        deps = list(spec.deps)
        keys = {d.asset_key for d in deps}
        for entity, sources in self._entity_sources.items():
            if ingestion_key(entity) in keys:
                if entity not in sources:  # no source is named like its entity (ad_reports)
                    deps = [d for d in deps if d.asset_key != ingestion_key(entity)]
                for source in sources:
                    key = ingestion_key(source)
                    if key not in keys:
                        deps.append(dg.AssetDep(key))
                        keys.add(key)
        spec = spec.replace_attributes(deps=deps)
        if self._marts_freshness is not None and manifest["nodes"][unique_id]["fqn"][1:2] == ["marts"]:
            spec = spec.replace_attributes(freshness_policy=self._marts_freshness)
        return spec


@contextlib.contextmanager
def _env(**values: str):
    """Set environment variables for the duration of the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build(name: str, project: DbtProject, select: str, exclude: str, partitions_def, settings: Settings):
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=select,
        exclude=exclude,
        partitions_def=partitions_def,
        backfill_policy=ONE_DAY_PER_RUN,
        dagster_dbt_translator=CrmDbtTranslator(sources_by_entity(), marts_freshness(settings)),
        pool=WAREHOUSE_POOL,
        name=name,
    )
    def _dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, crm: CrmSettings):
        from sources import partition_status as ps

        # as_of goes to dbt as env CRM_AS_OF, not --vars: new --vars make dbt re-parse the whole
        # project (~7 s at every daily run), a new CRM_AS_OF keeps its partial parsing
        # (macros/portable.sql: as_of). dbt.cli copies os.environ when it starts the subprocess.
        # dbt unit tests check SQL logic, not data: they run in CI (make test), not every day, as
        # dbt advises for production; every data test still runs as an asset check.
        # Lake partitions that failed an ERROR check in any run stay out (macros/lake.sql).
        settings = crm.get()
        as_of = date.fromisoformat(context.partition_key)
        held = ps.held_back(settings.lake_dir, up_to=as_of)
        blocked = ps.blocked_env_value(held)
        changed = ps.admission_changed(settings.lake_dir, blocked)
        for status in held:
            context.log.warning(
                f"{status.key} is held back from the warehouse (failed: {status.reason}); "
                f"release it with {status.release_command()} or deliver corrected files"
            )
            context.log_event(held_back_observation(status, as_of))
        env = {**settings.dbt_env(), "CRM_AS_OF": context.partition_key, ps.BLOCKED_ENV: blocked}
        env[ps.ADMISSION_CHANGED_ENV] = "1" if changed else ""
        with _env(**env):
            invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test"], context=context)
        # row counts and column types of each built model (dagster-dbt queries them through the
        # dbt adapter, read-only, in this process), then the YAML descriptions come with the specs
        try:
            yield from invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)
        finally:
            # ...and that adapter's DuckDB connection is closed again: left open, every later
            # duckdb.connect() of the same file in this process fails ("Can't open a connection
            # to same database file with a different configuration"), as the audiences step did
            release_dbt_adapters()
        if invocation.is_successful():
            ps.record_warehouse_build(settings.lake_dir, blocked, as_of)
            if name == "warehouse":
                observation = prediction_fit_observation(settings, as_of)
                if observation is not None:
                    context.log_event(observation)

    return _dbt


def release_dbt_adapters() -> None:
    """Close the dbt adapter dagster-dbt opened in this process for the metadata queries.

    dbt's reset closes each adapter's thread connections; dbt-duckdb keeps the database itself
    open in a process-wide environment, closed here through its public `env()` (left open, every
    later duckdb.connect() of the file in this process fails: "Can't open a connection to same
    database file with a different configuration", as the audiences step did)."""
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter (Spark): nothing held in this process
        return
    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # dbt-duckdb raises a bare Exception when no environment was created
        return
    environment.close()
    DuckDBConnectionManager.close_all_connections()


PREDICTION_FITS = dg.AssetKey(["warehouse", "prediction_fits"])


def prediction_fit_observation(settings: Settings, as_of: date) -> dg.AssetObservation | None:
    """The fit of the day on warehouse/prediction_fits: parameters, and the holdout check as a
    table with bars and a PNG chart (<home>/reports/predictions/holdout_<as_of>.png), so a user
    sees whether to trust P(alive) and CLV. None when the build has no prediction models (Spark)."""
    import duckdb

    from crmloop.predict.report import holdout_markdown, holdout_png

    con = duckdb.connect(str(settings.warehouse_path))  # dbt has finished: no other writer
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' "
            "and table_name = 'prediction_fits'"
        ).fetchall()[0][0]
        if not exists:
            return None
        frame = con.execute("select * from marts.prediction_fits where as_of = ?", [as_of]).df()
    finally:
        con.close()
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    png = holdout_png(row, settings.reports_dir / "predictions" / f"holdout_{as_of.isoformat()}.png")
    metadata: dict[str, Any] = {
        "fit": dg.MetadataValue.text(
            row["fit_error"] or ("refitted" if row["refitted"] else f"reused {row['params_from']}")
        ),
        "holdout_check": dg.MetadataValue.md(holdout_markdown(row)),
    }
    for col in (
        "bg_r",
        "bg_alpha",
        "bg_a",
        "bg_b",
        "gg_p",
        "gg_q",
        "gg_gamma",
        "holdout_predicted",
        "holdout_actual",
    ):
        if row.get(col) is not None and row[col] == row[col]:  # NaN: not fitted
            metadata[col] = dg.MetadataValue.float(float(row[col]))
    if png is not None:
        metadata["holdout_chart"] = dg.MetadataValue.path(str(png))
    return dg.AssetObservation(asset_key=PREDICTION_FITS, partition=as_of.isoformat(), metadata=metadata)


def held_back_observation(status, as_of: date) -> dg.AssetObservation:
    """What the Dagster UI shows on lake/<source> for a partition a warehouse build left out."""
    return partition_status_observation(
        status,
        f"held back from the warehouse build as of {as_of}: {status.reason}",
        release_with=status.release_command(),
        left_out_of_build_as_of=as_of.isoformat(),
    )


def warehouse_assets(
    settings: Settings, partitions_def: dg.PartitionsDefinition, project: DbtProject | None = None
) -> list[dg.AssetsDefinition]:
    """Two dbt steps: the customer model (before activation) and the campaign results, which
    read what activation wrote to the lake (so they run after it, in the same daily run)."""
    project = project or dbt_project(settings)
    return [
        _build(
            "warehouse",
            project,
            select=DBT_EVERY_NODE,
            exclude=DBT_CAMPAIGN_MODELS,
            partitions_def=partitions_def,
            settings=settings,
        ),
        _build(
            "campaign_results",
            project,
            select=DBT_CAMPAIGN_MODELS,
            exclude="",
            partitions_def=partitions_def,
            settings=settings,
        ),
    ]


def dbt_resource(settings: Settings, project: DbtProject) -> DbtCliResource:
    return DbtCliResource(
        project_dir=project, profiles_dir=str(settings.dbt_project_dir), dbt_executable=DBT_EXECUTABLE
    )


def _dbt_search_path() -> str:
    """PATH with the venv's bin first: dagster-dbt's preparer runs `dbt` from PATH (an un-activated venv)."""
    return os.pathsep.join([str(Path(DBT_EXECUTABLE).parent), Env().text("PATH", "")])


def generate_docs(settings: Settings) -> Path:
    """`dbt docs generate --static` on the warehouse (`crmloop docs`): one self-contained
    `static_index.html` (manifest and catalog inlined) that opens from disk, lineage included;
    the plain `index.html` next to it fetches catalog.json and needs a web server (`crmloop serve`
    is not part of this command). Returns the static page's path."""
    project = dbt_project(settings)
    path = _dbt_search_path()
    with _env(**settings.dbt_env(), CRM_AS_OF=settings.as_of.isoformat(), PATH=path):
        dbt_resource(settings, project).cli(
            ["docs", "generate", "--static"], target_path=settings.dbt_target_dir, raise_on_error=True
        ).wait()
    return settings.dbt_target_dir / "static_index.html"


def defs(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    """The warehouse domain: the dbt project (parsed at most once) as assets, and its CLI resource."""
    project = dbt_project(settings)
    return dg.Definitions(
        assets=warehouse_assets(settings, partitions_def, project),
        resources={"dbt": dbt_resource(settings, project)},
    )
