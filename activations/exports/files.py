"""Files for marketers: per campaign and send date, under `<exports>/<send_date>/<campaign>/`.

- `<campaign>.xlsx`: one sheet per channel with only the columns that channel needs, and a
  `columns` sheet describing every column;
- one CSV per channel in UTF-8 with a byte-order mark (Excel shows Thai text correctly):
  `email.csv`, `sms.csv`, `ads.csv`, `direct_mail_list.csv` (postal addresses),
  `phone_call_list.csv` (the VIP call list);
- `manifest.json`: campaign, dates, counts (audience, holdout, suppressed by reason,
  eligible) and, per file, rows, bytes and sha256.
A rerun of the same send date replaces the folder's files (written to temp names, then renamed).

CSV cells cannot carry spreadsheet formulas (OWASP "CSV injection"): a text value starting with
`=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so Excel, LibreOffice and Sheets
show it as text instead of running it. One exception, by decision: in the columns documented as
E.164 numbers (`mobile`, `phone`), a value that is exactly `+` and 8-15 digits stays as it is,
so a caller can read and dial it: it is no formula (no function, no reference; at worst a
spreadsheet evaluates it to the number itself). Excel opening such a CSV directly shows it as a
number (66812345678, the `+` gone, wide ones in scientific notation); import the column as Text
(Data > From Text/CSV) or use the XLSX, whose cells are always text (`write_string`, never
formulas). Any other value in those columns (`+66 81...=cmd`, a non-E.164 entry) is neutralised
like every other cell.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from activations.audiences.messages import Message, PreparedCampaign, PreparedCampaigns
from activations.exports.numbers import count
from activations.exports.xlsx import MarketerWorkbook

# channel -> [(column, description, getter)]
Getter = Callable[[Message], Any]


def _f(key: str) -> Getter:
    return lambda m: m.fields.get(key)


_COMMON_HEAD: list[tuple[str, str, Getter]] = [
    ("customer_id", "crmloop customer id", lambda m: m.customer_id),
    ("first_name", "first name", _f("first_name")),
    ("last_name", "last name", _f("last_name")),
]
_COMMON_TAIL: list[tuple[str, str, Getter]] = [
    ("language", "language of the rendered content (th / en)", lambda m: m.language),
    (
        "send_id",
        "id of this send (campaign, customer, channel, send date); quote it in replies",
        lambda m: m.send_id,
    ),
]

CHANNEL_COLUMNS: dict[str, list[tuple[str, str, Getter]]] = {
    "email": [
        *_COMMON_HEAD,
        ("email", "email address", lambda m: m.to),
        ("subject", "rendered subject line", lambda m: m.subject),
        *_COMMON_TAIL,
    ],
    "sms": [
        *_COMMON_HEAD,
        ("mobile", "mobile number, E.164", lambda m: m.to),
        ("sms_text", "rendered SMS text", lambda m: m.sms_body),
        (
            "sms_segments",
            "SMS parts billed (Thai is UCS-2: 70 characters, 67 per part)",
            lambda m: m.sms_segments,
        ),
        (
            "not_before",
            "not to be sent before this time (Asia/Bangkok): the campaign's send time, or the end of quiet hours",
            lambda m: m.not_before.isoformat() if m.not_before else None,
        ),
        *_COMMON_TAIL,
    ],  # fmt: skip
    "ads": [
        *_COMMON_HEAD,
        ("email", "email address (hashed by the ad-platform upload, plain here)", _f("email")),
        ("phone", "phone, E.164", _f("phone")),
        ("postal_code", "postal code", _f("postal_code")),
        ("country", "country, ISO-2", _f("country")),
        ("audience_name", "ad-platform audience", lambda m: m.subject),
        *_COMMON_TAIL,
    ],
    "direct_mail": [
        *_COMMON_HEAD,
        ("address", "street address", _f("address")),
        ("district", "district", _f("district")),
        ("province", "province", _f("province")),
        ("postal_code", "postal code", _f("postal_code")),
        ("mailing_address", "the full address on one line, as printed on the envelope", lambda m: m.to),
        ("letter", "rendered letter text", lambda m: m.text),
        *_COMMON_TAIL,
    ],
    "phone": [
        *_COMMON_HEAD,
        ("phone", "number to call, E.164", lambda m: m.to),
        ("province", "province", _f("province")),
        ("call_script", "rendered call script", lambda m: m.text),
        ("outcome", "for the caller: attending / declined / no answer", lambda m: ""),
        *_COMMON_TAIL,
    ],
}
CSV_NAMES = {
    "email": "email.csv",
    "sms": "sms.csv",
    "ads": "ads.csv",
    "direct_mail": "direct_mail_list.csv",
    "phone": "phone_call_list.csv",
}


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    return v


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection
E164_COLUMNS = frozenset({"mobile", "phone"})  # documented as E.164 text
_E164 = re.compile(r"\+[1-9]\d{7,14}")


def csv_safe(value: Any, column: str) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (see the module docstring)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if column in E164_COLUMNS and _E164.fullmatch(value):
        return value
    return "'" + value


SHEET_TITLES = {
    "email": "email list",
    "sms": "SMS list",
    "ads": "ad audience",
    "direct_mail": "direct mail list",
    "phone": "call list",
}


def sheet_title(campaign: PreparedCampaign, channel: str, send_date: date) -> str:
    """The title row of a channel's sheet: campaign, what the list is, send date and count."""
    n = campaign.channels[channel].eligible
    return (
        f"{campaign.name} ({campaign.campaign_id}) · {SHEET_TITLES[channel]} · send date "
        f"{send_date.isoformat()} · {count(n)} {'person' if n == 1 else 'people'}"
    )


def write_files(folder: Path, campaign: PreparedCampaign, send_date: date) -> list[dict[str, Any]]:
    """The XLSX (one sheet per channel, continued on `<channel>_2`... past Excel's row limit, plus
    a `columns` sheet) and one CSV per channel, rendering each message once for both."""
    xlsx = folder / f"{campaign.campaign_id}.xlsx"
    xlsx_tmp = xlsx.with_name(xlsx.name + ".tmp")
    csv_entries: list[dict[str, Any]] = []
    sheets: list[str] = []
    with MarketerWorkbook(xlsx_tmp) as xw:
        for ch, batch in campaign.channels.items():
            if not batch.eligible:  # an empty audience exports no file (the manifest counts say why)
                continue
            cols = CHANNEL_COLUMNS[ch]
            names = [c[0] for c in cols]
            getters = [c[2] for c in cols]
            path = folder / CSV_NAMES[ch]
            tmp = path.with_name(path.name + ".tmp")
            count = 0
            with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(names)

                def rows(w=w, getters=getters, names=names, batch=batch):
                    nonlocal count
                    for m in batch.messages:
                        row = [_cell(g(m)) for g in getters]
                        w.writerow([csv_safe(v, n) for v, n in zip(row, names, strict=True)])
                        count += 1
                        yield row

                sheets += xw.add_sheet(ch, names, rows(), title=sheet_title(campaign, ch, send_date))
            os.replace(tmp, path)
            csv_entries.append(
                {"name": path.name, "kind": "csv", "channel": ch, "rows": count, "encoding": "utf-8-sig"}
            )
        desc = [[ch, name, d] for ch in campaign.channels for name, d, _ in CHANNEL_COLUMNS[ch]]
        xw.add_sheet(
            "columns",
            ["sheet", "column", "description"],
            desc,
            title=f"{campaign.name}: what each column holds",
        )
    os.replace(xlsx_tmp, xlsx)
    rows_per_channel = {e["channel"]: e["rows"] for e in csv_entries}
    return [
        {"name": xlsx.name, "kind": "xlsx", "sheets": [*sheets, "columns"], "rows": rows_per_channel},
        *csv_entries,
    ]


def write_campaign_exports(
    prepared: PreparedCampaigns, campaign: PreparedCampaign, exports_dir: str | Path
) -> dict[str, Any]:
    """Write one campaign's files; returns its manifest (also written as manifest.json)."""
    folder = Path(exports_dir) / prepared.send_date.isoformat() / campaign.campaign_id
    folder.mkdir(parents=True, exist_ok=True)
    files = write_files(folder, campaign, prepared.send_date)
    for f in files:
        p = folder / f["name"]
        f["bytes"] = p.stat().st_size
        f["sha256"] = sha256_file(p)
    manifest = {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "as_of": prepared.as_of.isoformat(),
        "send_date": prepared.send_date.isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {ch: b.metadata() for ch, b in campaign.channels.items()},
        "files": files,
    }
    keep = {f["name"] for f in files} | {"manifest.json"}
    for stale in folder.iterdir():  # files of an earlier run of this date that this run no longer writes
        if stale.is_file() and stale.name not in keep:
            stale.unlink()
    write_manifest(folder, manifest)
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """`<folder>/manifest.json`, replaced atomically (temp name, then rename)."""
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, folder / "manifest.json")


def write_exports(
    prepared: PreparedCampaigns, exports_dir: str | Path, progress: Callable[[str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Files for every active campaign: campaign_id -> manifest. A campaign nobody is eligible for
    on any channel exports no file: its manifest has `files: []` and `skipped` says why."""
    out = {}
    for cid, camp in prepared.campaigns.items():
        if not camp.active:
            continue
        if not any(b.eligible for b in camp.channels.values()):
            out[cid] = empty_audience_manifest(prepared, camp, exports_dir)
            if progress:
                progress(f"exports: {cid}: no files: {out[cid]['skipped']}")
            continue
        out[cid] = write_campaign_exports(prepared, camp, exports_dir)
        if progress:
            progress(f"exports: {cid}: {', '.join(f['name'] for f in out[cid]['files'])}")
    return out


def empty_audience_manifest(
    prepared: PreparedCampaigns, campaign: PreparedCampaign, exports_dir: str | Path
) -> dict[str, Any]:
    """Why a campaign has no files (and the files of an earlier run of this date are removed)."""
    parts = []
    for ch, b in campaign.channels.items():
        gone = ", ".join(f"{n} {reason}" for reason, n in sorted(b.suppressed.items()))
        parts.append(
            f"{ch}: audience {b.audience}, holdout {b.holdout}" + (f", suppressed {gone}" if gone else "")
        )
    why = "empty audience: nobody is eligible on any channel" + (f" ({'; '.join(parts)})" if parts else "")
    folder = Path(exports_dir) / prepared.send_date.isoformat() / campaign.campaign_id
    if folder.is_dir():
        for stale in folder.iterdir():
            if stale.is_file():
                stale.unlink()
        folder.rmdir()
    return {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "send_date": prepared.send_date.isoformat(),
        "counts": {ch: b.metadata() for ch, b in campaign.channels.items()},
        "files": [],
        "skipped": why,
    }
