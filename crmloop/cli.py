"""The `crmloop` command line. Every command has --help.

Flags become the CRM_* environment variables that crmloop.settings reads, so a run from the
CLI and a run from the Dagster UI see the same configuration.
"""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

import click

from crmloop.ledger_cli import ledger
from crmloop.settings import (
    DEFAULT_HOME,
    DEFAULT_LANDING_DIR,
    DEFAULT_SERVE_PORT,
    Settings,
    SettingsError,
    WebhookConfig,
    check_run_day,
    default_as_of,
    parse_day,
    serve_port,
)


class InputError(click.ClickException):
    """A mistake in the command line or the CRM_* environment: one line, exit 2, no traceback."""

    exit_code = 2


def _apply_env(landing: str | None = None, home: str | None = None, as_of: str | None = None) -> None:
    if landing:
        os.environ["CRM_LANDING_DIR"] = str(Path(landing).expanduser().resolve())
    if home:
        os.environ["CRM_HOME"] = str(Path(home).expanduser().resolve())
    if as_of:
        os.environ["CRM_AS_OF"] = as_of


def _day(as_of: str | None, name: str = "--as-of") -> date | None:
    try:
        return parse_day(as_of, name) if as_of is not None else None
    except SettingsError as exc:
        raise InputError(str(exc)) from None


def _run_settings(*, first_day_offset: int = 0) -> Settings:
    """The settings of a run, checked: every CRM_* value parses and the as-of date (minus
    `first_day_offset` days, the demo's first day) is a finished day on or after CRM_START_DATE."""
    try:
        settings = Settings.from_env()
        check_run_day(settings.as_of, settings.start_date)
        if first_day_offset:
            first = settings.as_of - timedelta(days=first_day_offset)
            check_run_day(
                first, settings.start_date, name=f"--as-of minus {first_day_offset} day(s), the first day,"
            )
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    return settings


# No click `envvar=`/defaults here: an unset flag leaves CRM_LANDING_DIR / CRM_HOME to crmloop.settings,
# the one place that reads them (and holds their defaults).
landing_option = click.option(
    "--landing",
    default=None,
    help=f"Landing zone: <landing>/<source>/<YYYY-MM-DD>/<files> [default: $CRM_LANDING_DIR or {DEFAULT_LANDING_DIR}].",
)
home_option = click.option(
    "--home",
    default=None,
    help="Where a run keeps everything: lake, quarantine, warehouse, exports, reports, Dagster storage "
    f"[default: $CRM_HOME or {DEFAULT_HOME}].",
)


def as_of_option(help: str):
    """--as-of DAY (YYYY-MM-DD, checked by _day): what the day means differs per command."""
    return click.option("--as-of", "as_of", default=None, help=help)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """crmloop: ingest customer extracts, model profiles and ranks, gate on quality,
    activate campaigns and feed the results back."""


main.add_command(ledger)  # crmloop ledger ambiguous | release BATCH | confirm-sent BATCH


@main.command("demo-data")
@click.option("--customers", type=int, default=35_000, show_default=True, help="People to simulate.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed (same seed, same files).")
@click.option("--out", default="./data/landing", show_default=True, help="Landing directory to write.")
@as_of_option("Last day of history (YYYY-MM-DD); default yesterday, Asia/Bangkok.")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Daily partitions after the bulk, the last one as of --as-of.",
)
def demo_data(customers: int, seed: int, out: str, as_of: str | None, days: int) -> None:
    """Generate a realistic Thai retailer's source extracts into a landing directory."""
    from crmloop.demo_data.generate import generate

    day = _day(as_of) or default_as_of()
    summary = generate(customers=customers, seed=seed, out=Path(out), as_of=day, days=days)
    click.echo(summary.describe())


@main.command("run")
@landing_option
@home_option
@as_of_option(
    "Business date to build (YYYY-MM-DD, from CRM_START_DATE to yesterday); default yesterday, Asia/Bangkok."
)
def run(landing: str, home: str, as_of: str | None) -> None:
    """One daily run of every asset, in-process through Dagster.

    Ingests landing partition AS_OF and any earlier landing partitions not yet ingested, then
    builds everything as of AS_OF. Exits 1 when there is nothing to work on or a step or blocking
    check fails, 2 on a mistake in the arguments or the CRM_* settings."""
    _day(as_of)
    _apply_env(landing, home, as_of or default_as_of().isoformat())
    settings = _run_settings()
    from crmloop.runner import run_daily

    ok = run_daily(settings)
    sys.exit(0 if ok else 1)


@main.command("backfill")
@landing_option
@home_option
@click.option("--from", "first", required=True, help="First business day (YYYY-MM-DD).")
@click.option("--to", "last", required=True, help="Last business day (YYYY-MM-DD), at most yesterday.")
def backfill(landing: str, home: str, first: str, last: str) -> None:
    """The daily run of every day from --from to --to, in order, through Dagster.

    Each day is what `crmloop run --as-of DAY` does (one run at a time: DuckDB has one writer),
    recorded in the Dagster instance so the UI shows every partition. The same range can be
    backfilled from the UI (`crmloop dev`: Materialize all, pick the partitions). Stops at the
    first day that fails (exit 1), saying how to resume."""
    d1, d2 = _day(first, "--from"), _day(last, "--to")
    if d2 < d1:
        raise InputError(f"--to {d2} is before --from {d1}; give the range oldest day first")
    _apply_env(landing, home, d2.isoformat())
    try:
        settings = Settings.from_env()
        check_run_day(d2, settings.start_date, name="--to")
        check_run_day(d1, settings.start_date, name="--from")
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    from crmloop.runner import run_backfill

    sys.exit(0 if run_backfill(settings, d1, d2) else 1)


@main.command("docs")
@landing_option
@home_option
def docs(landing: str, home: str) -> None:
    """Build the dbt docs site (models, columns, descriptions, tests, lineage) of the warehouse
    and print the path of its page, which opens offline in a browser."""
    _apply_env(landing, home)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    if not settings.warehouse_path.exists():
        raise click.ClickException(
            f"no warehouse at {settings.warehouse_path} yet: run `crmloop run` first (the catalog lists its tables)"
        )
    from orchestration.defs.warehouse import generate_docs

    page = generate_docs(settings)
    click.echo(f"dbt docs: {page}")
    click.echo(f"open it in a browser: {page.as_uri()}")


@main.command("release")
@click.argument("source")
@click.argument("load_date", metavar="DATE")
@click.option("--reason", required=True, help="Why the partition may go in as it is (recorded).")
@click.option("--by", "by", default=None, help="Who releases it (recorded); default the login name ($USER).")
@home_option
def release(source: str, load_date: str, reason: str, by: str | None, home: str) -> None:
    """Let a held-back lake partition into the warehouse as it is.

    A partition whose ERROR quality check failed stays out of every warehouse build until
    corrected files for that date pass, or a person releases it here. The release (who, when,
    why) is kept with the partition's status and shown on lake/SOURCE in the Dagster UI; the next
    run's warehouse build reads the partition."""
    import getpass

    from crmloop.runner import prepare_dagster_home
    from crmloop.settings import Settings
    from orchestration.defs.quality import report_release
    from sources.partition_status import StatusError
    from sources.partition_status import release as release_partition

    _apply_env(home=home)
    try:
        day = date.fromisoformat(load_date)
    except ValueError:
        raise click.BadParameter(
            f"{load_date!r} is not a date; expected YYYY-MM-DD", param_hint="DATE"
        ) from None
    settings = Settings.from_env()
    try:
        status = release_partition(settings.lake_dir, source, day, reason=reason, by=by or getpass.getuser())
    except StatusError as exc:
        raise click.ClickException(str(exc)) from None
    prepare_dagster_home(settings)
    report_release(status)
    click.echo(
        f"released {status.source} {status.load_date} (by {status.released_by} at {status.released_at}); "
        "the next run's warehouse build reads it"
    )


@main.command("demo")
@click.option("--customers", type=int, default=35_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@landing_option
@home_option
@as_of_option(
    "The judged day (YYYY-MM-DD): the three consecutive days end one KPI window before it; default yesterday, Asia/Bangkok."
)
def demo(customers: int, seed: int, landing: str, home: str, as_of: str | None) -> None:
    """Generate demo data, run three consecutive days of the loop and the day their KPI windows
    close (AS_OF, the judged day), and print a summary (what `make demo` does)."""
    _day(as_of)
    _apply_env(landing, home, as_of or default_as_of().isoformat())
    from crmloop.runner import demo_days, run_demo

    settings = _run_settings()
    _run_settings(first_day_offset=(settings.as_of - demo_days(settings.as_of, settings.plan_path)[0]).days)
    try:
        ok = run_demo(customers=customers, seed=seed)
    except FileExistsError as exc:
        raise InputError(str(exc)) from None
    sys.exit(0 if ok else 1)


@main.command("dev")
@landing_option
@home_option
@click.option("--port", type=int, default=3000, show_default=True)
def dev(landing: str, home: str, port: int) -> None:
    """Open the Dagster UI (`dagster dev`) on the same data."""
    _apply_env(landing, home)
    from crmloop.runner import prepare_dagster_home

    dagster_home = prepare_dagster_home()
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home))
    os.execvpe(
        sys.executable,
        [sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions", "-p", str(port)],
        env,
    )


@main.command("dagster-home")
@home_option
def dagster_home(home: str) -> None:
    """Write the Dagster instance's dagster.yaml under <home>/dagster and print that folder: the
    DAGSTER_HOME of a deployment's webserver, daemon and code server (docs/DEPLOY.md).
    CRM_DAGSTER_STORAGE=postgres adds the PostgreSQL storage, read from DAGSTER_PG_* at load time."""
    _apply_env(home=home)
    from crmloop.runner import prepare_dagster_home

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    click.echo(prepare_dagster_home(settings))


@main.command("webhooks")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=int,
    default=8787,
    show_default=True,
    help="Port (the sender's CRM_WEBHOOK_BASE_URL defaults to http://127.0.0.1:8787).",
)
@landing_option
@click.option(
    "--public-url",
    default=None,
    help="Base URL the providers call (behind a proxy Twilio signs this, not the local URL) "
    "[default: $CRM_WEBHOOK_PUBLIC_URL].",
)
@click.option(
    "--tolerance",
    type=float,
    default=None,
    help="Seconds a SendGrid signature timestamp may differ from now "
    f"[default: $CRM_WEBHOOK_TOLERANCE_SECONDS or {WebhookConfig.tolerance_seconds:g}].",
)
@click.option(
    "--seal-seconds",
    type=float,
    default=None,
    help="Seconds before an in-flight landing segment is sealed into a *.jsonl file "
    f"[default: $CRM_WEBHOOK_SEAL_SECONDS or {WebhookConfig.seal_seconds:g}].",
)
def webhooks(
    host: str,
    port: int,
    landing: str | None,
    public_url: str | None,
    tolerance: float | None,
    seal_seconds: float | None,
) -> None:
    """Receive SendGrid and Twilio webhooks into the landing zone (email_events, sms_events, consents).

    Secrets come from the environment only: SENDGRID_WEBHOOK_PUBLIC_KEY (base64 DER) and
    TWILIO_AUTH_TOKEN."""
    _apply_env(landing)
    from sources.webhooks.server import serve

    try:
        config = WebhookConfig.from_env(
            public_base_url=public_url, tolerance_seconds=tolerance, seal_seconds=seal_seconds
        )
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    serve(config, host=host, port=port)


@main.command("serve")
@home_option
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port on 127.0.0.1; the Dagster UI's report_url and data_docs_url links point at "
    f"CRM_SERVE_PORT, so set that instead when you change it [default: $CRM_SERVE_PORT or {DEFAULT_SERVE_PORT}].",
)
def serve_cmd(home: str | None, port: int | None) -> None:
    """Serve the home's campaign reports and GX Data Docs, read-only, at http://127.0.0.1:PORT/
    (an index by send date); run it next to `crmloop dev` to open the links in the Dagster UI."""
    _apply_env(None, home)
    if port is not None:
        os.environ["CRM_SERVE_PORT"] = str(port)
    from crmloop.serve import serve

    try:
        settings, port = Settings.from_env(), serve_port()
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    serve(settings, port)


@main.command("preview")
@home_option
@as_of_option("Business date D (sends on D + 1); default yesterday.")
@click.option("--json", "as_json", is_flag=True, help="Print the preview as JSON.")
def preview_cmd(home: str, as_of: str | None, as_json: bool) -> None:
    """Who the run of D would reach and what it would say, per campaign and channel (draft
    campaigns included). Writes nothing: the warehouse is opened read-only."""
    _apply_env(None, home, as_of or default_as_of().isoformat())
    from crmloop.preview import run_preview
    from crmloop.settings import Settings

    run_preview(Settings.from_env(), as_json=as_json)


@main.command("approve")
@home_option
@click.argument("campaign")
@click.option("--reason", required=True, help="Why it may go out (what you checked).")
@click.option("--by", default=None, help="Who approves; default the login name.")
def approve_cmd(home: str, campaign: str, reason: str, by: str | None) -> None:
    """Approve CAMPAIGN's current content for live sends (recorded with who, when, why and its
    content hash in <home>/approvals.jsonl). Sandbox mode needs no approval."""
    import getpass

    _apply_env(None, home)
    from activations.plan.approvals import ApprovalError
    from crmloop.preview import run_approve
    from crmloop.settings import Settings

    try:
        click.echo(run_approve(Settings.from_env(), campaign, reason, by or getpass.getuser()))
    except ApprovalError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
