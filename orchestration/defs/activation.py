"""Activation assets: audiences (gated), then one asset per channel, each recording what it did.

Partition D builds audiences from the warehouse as of D and sends on D+1 (the 02:00 run):
send_date = D + 1. Every step writes the warehouse, so all share the `duckdb_writer` pool.
The audience step computes audiences, memberships and suppressions ONCE and freezes them
(`<home>/snapshots/<send_date>/`, content hash in its metadata); the audience gate validates
that snapshot and the channels send exactly it, refusing one whose hash differs.
"""

import json
import os
import time
from datetime import date, timedelta

import dagster as dg

from crmloop.settings import TIMEZONE, Secrets, Settings
from orchestration.defs.partitions import ONE_DAY_PER_RUN
from orchestration.defs.resources import CrmSettings
from orchestration.defs.warehouse import WAREHOUSE_POOL

GROUP = "activation"
AUDIENCES = dg.AssetKey(["activations", "campaign_audiences"])
EMAIL = dg.AssetKey(["activations", "email"])
SMS = dg.AssetKey(["activations", "sms"])
ADS = dg.AssetKey(["activations", "ads"])
FILES = dg.AssetKey(["activations", "marketer_files"])
PROFILES = dg.AssetKey(["warehouse", "customer_profiles"])
CAMPAIGN_SENDS = dg.AssetKey(["lake", "campaign_sends"])
CAMPAIGN_PLAN = dg.AssetKey(["lake", "campaign_plan"])
REPORT = dg.AssetKey(["reports", "campaign_report"])
SEND_LEDGER = dg.AssetKey(["activations", "send_ledger"])
SUPPRESSION_LIST = dg.AssetKey(["activations", "suppression_list"])
RANK_HISTORY = dg.AssetKey(["warehouse", "customer_rank_history"])
# lake entities the audiences read directly: bounces / spam reports / STOP (suppression), opens,
# clicks and RSVPs (non-responders, response triggers)
AUDIENCE_LAKE_INPUTS = ("email_events", "sms_events", "campaign_responses")

external_tables = [
    dg.AssetSpec(
        SEND_LEDGER,
        group_name=GROUP,
        kinds={"duckdb"},
        description="activations.send_ledger: one row per send (campaign, customer, channel, send date) with "
        "its status. Written by delivery (the channel assets of earlier days); the audiences read it for the "
        "frequency cap. Not materialized by an asset of its own.",
    ),
    dg.AssetSpec(
        SUPPRESSION_LIST,
        group_name=GROUP,
        kinds={"duckdb"},
        description="activations.suppression_list: addresses delivery found permanently unreachable "
        "(unsubscribed, hard bounce, invalid number, ...). Written by delivery and the webhooks; read by "
        "the audiences.",
    ),
]


class ProviderSecrets(dg.ConfigurableResource):
    """Provider credentials (crmloop.settings.SECRET_NAMES), read from the environment
    when a step runs, never at load time, never from a file, never into metadata.

    No `EnvVar` fields: Dagster resolves an `EnvVar` when the resource is built and fails on an
    unset one, and every secret is optional (sandbox mode needs none; live mode names the missing
    variable), so binding them would decide at load time which ones exist."""

    def as_env(self) -> dict[str, str]:
        return {name: value for name, value in Secrets.from_env().values.items() if value}


def send_date_for(partition_key: str) -> date:
    return date.fromisoformat(partition_key) + timedelta(days=1)


def send_clock(send_date: date):
    """The time the sends happen (activations.audiences.prepare.send_clock, in the plan's time zone)."""
    from activations.audiences.prepare import send_clock as clock

    return clock(send_date, TIMEZONE)


def recorded_snapshot_sha256(instance: dg.DagsterInstance, partition_key: str) -> str | None:
    """The content hash the latest materialization of the audiences recorded for a partition."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=AUDIENCES, asset_partitions=[partition_key]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get("snapshot_sha256")
    return None if value is None else str(value.value)


def _withhold_unapproved(prepared, settings: Settings, mode: str, log) -> dict[str, str]:
    """Live mode: campaigns whose current content has no approval send nothing (one line each, logged).
    Sandbox mode writes to the local outbox only and needs no approval."""
    from activations.plan.approvals import live_refusals, load_approvals
    from activations.plan.spec import load_plan

    if mode != "live":
        return {}
    refusals = live_refusals(load_plan(settings.plan_path), load_approvals(settings.approvals_path))
    withheld = {}
    for cid, why in refusals.items():
        pc = prepared.campaigns.get(cid)
        if pc is not None and pc.active and any(b.eligible for b in pc.channels.values()):
            prepared.withhold(cid)
            withheld[cid] = why
            log.warning(f"not sent: {why}")
    return withheld


def _batches_markdown(prepared, channels: tuple[str, ...] | None = None) -> str:
    lines = [
        "| campaign | channel | audience | holdout | suppressed | eligible | queued |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in prepared.batches():
        if channels and b.channel not in channels:
            continue
        m = b.metadata()
        lines.append(
            f"| {b.campaign_id} | {b.channel} | {m['audience']} | {m['holdout']} | {b.suppressed_total} "
            f"| {b.eligible} | {m.get('queued', 0)} |"
        )
    return "\n".join(lines)


def _suppressed_markdown(prepared, channels: tuple[str, ...] | None = None) -> str:
    totals: dict[str, int] = {}
    for b in prepared.batches():
        if channels and b.channel not in channels:
            continue
        for reason, n in b.suppressed.items():
            totals[reason] = totals.get(reason, 0) + n
    if not totals:
        return "Nobody was suppressed."
    return "\n".join(
        ["| reason | people |", "|---|---|"]
        + [f"| {r} | {n} |" for r, n in sorted(totals.items(), key=lambda kv: -kv[1])]
    )


def _campaign_audiences(context: dg.AssetExecutionContext, crm: CrmSettings) -> dg.MaterializeResult:
    from activations.audiences.snapshot import prepare_and_freeze

    settings = crm.get()
    t0 = time.monotonic()
    send_date = send_date_for(context.partition_key)
    prepared, snap = prepare_and_freeze(
        settings.warehouse_path,
        settings.plan_path,
        date.fromisoformat(context.partition_key),
        send_date,
        send_clock(send_date),
        settings.lake_dir,
        settings.snapshots_dir,
        progress=context.log.info,
    )
    totals = {"audience": 0, "holdout": 0, "suppressed": 0, "eligible": 0}
    for b in prepared.batches():
        m = b.metadata()
        totals["audience"] += m["audience"]
        totals["holdout"] += m["holdout"]
        totals["suppressed"] += b.suppressed_total
        totals["eligible"] += b.eligible
    return dg.MaterializeResult(
        metadata={
            **totals,
            "entered": dg.MetadataValue.json(snap.manifest["entered"]),
            "not_sent": dg.MetadataValue.json(snap.manifest["notes"]),
            "snapshot_sha256": snap.sha256,
            "snapshot": dg.MetadataValue.path(str(snap.folder)),
            "send_date": prepared.send_date.isoformat(),
            "campaigns": dg.MetadataValue.md(_batches_markdown(prepared)),
            "suppressed_by_reason": dg.MetadataValue.md(_suppressed_markdown(prepared)),
            "seconds": round(time.monotonic() - t0, 2),
        }
    )


def _summary_metadata(channel_meta: dict) -> dict:
    """Channel summary (from activations.delivery) → Dagster metadata; nested values as JSON/markdown."""
    out: dict = {}
    for k, v in channel_meta.items():
        if isinstance(v, bool | int | float | str) or v is None:
            out[k] = v if v is not None else ""
        elif k == "sample" and isinstance(v, dict):
            body = "\n".join(f"**{field}**: {str(val)[:500]}" for field, val in v.items() if val)
            out[k] = dg.MetadataValue.md(body or "(empty)")
        else:
            out[k] = dg.MetadataValue.json(json.loads(json.dumps(v, default=str)))
    return out


def _channels(context: dg.AssetExecutionContext, crm: CrmSettings, providers: ProviderSecrets):
    from activations.audiences.snapshot import thaw_for_send
    from activations.delivery.api import deliver_prepared
    from activations.exports.deliver import deliver_exports
    from activations.exports.files import write_exports
    from activations.plan.spec import load_plan
    from crmloop.settings import DeliveryConfig

    settings = crm.get()
    t0 = time.monotonic()
    # exactly the audience the gate checked: no new clock, no new audience, refused if it changed
    prepared, snap = thaw_for_send(
        settings.snapshots_dir,
        send_date_for(context.partition_key),
        settings.plan_path,
        recorded_snapshot_sha256(context.instance, context.partition_key),
    )
    context.log.info(f"sending the frozen audience {snap.sha256[:12]}… ({snap.folder})")
    cfg = DeliveryConfig.from_env(home=settings.home, env={**os.environ, **providers.as_env()})
    refused = _withhold_unapproved(prepared, settings, cfg.mode, context.log)
    selected = context.selected_asset_keys
    if selected & {EMAIL, SMS, ADS}:
        delivered = deliver_prepared(prepared, settings, cfg=cfg, progress=context.log.info)
    else:
        delivered = {}
    for key, channel in ((EMAIL, "email"), (SMS, "sms"), (ADS, "ads")):
        if key not in selected:
            continue
        meta = _summary_metadata(delivered.get(channel, {"sent": 0, "note": "no campaign uses this channel"}))
        meta["suppressed_by_reason"] = dg.MetadataValue.md(_suppressed_markdown(prepared, (channel,)))
        meta["campaigns"] = dg.MetadataValue.md(_batches_markdown(prepared, (channel,)))
        meta["mode"] = cfg.mode
        meta["snapshot_sha256"] = snap.sha256
        if refused:
            meta["refused_campaigns"] = dg.MetadataValue.md("\n".join(f"- {why}" for why in refused.values()))
        yield dg.MaterializeResult(asset_key=key, metadata=meta)
    if FILES in selected:
        manifests = write_exports(prepared, settings.exports_dir, progress=context.log.info)
        # each campaign's files to its plan's destinations (SFTP, email), once per send date
        deliveries = deliver_exports(
            manifests,
            load_plan(settings.plan_path),
            settings.exports_dir,
            cfg,
            prepared.send_date,
            env={**os.environ, **providers.as_env()},
            progress=context.log.info,
        )
        for cid, records in deliveries.items():
            for r in records:
                if r["status"] != "delivered":
                    context.log.warning(
                        f"files of {cid} to {r['destination']}: {r['status']}: {r.get('reason')}"
                    )
        files = [f for m in manifests.values() for f in m.get("files", [])]
        yield dg.MaterializeResult(
            asset_key=FILES,
            metadata={
                "campaigns": len(manifests),
                "files": len(files),
                "folder": dg.MetadataValue.path(str(settings.exports_dir / prepared.send_date.isoformat())),
                "manifest": dg.MetadataValue.json(json.loads(json.dumps(manifests, default=str))),
                "deliveries": dg.MetadataValue.json(json.loads(json.dumps(deliveries, default=str))),
                "no_files": dg.MetadataValue.json(
                    {c: m["skipped"] for c, m in manifests.items() if "skipped" in m}
                ),
                "seconds": round(time.monotonic() - t0, 2),
            },
        )


def _campaign_state(context: dg.AssetExecutionContext, crm: CrmSettings):
    from activations.delivery.campaign_state import export_campaign_state
    from activations.plan.spec import load_plan
    from orchestration.defs.ingestion import ingestion_key, ingestion_metadata

    settings = crm.get()
    send_date = send_date_for(context.partition_key)
    out = export_campaign_state(
        settings.warehouse_path,
        settings.lake_dir,
        load_plan(settings.plan_path),
        send_date,
        state_dir=settings.campaign_state_dir,
        quarantine_dir=settings.quarantine_dir,
        progress=context.log.info,
    )
    for source, result in out["ingest"].items():
        meta = {
            "send_date": send_date.isoformat(),
            "state_file": dg.MetadataValue.path(
                str(settings.campaign_state_dir / source / send_date.isoformat())
            ),
            **ingestion_metadata(result, settings.lake_dir, context.log),
        }
        if source == "campaign_sends":
            meta["outcomes"] = dg.MetadataValue.json(out["outcomes"])
        yield dg.MaterializeResult(asset_key=ingestion_key(source), metadata=meta)


def _campaign_report(context: dg.AssetExecutionContext, crm: CrmSettings) -> dg.MaterializeResult:
    from activations.exports.campaign_report import report_markdown, write_report
    from crmloop.serve import served_url
    from crmloop.settings import serve_port

    settings = crm.get()
    as_of = date.fromisoformat(context.partition_key)
    send_date = send_date_for(context.partition_key)  # filed like the exports: under the send date
    path = write_report(settings.warehouse_path, settings.reports_dir, as_of, send_date)
    context.log.info(f"campaign report: {path}")
    return dg.MaterializeResult(
        metadata={
            "send_date": send_date.isoformat(),
            "report": dg.MetadataValue.path(str(path)),
            "report_url": dg.MetadataValue.url(served_url(path, settings, serve_port())),
            "preview": dg.MetadataValue.md(report_markdown(settings.warehouse_path, as_of, send_date)),
        }
    )


def build_campaign_audiences(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    return dg.asset(
        key=AUDIENCES,
        deps=[
            PROFILES,
            RANK_HISTORY,
            SEND_LEDGER,
            SUPPRESSION_LIST,
            *(dg.AssetKey(["lake", e]) for e in AUDIENCE_LAKE_INPUTS),
        ],
        partitions_def=partitions_def,
        backfill_policy=ONE_DAY_PER_RUN,
        pool=WAREHOUSE_POOL,
        group_name=GROUP,
        kinds={"python", "duckdb"},
        description="Campaign audiences of the communication plan (activations/plan/plan.yml) as of D: who "
        "enters each campaign on the send date (activations.campaign_memberships) and the follow-ups due, "
        "marts.campaign_audiences with holdout, every suppression with its reason, frozen once as a "
        "snapshot with a content hash. Gated by the audience quality suite (on that snapshot) before "
        "anything is sent; the channels send exactly that snapshot.",
    )(_campaign_audiences)


# (asset, kinds, description) of each channel asset: all read the frozen audiences
CHANNELS = (
    (EMAIL, {"sendgrid"}, "Email through the official SendGrid SDK, exactly once per ledger key."),
    (SMS, {"twilio"}, "SMS through the official Twilio SDK, exactly once per ledger key; quiet hours queue."),
    (ADS, {"meta", "googleads"}, "Meta Custom Audience sync (diff) and Google Customer Match upload file."),
    (
        FILES,
        {"excel", "csv"},
        "Files for marketers: XLSX + CSV (UTF-8 BOM) per campaign, direct-mail and call lists, manifest.",
    ),
)


def _warehouse_writer(
    fn, name: str, specs: list[dg.AssetSpec], partitions_def, **extra
) -> dg.AssetsDefinition:
    """A multi-asset step on the day's partitions that writes DuckDB (the one-writer pool)."""
    return dg.multi_asset(
        specs=specs,
        partitions_def=partitions_def,
        backfill_policy=ONE_DAY_PER_RUN,
        pool=WAREHOUSE_POOL,
        name=name,
        **extra,
    )(fn)


def build_channels(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(key, deps=[AUDIENCES], group_name=GROUP, kinds=kinds, description=text)
        for key, kinds, text in CHANNELS
    ]
    return _warehouse_writer(_channels, "channels", specs, partitions_def, can_subset=True)


# What the campaign-state step writes to the lake after every channel has run.
CAMPAIGN_STATE_ASSETS = (
    (
        CAMPAIGN_SENDS,
        "Who was in each campaign on the send date and what happened to them "
        "(holdout, suppressed with reason, sent, failed, ambiguous): the lake's record of the "
        "activation, which the campaign results read.",
    ),
    (CAMPAIGN_PLAN, "The plan as it was on the send date: KPI metric, target and window per campaign."),
)


def build_campaign_state(
    partitions_def: dg.PartitionsDefinition, settings: Settings | None = None
) -> dg.AssetsDefinition:
    """The campaign state: written as the run's own files (<home>/campaign_state/) and put into
    the lake by the ingestion code with its declarations (sources/declarations/campaign_*.yml),
    checked by their quality suites like every lake source (orchestration/defs/quality.py), with
    a freshness policy from their freshness threshold like every lake source."""
    from activations.delivery.campaign_state import PRODUCER
    from orchestration.defs.freshness import source_freshness
    from sources import produced_declarations

    settings = settings or Settings.from_env()
    decls = produced_declarations(PRODUCER)
    specs = [
        dg.AssetSpec(
            key,
            deps=[EMAIL, SMS, ADS, FILES],
            group_name=GROUP,
            kinds={"python", "parquet"},
            description=f"{text} Ingested like every source (bad rows quarantined with file, row and reason).",
            metadata={"entity": decls[key.path[-1]].entity},
            freshness_policy=source_freshness(settings, decls[key.path[-1]]),
        )
        for key, text in CAMPAIGN_STATE_ASSETS
    ]
    return _warehouse_writer(
        _campaign_state,
        "campaign_state",
        specs,
        partitions_def,
    )


def build_campaign_report(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    return dg.asset(
        key=REPORT,
        deps=[
            dg.AssetKey(["warehouse", "campaign_results"]),
            dg.AssetKey(["warehouse", "campaign_results_by_period"]),
            dg.AssetKey(["warehouse", "campaign_lift"]),
            dg.AssetKey(["warehouse", "campaign_suppression_reasons"]),
            dg.AssetKey(["warehouse", "rank_summary"]),
            dg.AssetKey(["warehouse", "rank_migration"]),
        ],
        partitions_def=partitions_def,
        backfill_policy=ONE_DAY_PER_RUN,
        group_name="reports",
        kinds={"html", "matplotlib"},
        description="The campaign report for marketers: rank distribution and migration, KPI vs target, "
        "funnel per channel, holdout lift with its interval, why a KPI was missed, why people were left "
        "out (holdout, suppression reasons) (self-contained HTML), "
        "filed like the exports under the run's send date: reports/<partition + 1>/campaign_report.html.",
    )(_campaign_report)


def activation_assets(partitions_def: dg.PartitionsDefinition, settings: Settings | None = None) -> list:
    """Every activation asset on the given partitions (the external tables are unpartitioned specs)."""
    return [
        *external_tables,
        build_campaign_audiences(partitions_def),
        build_channels(partitions_def),
        build_campaign_state(partitions_def, settings),
        build_campaign_report(partitions_def),
    ]


def defs(partitions_def: dg.PartitionsDefinition, settings: Settings | None = None) -> dg.Definitions:
    """The activation domain: audiences, channels, campaign state, the report, provider secrets."""
    return dg.Definitions(
        assets=activation_assets(partitions_def, settings), resources={"providers": ProviderSecrets()}
    )
