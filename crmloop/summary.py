"""The summary a person reads after `crmloop run`: ingestion accounting, ranks, checks, failures."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmloop.settings import Settings

# wide enough for the KPI table when the output is a file or a pipe (CI, make demo | tee)
console = Console(width=None if Console().is_terminal else 160)


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


def print_summary(settings: Settings, outcomes, elapsed: float) -> None:
    for o in outcomes:
        status = "[green]succeeded[/green]" if o.success else "[red]FAILED[/red]"
        console.print(f"{o.job} {o.partition}: {status}  (run {o.run_id}, log {o.log})")
        for m in o.messages:
            console.print(f"  [red]{m}[/red]")
        for c in o.failed_checks:
            console.print(f"  [yellow]check failed: {c}[/yellow]")

    for line in held_back_lines(settings):
        console.print(f"[yellow]{escape(line)}[/yellow]")

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
            table.add_row(str(rank), f"{customers:,}", f"{(sales or 0):,.0f}")
        console.print(table)
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


def print_kpis(settings: Settings) -> None:
    """KPI against target for every campaign and channel of the latest send date with results."""
    rows = _warehouse_rows(
        settings,
        """
        select campaign_id, channel, send_date, kpi_metric, kpi_target, kpi_actual, kpi_status, diagnosis
        from marts.campaign_results
        where send_date = (select max(send_date) from marts.campaign_results)
        order by campaign_id, channel
        """,
        [],
    )
    if not rows:
        console.print("[yellow]no campaign results yet[/yellow]")
        return
    table = Table(title=f"KPI vs target, sends of {rows[0][2]}")
    for col in ("campaign", "channel", "KPI", "target", "actual", "", "why"):
        table.add_column(col)
    status_style = {"met": "[green]met[/green]", "missed": "[red]missed[/red]"}
    for campaign, channel, _, metric, target, actual, status, diagnosis in rows:
        table.add_row(
            campaign,
            channel,
            str(metric),
            "" if target is None else f"{target:.1%}",
            "" if actual is None else f"{actual:.1%}",
            status_style.get(status, str(status or "")),
            (diagnosis or "")[:90],
        )
    console.print(table)
