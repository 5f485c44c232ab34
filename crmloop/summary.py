"""The summary a person reads after `crmloop run`: ingestion accounting, ranks, checks, failures."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from activations.exports.numbers import count, money, percent
from crmloop.settings import Settings

# wide enough for the KPI table when the output is a file or a pipe (CI, make demo | tee)
console = Console(width=None if Console().is_terminal else 160)


def say(out: Console, text: str, style: str | None = None) -> None:
    """Print a sentence as it is: no markup read into paths, never wrapped to the terminal width."""
    body = escape(text)
    out.print(f"[{style}]{body}[/{style}]" if style else body, soft_wrap=True, highlight=False)


def _warehouse_rows(settings: Settings, sql: str, params: list) -> list[tuple]:
    import duckdb

    if not settings.warehouse_path.exists():
        return []
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()


def print_summary(settings: Settings, outcomes, elapsed: float, warnings: list[str] | tuple = ()) -> None:
    for w in warnings:
        say(console, f"warning: {w}", "yellow")
    for o in outcomes:
        status = "succeeded" if o.success else "FAILED"
        say(
            console,
            f"{o.job} {o.partition}: {status}  (run {o.run_id}, log {o.log})",
            "green" if o.success else "red",
        )
        for m in o.messages:
            say(console, f"  {m}", "red")
        for c in o.failed_checks:
            say(console, f"  check failed: {c}", "yellow")
        print_ingestion(o)
        if not o.success and o.log is not None:
            say(console, f"  details (every failed step and check in full): {o.log}")

    for line in held_back_lines(settings):
        say(console, line, "yellow")

    ranks = _warehouse_rows(
        settings,
        "select rank, customers, sales from marts.rank_summary where as_of = ? order by sales desc nulls last",
        [settings.as_of],
    )
    if ranks:
        table = Table(title=f"Customer ranks as of {settings.as_of}")
        table.add_column("rank")
        table.add_column("customers", justify="right")
        table.add_column("sales (THB)", justify="right")
        for rank, customers, sales in ranks:
            table.add_row(str(rank), count(customers), money(sales or 0))
        console.print(table)
    print_campaign_days(settings)
    console.print(f"finished in {elapsed:.1f}s; everything is under {settings.home}")


def held_back_lines(settings: Settings) -> list[str]:
    """Lake partitions the warehouse leaves out (failed an ERROR check in some run), with the way out."""
    from sources.partition_status import held_back

    held = held_back(settings.lake_dir, up_to=settings.as_of)
    if not held:
        return []
    lines = [
        f"{len(held)} lake partition(s) held back from the warehouse (their rows are in no mart or audience):"
    ]
    for s in held:
        lines.append(f"  {s.source} {s.load_date}: {s.reason}")
        lines.append(
            f"    deliver corrected files for {s.load_date} (the next run re-checks them), or: {s.release_command()}"
        )
    return lines


def print_campaign_days(settings: Settings) -> None:
    """Per campaign, the send date of this run (as of D, sent on D + 1): entered / sent / repeats."""
    from datetime import timedelta

    from activations.audiences.journeys import journey_day_summary
    from activations.plan.spec import PlanError, load_plan

    try:
        plan = load_plan(settings.plan_path)
    except PlanError as exc:
        console.print(f"[red]{exc}[/red]")
        return
    send_date = settings.as_of + timedelta(days=1)
    rows = journey_day_summary(settings.warehouse_path, plan, send_date)
    table = Table(title=f"Campaigns sent on {send_date} (as of {settings.as_of})")
    for col in ("campaign", "kind", "state", "entered", "follow-ups", "sent", "repeats"):
        table.add_column(
            col, justify="right" if col in ("entered", "follow-ups", "sent", "repeats") else "left"
        )
    for r in rows:
        table.add_row(
            r["campaign_id"],
            r["kind"],
            r["state"],
            count(r["entered"]),
            count(r["follow_ups"]),
            count(r["sent"]),
            count(r["repeats"]),
        )
    console.print(table)
    console.print(
        "entered: people who entered the campaign today; sent: people sent to today (follow-ups included); "
        "repeats: entries sent to someone who had this campaign before (a re-entry rule allows it)"
    )


def demo_day_rows(settings: Settings, send_dates) -> list[dict]:
    """Per campaign x channel x send date: entered (memberships), sent and repeats, where a repeat
    is a person sent this campaign on this channel on an earlier send date. Sends are read from
    the lake's record of each activation (`campaign_sends`, outcome `sent`: emails and SMS the
    ledger confirmed, call and mail lists handed over), not from the journey rules that should
    prevent repeats."""
    import duckdb

    from activations.audiences.journeys import MEMBERSHIP_TABLE
    from sources.lake import entity_files

    dates = sorted(send_dates)
    sends = entity_files(settings.lake_dir, "campaign_sends")
    if not sends or not dates:
        return []
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            f"""
            with sent as (
                select distinct campaign_id, channel, cast(send_date as date) as send_date, customer_id
                from read_parquet(?, union_by_name = true) where outcome = 'sent'
            ),
            entered as (
                select campaign_id, entered_on as send_date, count(*) as entered
                from {MEMBERSHIP_TABLE} group by all
            )
            select s.campaign_id, s.channel, s.send_date, count(distinct s.customer_id) as sent,
                   count(distinct case when exists (
                       select 1 from sent e where e.campaign_id = s.campaign_id and e.channel = s.channel
                         and e.customer_id = s.customer_id and e.send_date < s.send_date)
                       then s.customer_id end) as repeats,
                   coalesce(any_value(n.entered), 0) as entered
            from sent s left join entered n using (campaign_id, send_date)
            where s.send_date between ? and ?
            group by all order by s.campaign_id, s.channel, s.send_date
            """,
            [sends, dates[0], dates[-1]],
        ).fetchall()
    finally:
        con.close()
    return [
        {"campaign_id": c, "channel": ch, "send_date": d, "sent": n, "repeats": r, "entered": e}
        for c, ch, d, n, r, e in rows
    ]


def print_demo_days(settings: Settings, send_dates) -> None:
    """The demo's days side by side: who entered, who was sent to, and repeats (0 where the plan's
    re-entry rules say so)."""
    rows = demo_day_rows(settings, send_dates)
    table = Table(title=f"The demo's sends, {min(send_dates)} to {max(send_dates)} (lake/campaign_sends)")
    for col in ("campaign", "channel", "send date", "entered", "sent", "repeats"):
        table.add_column(col, justify="right" if col in ("entered", "sent", "repeats") else "left")
    for r in rows:
        table.add_row(
            r["campaign_id"], r["channel"], str(r["send_date"]), count(r["entered"]), count(r["sent"]),
            count(r["repeats"]),
        )  # fmt: skip
    console.print(table if rows else "No message was sent on these days.")
    console.print(
        "repeats: people sent this campaign on this channel on an earlier send date; "
        "entered counts the campaign's entries of that send date (all channels)"
    )


def print_ingestion(outcome) -> None:
    """Per source that held anything back: rows in/loaded/quarantined with the top reasons, and
    every landing file rejected whole with its reason. Clean sources share one line."""
    clean = [i for i in outcome.ingested if not (i.quarantined or i.rejected)]
    for i in sorted(outcome.ingested, key=lambda i: i.source):
        if i in clean:
            continue
        reasons = ", ".join(f"{r} {count(n)}" for r, n in i.top_reasons())
        say(
            console,
            f"  lake/{i.source} {i.partition}: {count(i.rows_in)} rows in, {count(i.loaded)} loaded, "
            f"{count(i.quarantined)} quarantined, {count(i.rejected_rows)} in rejected files"
            + (f" (top reasons: {reasons})" if reasons else ""),
            "yellow",
        )
        for file, reason in i.rejected:
            say(console, f"    rejected file {file}: {reason}", "red")
    if clean:
        rows = sum(i.rows_in for i in clean)
        say(console, f"  {len(clean)} source(s) loaded every row ({count(rows)} rows), no file rejected")


KPI_COLUMNS = (
    "campaign_id, channel, send_date, kpi_metric, kpi_target, kpi_actual, kpi_denominator, kpi_status, "
    "diagnosis_code, diagnosis"
)
KPI_SQL = f"""
with ranked as (
    select *,
           row_number() over (partition by campaign_id, channel order by send_date desc) as latest,
           row_number() over (partition by campaign_id, channel, kpi_state in ('met', 'missed')
                              order by send_date desc) as latest_of_kind
    from marts.campaign_results
)
select {KPI_COLUMNS}
from ranked
where latest = 1 or (kpi_state in ('met', 'missed') and latest_of_kind = 1)
order by campaign_id, channel, send_date desc
"""
DEMO_KPI_SQL = f"""
select {KPI_COLUMNS} from marts.campaign_results where send_date between ? and ?
order by campaign_id, channel, send_date
"""


def _print_kpi_table(title: str, rows: list[tuple]) -> None:
    """One row per send (KPI_COLUMNS): KPI, target, actual of how many, status, diagnosis."""
    table = Table(title=title)
    for col in ("campaign", "channel", "sent on", "KPI", "target", "actual", "of", "status", "why"):
        table.add_column(col, justify="right" if col in ("target", "actual", "of") else "left")
    status_style = {"met": "[green]met[/green]", "missed": "[red]missed[/red]"}
    for campaign, channel, send_date, metric, target, actual, den, status, _code, diagnosis in rows:
        table.add_row(
            campaign,
            channel,
            str(send_date),
            str(metric),
            percent(target),
            percent(actual),
            count(den),
            status_style.get(status, f"[yellow]{escape(status)}[/yellow]" if status else ""),
            escape(diagnosis or ""),
        )
    console.print(table)


def print_kpis(settings: Settings) -> None:
    """KPI against target per campaign and channel: its latest send (in progress while the KPI
    window is open, with the interim actual) and, when that is not judged yet, its latest send
    whose window has closed (met / missed, and why)."""
    rows = _warehouse_rows(settings, KPI_SQL, [])
    if not rows:
        console.print("[yellow]no campaign results yet[/yellow]")
        return
    _print_kpi_table("KPI vs target per send (in progress until the KPI window closes; actual so far)", rows)


def print_demo_kpis(settings: Settings, send_dates) -> None:
    """Each send of the demo's days, judged once its KPI window has closed: KPI, target, actual
    (of how many), met / missed, and the diagnosis (a miss's cause in the funnel or the holdout;
    a met target with no lift over the holdout), then the different diagnoses found."""
    dates = sorted(send_dates)
    rows = _warehouse_rows(settings, DEMO_KPI_SQL, [dates[0], dates[-1]])
    if not rows:
        console.print("[yellow]no campaign results for the demo's sends[/yellow]")
        return
    _print_kpi_table(f"KPI vs target of the sends of {dates[0]} to {dates[-1]}, as of {settings.as_of}", rows)
    codes = sorted({r[8] for r in rows if r[8]})
    say(console, f"{len(codes)} different diagnoses: {', '.join(codes) if codes else 'none'}")


def send_time_arm_rows(settings: Settings, send_dates) -> list[dict]:
    """Per campaign with a send-time split (the audience's `send_time_arm`: personal | control),
    over the send dates: emails sent (ledger `sent`) and opened (a SendGrid `open` event of that
    send in the lake's email_events), per arm. Empty when no campaign split its audience."""
    import duckdb

    from activations.audiences.suppression import LEDGER_TABLE
    from activations.audiences.tables import AUDIENCE_SNAPSHOTS_TABLE
    from sources.lake import entity_files

    dates = sorted(send_dates)
    if not settings.warehouse_path.exists() or not dates:
        return []
    events = entity_files(settings.lake_dir, "email_events")
    opens = (
        "select distinct send_id from read_parquet(?, union_by_name = true) where event = 'open'"
        if events
        else "select cast(null as varchar) as send_id where false"
    )
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            f"""
            with sent as (
                select l.campaign_id, s.send_time_arm as arm, l.send_id
                from {LEDGER_TABLE} l
                join {AUDIENCE_SNAPSHOTS_TABLE} s
                  on s.campaign_id = l.campaign_id and s.customer_id = l.customer_id
                 and s.channel = l.channel and s.send_date = l.send_date
                where l.channel = 'email' and l.status = 'sent' and s.send_time_arm is not null
                  and l.send_date between ? and ?
            ),
            opened as ({opens})
            select campaign_id, arm, count(*) as sent, count(o.send_id) as opened
            from sent left join opened o using (send_id)
            where campaign_id in (select campaign_id from sent where arm = 'control')
            group by all order by campaign_id, arm desc
            """,
            [dates[0], dates[-1], *([events] if events else [])],  # the placeholders in text order
        ).fetchall()
    except duckdb.CatalogException:  # no audience or ledger yet
        return []
    finally:
        con.close()
    return [{"campaign_id": c, "arm": a, "sent": n, "opened": o} for c, a, n, o in rows]


def print_send_time_arms(settings: Settings, send_dates) -> None:
    """Email open rate per send-time arm: personal (each person's best hour) against the control
    (the plan's fixed time, or at once), for the campaigns with `send_time_control`."""
    rows = send_time_arm_rows(settings, send_dates)
    if not rows:
        return
    table = Table(title="Send time: personal vs control, email open rate (holdout-style split)")
    for col in ("campaign", "arm", "sent", "opened", "open rate"):
        table.add_column(col, justify="left" if col in ("campaign", "arm") else "right")
    for r in rows:
        rate = r["opened"] / r["sent"] if r["sent"] else None
        table.add_row(r["campaign_id"], r["arm"], count(r["sent"]), count(r["opened"]), percent(rate))
    console.print(table)
    console.print(
        "personal: sent at the hour each person usually buys or visits (customer_profiles.best_send_hour); "
        "control: the campaign's send_time_control time for a stable share of its audience"
    )
