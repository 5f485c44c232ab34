"""The campaign report: one self-contained HTML file per run, and the same content as markdown.

    write_report(warehouse_path, reports_dir, as_of, send_date)
        -> <reports_dir>/<send_date>/campaign_report.html
    report_markdown(warehouse_path, as_of, send_date)  -> markdown (Dagster metadata)

The report of a run is filed under the date its messages left (`send_date`, the run as of D
sends on D + 1), the same folder name as its export files (`exports/<send_date>/`), and shows
what that run sent: the latest send cohort of every campaign × channel (this run's sends, with
their KPI "in progress (day k of N)" and the interim actual), the latest judged cohort (met /
missed, once its KPI window has closed) with its diagnosis, the week and month roll-ups, and
conversions and revenue once per campaign (people, from campaign_lift), never per channel.

Charts are matplotlib PNGs embedded as base64 data URIs (no external assets): rank distribution,
rank migration, KPI vs target per campaign, the funnel per channel, and the lift with its 95%
interval; then the diagnoses and plain tables. The warehouse is read with a read-only DuckDB
connection; an empty section says what it is waiting for (e.g. "No KPI window has closed
yet"); "No data yet" only when the marts themselves are not built.

Pure parts: `load_report_data` is the only I/O; `chart_*` functions take DataFrames and return
PNG bytes (or None when there is nothing to draw); `render_html` / `render_markdown` take a
`ReportData`.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from activations.audiences.suppression import HOLDOUT_REASON, OTHER_REASON_GROUP, REASON_GROUPS, reason_group
from activations.exports.numbers import count, money, number, percent, points

RANK_ORDER = ["VIP", "Regular", "New", "Dormant", "Prospect"]
FUNNEL_STEPS = [
    ("audience", "audience"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("unique_opens", "opened"),
    ("unique_clicks", "clicked"),
    ("responded", "responded"),
    ("converted_sent", "purchased"),
]
MAX_MARKDOWN_IMAGE_BYTES = 100_000

# The cohort columns the report reads from marts.campaign_results (per campaign × channel × send date)
_COHORT = (
    "campaign_id, channel, send_date, audience, holdout, suppressed, sent, delivered, unique_opens,"
    " unique_clicks, responded_rsvp, responded_attended, responded_applied, responded_redeemed, converted_sent,"
    " kpi_metric, kpi_target, kpi_actual, kpi_state, kpi_status, kpi_window_day, kpi_window_days,"
    " kpi_window_last_day, diagnosis_code, diagnosis"
)
# (table it needs, sql); parameters: $as_of (the run's business date), $send_date (its sends)
_QUERIES = {
    "rank_summary": (
        "marts.rank_summary",
        "select rank, customers, sales from marts.rank_summary where as_of = ("
        " select max(as_of) from marts.rank_summary where as_of <= $as_of) order by rank",
    ),
    "rank_migration": (
        "marts.rank_migration",
        "select from_rank, to_rank, customers from marts.rank_migration where as_of = ("
        " select max(as_of) from marts.rank_migration where as_of <= $as_of) order by from_rank, to_rank",
    ),
    # the latest cohort of every campaign × channel: this run's sends, else the last earlier send
    "results": (
        "marts.campaign_results",
        f"select * from (select {_COHORT}, row_number() over (partition by campaign_id, channel"
        " order by send_date desc) as _rn from marts.campaign_results where send_date <= $send_date) d"
        " where _rn = 1 order by campaign_id, channel",
    ),
    # the latest cohort whose KPI window has closed: its verdict and diagnosis
    "judged": (
        "marts.campaign_results",
        f"select * from (select {_COHORT}, row_number() over (partition by campaign_id, channel"
        " order by send_date desc) as _rn from marts.campaign_results"
        " where send_date <= $send_date and kpi_state in ('met', 'missed')) d where _rn = 1 order by campaign_id, channel",
    ),
    "periods": (
        "marts.campaign_results_by_period",
        "select * from (select p.*, row_number() over (partition by grain, campaign_id, channel"
        " order by period_start desc) as _rn from marts.campaign_results_by_period p where period_start <= $send_date) d"
        " where _rn = 1 order by grain desc, campaign_id, channel",
    ),
    # conversions and revenue once per campaign (people), of its latest cohort, with its window
    "lift": (
        "marts.campaign_lift",
        "select d.*, w.kpi_status as window from (select l.*, row_number() over (partition by campaign_id"
        " order by send_date desc) as _rn from marts.campaign_lift l where send_date <= $send_date) d"
        " left join (select campaign_id, send_date, min(case when kpi_state = 'in progress' then kpi_status"
        " else 'closed' end) as kpi_status from marts.campaign_results group by campaign_id, send_date) w"
        " on w.campaign_id = d.campaign_id and w.send_date = d.send_date"
        " where _rn = 1 order by campaign_id",
    ),
    # why people got nothing (holdout, each suppression reason), for the cohorts of "results"
    "suppression_reasons": (
        "marts.campaign_suppression_reasons",
        "select s.campaign_id, s.channel, s.send_date, s.reason, s.people from marts.campaign_suppression_reasons s"
        " join (select campaign_id, channel, max(send_date) as send_date from marts.campaign_results"
        " where send_date <= $send_date group by campaign_id, channel) r"
        " on r.campaign_id = s.campaign_id and r.channel = s.channel and r.send_date = s.send_date"
        " order by s.campaign_id, s.channel, s.people desc, s.reason",
    ),
    "match_rates": (
        "marts.ad_match_rates",
        "select platform, campaign_id, audience_id, report_date, uploaded_users, matched_users, match_rate"
        " from marts.ad_match_rates where report_date <= $as_of order by report_date desc, platform, audience_id"
        " limit 50",
    ),
}


@dataclass
class ReportData:
    as_of: date  # the run's business date (the data it has seen)
    send_date: date | None = None  # the date the run's messages left (exports/<send_date>/); default as_of
    rank_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    rank_migration: pd.DataFrame = field(default_factory=pd.DataFrame)
    results: pd.DataFrame = field(default_factory=pd.DataFrame)  # latest cohort per campaign × channel
    judged: pd.DataFrame = field(default_factory=pd.DataFrame)  # latest closed cohort per campaign × channel
    periods: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # latest week and month per campaign × channel
    lift: pd.DataFrame = field(default_factory=pd.DataFrame)
    # campaign_id, channel, send_date, reason, people: the latest cohort's holdout and suppressions
    suppression_reasons: pd.DataFrame = field(default_factory=pd.DataFrame)
    match_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: list[str] = field(default_factory=list)  # tables not in the warehouse yet

    def __post_init__(self) -> None:
        if self.send_date is None:
            self.send_date = self.as_of


def load_report_data(warehouse_path: Path | str, as_of: date, send_date: date | None = None) -> ReportData:
    """Read the marts the report needs (read-only). Missing tables or warehouse → empty frames.

    as_of: the run's business date (ranks, ad reports); send_date: the date its messages left
    (cohorts up to and including it; default as_of)."""
    import duckdb

    data = ReportData(as_of=as_of, send_date=send_date)
    path = Path(warehouse_path)
    if not path.exists():
        data.missing = sorted({t for t, _ in _QUERIES.values()})
        return data
    params = {"as_of": as_of, "send_date": data.send_date}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = {
            f"{s}.{n}"
            for s, n in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        for attr, (table, sql) in _QUERIES.items():
            if table not in tables:
                if table not in data.missing:
                    data.missing.append(table)
                continue
            df = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).df()
            setattr(data, attr, df.drop(columns=["_rn"], errors="ignore"))
    finally:
        con.close()
    return data


# ---------------------------------------------------------------------------------------------
# Charts (pure: DataFrame in, PNG bytes out)


def _figure(width: float = 6.4, height: float = 3.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _rank_sort_key(ranks: pd.Series) -> pd.Series:
    return ranks.map(lambda r: (RANK_ORDER.index(r) if r in RANK_ORDER else len(RANK_ORDER), str(r)))


def chart_rank_distribution(rank_summary: pd.DataFrame) -> bytes | None:
    if rank_summary.empty:
        return None
    df = rank_summary.sort_values("rank", key=_rank_sort_key)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    bars = ax.bar(df["rank"].astype(str), df["customers"].astype(float), color="#3b75af")
    ax.bar_label(bars, labels=[count(v) for v in df["customers"]], fontsize=8)
    ax.set_title("Customers per rank")
    ax.set_ylabel("customers")
    return _png(fig)


def chart_rank_migration(rank_migration: pd.DataFrame) -> bytes | None:
    if rank_migration.empty:
        return None
    pivot = rank_migration.pivot_table(
        index="from_rank", columns="to_rank", values="customers", aggfunc="sum"
    )
    pivot = pivot.fillna(0)
    rows = sorted(pivot.index, key=lambda r: (RANK_ORDER.index(r) if r in RANK_ORDER else -1, str(r)))
    cols = sorted(pivot.columns, key=lambda r: (RANK_ORDER.index(r) if r in RANK_ORDER else 99, str(r)))
    pivot = pivot.loc[rows, cols]
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(pivot.to_numpy(dtype=float), cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=8)
    ax.set_xlabel("to rank (this run)")
    ax.set_ylabel("from rank (previous run)")
    top = pivot.to_numpy().max() if pivot.size else 0
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            v = int(pivot.loc[r, c])
            ax.text(
                j,
                i,
                count(v),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v > top / 2 else "black",
            )
    ax.set_title("Rank migration")
    return _png(fig)


def _label(df: pd.DataFrame) -> list[str]:
    return [f"{c}\n{ch}" for c, ch in zip(df["campaign_id"], df["channel"], strict=True)]


STATE_COLORS = {"met": "#2e8b57", "missed": "#c0392b", "in progress": "#e0a800"}


def chart_kpi_vs_target(results: pd.DataFrame) -> bytes | None:
    if results.empty:
        return None
    df = results.reset_index(drop=True)
    fig = _figure(max(6.4, 1.2 * len(df) + 2), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(df)))
    actual = df["kpi_actual"].astype(float).fillna(0.0) * 100
    target = df["kpi_target"].astype(float) * 100
    colors = [STATE_COLORS.get(s, "#999999") for s in df["kpi_state"]]
    ax.bar(x, actual, color=colors, width=0.6, label="actual")
    ax.scatter(x, target, marker="_", s=900, color="black", linewidths=2, label="target", zorder=3)
    for i, r in df.iterrows():
        if r["kpi_state"] == "no data":
            text = "no data"
        else:
            text = percent(r["kpi_actual"])
            if r["kpi_state"] == "in progress":
                text += f"\nday {int(r['kpi_window_day'])}/{int(r['kpi_window_days'])}"
        ax.text(i, actual[i], text, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, _label(df), fontsize=7)
    ax.set_ylim(0, max(float(actual.max()), float(target.max()), 1.0) * 1.25)
    ax.set_ylabel("%")
    ax.set_title("KPI actual vs target (green met, red missed, amber in progress: interim)")
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def _with_responded(results: pd.DataFrame) -> pd.DataFrame:
    df = results.copy()
    resp_cols = [c for c in df.columns if c.startswith("responded_")]
    df["responded"] = df[resp_cols].fillna(0).sum(axis=1) if resp_cols else 0
    return df


def chart_funnel(results: pd.DataFrame) -> bytes | None:
    """The funnel per channel (summed over the campaigns using it)."""
    if results.empty:
        return None
    df = _with_responded(results)
    cols = [c for c, _ in FUNNEL_STEPS]
    by_channel = df.groupby("channel")[cols].sum(numeric_only=True)
    fig = _figure(6.8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    n = len(by_channel)
    width = 0.8 / max(n, 1)
    for i, (channel, row) in enumerate(by_channel.iterrows()):
        xs = [k + i * width - 0.4 + width / 2 for k in range(len(cols))]
        ax.bar(xs, row.to_numpy(dtype=float), width=width, label=str(channel))
    ax.set_xticks(range(len(cols)), [label for _, label in FUNNEL_STEPS], fontsize=8)
    ax.set_ylabel("people")
    ax.set_title("Funnel per channel (latest send of each campaign)")
    ax.legend(fontsize=8)
    return _png(fig)


def chart_lift(lift: pd.DataFrame) -> bytes | None:
    if lift.empty or lift["lift"].isna().all():
        return None
    df = lift[lift["lift"].notna()].reset_index(drop=True)
    fig = _figure(6.4, max(2.4, 0.7 * len(df) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(df)))
    mid = df["lift"].astype(float) * 100
    lo = df["lift_ci_low"].astype(float) * 100
    hi = df["lift_ci_high"].astype(float) * 100
    colors = ["#2e8b57" if s == "significant" else "#7f8c8d" for s in df["significance"]]
    windows = df["window"] if "window" in df.columns else pd.Series(["closed"] * len(df))
    labels = [
        f"{c}" + ("" if w in ("closed", None) or pd.isna(w) else " (interim)")
        for c, w in zip(df["campaign_id"], windows, strict=True)
    ]
    for i in y:
        ax.errorbar(mid[i], i, xerr=[[mid[i] - lo[i]], [hi[i] - mid[i]]], fmt="o", color=colors[i], capsize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("conversion lift, percentage points (treatment − holdout), 95% interval")
    ax.set_title("Lift vs holdout")
    return _png(fig)


CHARTS: list[tuple[str, str, Callable[[ReportData], bytes | None]]] = [
    ("rank_distribution", "Rank distribution", lambda d: chart_rank_distribution(d.rank_summary)),
    ("rank_migration", "Rank migration", lambda d: chart_rank_migration(d.rank_migration)),
    ("kpi_vs_target", "KPI vs target per campaign", lambda d: chart_kpi_vs_target(d.results)),
    ("funnel", "Funnel per channel", lambda d: chart_funnel(d.results)),
    ("lift", "Lift with its 95% interval", lambda d: chart_lift(d.lift)),
]
# what an empty chart or table says when its mart exists but has nothing to show yet
EMPTY_NOTES = {
    "rank_distribution": "No ranks computed yet.",
    "rank_migration": "No earlier run to compare the ranks with yet.",
    "kpi_vs_target": "Nothing sent yet.",
    "funnel": "Nothing sent yet.",
    "lift": "No campaign with a holdout has been sent yet.",
    "results": "Nothing sent yet.",
    "suppressions": "Nothing sent yet.",
    "judged": "No KPI window has closed yet.",
    "periods": "Nothing sent yet.",
    "lift-table": "Nothing sent yet.",
    "match-rates": "No ad-platform report yet.",
}
NOT_BUILT = "No data yet."


# ---------------------------------------------------------------------------------------------
# Tables and text


def _kpi_columns(df: pd.DataFrame) -> dict[str, pd.Series]:
    """The KPI, its target, the actual figure and the verdict, as every KPI table shows them."""
    return {
        "KPI": df["kpi_metric"],
        "target": df["kpi_target"].map(percent),
        "actual": df["kpi_actual"].map(percent),
        "status": df["kpi_status"],
    }


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """The latest cohort per campaign × channel. No revenue or purchases column: per channel they
    would count a person reached on several channels once per channel (see lift_table)."""
    if results.empty:
        return pd.DataFrame()
    df = _with_responded(results)
    return pd.DataFrame(
        {
            "campaign": df["campaign_id"],
            "channel": df["channel"],
            "send date": df["send_date"].astype(str),
            "audience": df["audience"],
            "holdout": df["holdout"],
            "suppressed": df["suppressed"],
            "sent": df["sent"],
            "delivered": df["delivered"],
            "opens": df["unique_opens"],
            "clicks": df["unique_clicks"],
            "responded": df["responded"],
            **_kpi_columns(df),
        }
    )


def _reason_label(reason: str) -> str:
    return str(reason).replace("_", " ")


def suppression_table(results: pd.DataFrame, reasons: pd.DataFrame) -> pd.DataFrame:
    """Why the people of each latest cohort (campaign × channel) got nothing: the holdout and the
    suppressions per reason group (`activations.audiences.suppression.REASON_GROUPS`), counted from
    the suppression records of the run (marts.campaign_suppression_reasons), with the raw reasons."""
    if results.empty:
        return pd.DataFrame()
    groups = [HOLDOUT_REASON, *REASON_GROUPS]
    r = (
        reasons.copy()
        if not reasons.empty
        else pd.DataFrame(columns=["campaign_id", "channel", "send_date", "reason", "people"])
    )
    r["group"] = r["reason"].map(reason_group)
    r["send_date"] = r["send_date"].astype(str)
    if (r["group"] == OTHER_REASON_GROUP).any():
        groups.append(OTHER_REASON_GROUP)
    rows = []
    for c, send_date in zip(results.itertuples(), results["send_date"].astype(str), strict=True):
        mine = r[
            (r["campaign_id"] == c.campaign_id) & (r["channel"] == c.channel) & (r["send_date"] == send_date)
        ]
        by_group = mine.groupby("group")["people"].sum()
        left_out = int(mine["people"].sum())
        row = {
            "campaign": c.campaign_id,
            "channel": c.channel,
            "send date": send_date,
            "audience": c.audience,
        }
        row |= {g: int(by_group.get(g, 0)) for g in groups}
        row["left out"] = left_out
        row["share left out"] = percent(left_out / c.audience) if c.audience else ""
        row["suppression reasons"] = ", ".join(
            f"{_reason_label(x.reason)} {count(x.people)}"
            for x in mine.itertuples()
            if x.reason != HOLDOUT_REASON
        )
        rows.append(row)
    return pd.DataFrame(rows)


def judged_table(judged: pd.DataFrame) -> pd.DataFrame:
    """The latest cohort per campaign × channel whose KPI window has closed: verdict and diagnosis."""
    if judged.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "campaign": judged["campaign_id"],
            "channel": judged["channel"],
            "send date": judged["send_date"].astype(str),
            "window closed": judged["kpi_window_last_day"].astype(str),
            "sent": judged["sent"],
            **_kpi_columns(judged),
            "why": judged["diagnosis"].fillna(""),
        }
    )


def periods_table(periods: pd.DataFrame) -> pd.DataFrame:
    if periods.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "per": periods["grain"],
            "from": periods["period_start"].astype(str),
            "campaign": periods["campaign_id"],
            "channel": periods["channel"],
            "send days": periods["send_days"],
            "sent": periods["sent"],
            **_kpi_columns(periods),
        }
    )


def lift_table(lift: pd.DataFrame) -> pd.DataFrame:
    """Conversions and revenue once per campaign (people, not messages), treatment vs holdout."""
    if lift.empty:
        return pd.DataFrame()
    window = lift["window"] if "window" in lift.columns else pd.Series([""] * len(lift))
    return pd.DataFrame(
        {
            "campaign": lift["campaign_id"],
            "send date": lift["send_date"].astype(str),
            "window": window.fillna(""),
            "treatment": lift["n_treatment"],
            "bought": lift["converted_treatment"],
            "revenue (THB)": lift["revenue_treatment"].map(money),
            "treatment conv.": lift["conversion_rate_treatment"].map(percent),
            "holdout": lift["n_holdout"],
            "holdout bought": lift["converted_holdout"],
            "holdout conv.": lift["conversion_rate_holdout"].map(percent),
            "lift": lift["lift"].map(points),
            "95% interval": [
                "" if pd.isna(lo) else f"[{points(lo)}, {points(hi)}]"
                for lo, hi in zip(lift["lift_ci_low"], lift["lift_ci_high"], strict=True)
            ],
            "significance": lift["significance"],
        }
    )


def diagnoses(judged: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(campaign_id, channel, kpi_status, diagnosis) of every judged cohort with a diagnosis (every
    missed KPI, and a met KPI with no lift over the holdout)."""
    if judged.empty:
        return []
    rows = judged[judged["diagnosis"].notna()]
    return [(r.campaign_id, r.channel, r.kpi_status, r.diagnosis) for r in rows.itertuples()]


def _no_diagnosis_note(data: ReportData) -> str:
    if not data.judged.empty:
        return "No missed KPI."
    open_ = (
        data.results[data.results["kpi_state"] == "in progress"] if not data.results.empty else data.results
    )
    if open_.empty:
        return "No missed KPI."
    first = min(pd.to_datetime(open_["kpi_window_last_day"])).date()
    return f"No KPI window has closed yet: the first verdict comes with the data of {first.isoformat()}."


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# a formatted number, percentage, lift, interval (activations/exports/numbers.py) or date: on one line
_NUMERIC = re.compile(r"\[?[+\-]?\d[\d,.]*(%| pp)?(, [+\-]?\d[\d,.]* pp\])?|\d{4}-\d{2}-\d{2}")


def _cell_text(v) -> str:
    """A cell's text: a date-time at midnight (a date read from DuckDB) as its date, numbers
    through activations/exports/numbers.py."""
    if isinstance(v, datetime) and not pd.isna(v) and v.time() == datetime.min.time():
        return v.date().isoformat()
    return number(v)


def _html_cell(v) -> str:
    """A table cell: numbers never wrap (class `n`, right-aligned); text wraps, after an
    underscore of an identifier first (`<wbr>`), anywhere if it must, so the table fits a laptop
    screen (1,366 px) without scrolling sideways."""
    text = _cell_text(v)
    if _NUMERIC.fullmatch(text):
        return f"<td class='n'>{html.escape(text)}</td>"
    return f"<td>{html.escape(text).replace('_', '_<wbr>')}</td>"


def _html_table(df: pd.DataFrame, empty: str = NOT_BUILT) -> str:
    if df.empty:
        return f"<p class='empty'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(_html_cell(v) for v in row) + "</tr>" for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(df: pd.DataFrame, empty: str = NOT_BUILT) -> str:
    if df.empty:
        return f"_{empty}_"
    cell = lambda v: _cell_text(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans Thai",sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0;max-width:100%}
th,td{border:1px solid #ccc;padding:.2rem .4rem;text-align:right;vertical-align:top}th{background:#f3f3f3}
td{overflow-wrap:anywhere}td.n{white-space:nowrap}td:not(.n){text-align:left}
th:first-child{text-align:left}.empty{color:#777;font-style:italic}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}img{max-width:100%;height:auto}
li.missed{color:#a02c1f}p.note{font-size:.85rem;color:#555}
"""


def _title(data: ReportData) -> str:
    if data.send_date == data.as_of:
        return f"Campaign report — {data.as_of.isoformat()}"
    return f"Campaign report — sends of {data.send_date.isoformat()} (run as of {data.as_of.isoformat()})"


def _empty(data: ReportData, table: str, key: str) -> str:
    return NOT_BUILT if table in data.missing else EMPTY_NOTES[key]


# (html id, heading, table function, the mart it comes from); the per-channel table never carries
# revenue: conversions and revenue are in the per-campaign table only
_TABLES = [
    (
        "results",
        "Sends and KPIs per campaign and channel (latest send)",
        lambda d: results_table(d.results),
        "marts.campaign_results",
    ),
    (
        "suppressions",
        "Why people got nothing: holdout and suppressions per campaign and channel (latest send)",
        lambda d: (
            pd.DataFrame()  # zeros would read as "nobody left out"
            if "marts.campaign_suppression_reasons" in d.missing
            else suppression_table(d.results, d.suppression_reasons)
        ),
        "marts.campaign_suppression_reasons",
    ),
    (
        "judged",
        "Judged KPIs (latest send whose window has closed)",
        lambda d: judged_table(d.judged),
        "marts.campaign_results",
    ),
    (
        "periods",
        "By week and by month",
        lambda d: periods_table(d.periods),
        "marts.campaign_results_by_period",
    ),
    (
        "lift-table",
        "Conversions, revenue and lift per campaign (people, counted once per campaign)",
        lambda d: lift_table(d.lift),
        "marts.campaign_lift",
    ),
]
_CHART_TABLES = {
    "rank_distribution": "marts.rank_summary",
    "rank_migration": "marts.rank_migration",
    "kpi_vs_target": "marts.campaign_results",
    "funnel": "marts.campaign_results",
    "lift": "marts.campaign_lift",
}


def render_html(data: ReportData) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(_title(data))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(_title(data))}</h1>",
        f"<p class='note'>Data observed through {data.as_of.isoformat()}. A KPI is in progress until its "
        "window (window_days from the send date) has closed; the actual shown meanwhile is interim.</p>",
    ]
    if data.missing:
        parts.append("<p class='empty'>Not built yet: " + html.escape(", ".join(data.missing)) + ".</p>")
    for key, title, fn in CHARTS:
        parts.append(f"<h2 id='{key}'>{html.escape(title)}</h2>")
        png = fn(data)
        if png is None:
            parts.append(f"<p class='empty'>{html.escape(_empty(data, _CHART_TABLES[key], key))}</p>")
        else:
            parts.append(
                f"<figure><img id='chart-{key}' alt='{html.escape(title)}' src='{_data_uri(png)}'></figure>"
            )
    parts.append("<h2 id='diagnosis'>Why KPIs were missed (or met without lift)</h2>")
    diag = diagnoses(data.judged)
    if diag:
        parts.append(
            "<ul>"
            + "".join(
                f"<li class='{html.escape(st)}'><b>{html.escape(c)}</b> ({html.escape(ch)}, {html.escape(st)}): "
                f"{html.escape(d)}</li>"
                for c, ch, st, d in diag
            )
            + "</ul>"
        )
    else:
        parts.append(f"<p class='empty'>{html.escape(_no_diagnosis_note(data))}</p>")
    for key, title, fn, table in _TABLES:
        parts.append(f"<h2 id='{key}'>{html.escape(title)}</h2>")
        parts.append(_html_table(fn(data), _empty(data, table, key)))
    parts.append("<h2 id='match-rates'>Ad-platform match rates</h2>")
    mr = data.match_rates.copy()
    if not mr.empty:
        mr["match_rate"] = mr["match_rate"].map(percent)
    parts.append(_html_table(mr, _empty(data, "marts.ad_match_rates", "match-rates")))
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(data: ReportData, max_image_bytes: int = MAX_MARKDOWN_IMAGE_BYTES) -> str:
    lines = [f"## {_title(data)}"]
    if data.missing:
        lines.append(f"_Not built yet: {', '.join(data.missing)}._")
    for key, title, fn in CHARTS:
        png = fn(data)
        lines.append(f"### {title}")
        if png is None:
            lines.append(f"_{_empty(data, _CHART_TABLES[key], key)}_")
        elif len(png) > max_image_bytes:
            lines.append(
                f"_Chart omitted: {count(len(png))} bytes is above the {count(max_image_bytes)}-byte limit._"
            )
        else:
            lines.append(f"![{title}]({_data_uri(png)})")
    lines.append("### Why KPIs were missed (or met without lift)")
    diag = diagnoses(data.judged)
    lines += [f"- **{c}** ({ch}, {st}): {d}" for c, ch, st, d in diag] or [f"_{_no_diagnosis_note(data)}_"]
    for key, title, fn, table in _TABLES:
        lines += [f"### {title}", _md_table(fn(data), _empty(data, table, key))]
    return "\n\n".join(lines)


def write_report(
    warehouse_path: Path | str, reports_dir: Path | str, as_of: date, send_date: date | None = None
) -> Path:
    """Write `<reports_dir>/<send_date>/campaign_report.html` (self-contained) and return its path:
    the report of the run as of `as_of` whose messages left on `send_date` (default as_of)."""
    data = load_report_data(warehouse_path, as_of, send_date)
    out_dir = Path(reports_dir) / data.send_date.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "campaign_report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(path)
    return path


def report_markdown(
    warehouse_path: Path | str,
    as_of: date,
    send_date: date | None = None,
    max_image_bytes: int = MAX_MARKDOWN_IMAGE_BYTES,
) -> str:
    """The report as markdown with embedded PNGs (each under `max_image_bytes`), for Dagster metadata."""
    return render_markdown(load_report_data(warehouse_path, as_of, send_date), max_image_bytes)
