"""Google Ads Customer Match: the upload file (the CSV template of the Ads UI), hashed."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activations.channels.hashing import google_email, google_name, google_phone, sha256_hex

HEADERS = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")


def customer_match_row(fields: dict, default_country: str = "TH") -> list[str] | None:
    """One CSV row: hashed Email, Phone, First Name, Last Name; Country and Zip in clear.
    Name, country and zip only go together (Google matches on all four)."""
    email = google_email(fields.get("email"))
    phone = google_phone(fields.get("phone"), (fields.get("country") or default_country).upper())
    fn, ln = google_name(fields.get("first_name")), google_name(fields.get("last_name"))
    country = (fields.get("country") or default_country or "").strip().upper()
    zip_code = (fields.get("postal_code") or "").strip()
    address_ok = bool(fn and ln and country and zip_code)
    if not (email or phone or address_ok):
        return None
    return [
        sha256_hex(email) if email else "",
        sha256_hex(phone) if phone else "",
        sha256_hex(fn) if address_ok else "",
        sha256_hex(ln) if address_ok else "",
        country if address_ok else "",
        zip_code if address_ok else "",
    ]


@dataclass
class CustomerMatchFile:
    path: Path
    rows: int
    skipped_unmatchable: int
    sha256: str

    def metadata(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rows": self.rows,
            "skipped_unmatchable": self.skipped_unmatchable,
            "sha256": self.sha256,
        }


def write_customer_match(messages: Iterable[Any], path: Path) -> CustomerMatchFile:
    """Write the Customer Match CSV for `messages` (anything with `.fields`), deduplicated."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADERS)
    seen: set[tuple] = set()
    rows = skipped = 0
    for m in messages:
        row = customer_match_row(getattr(m, "fields", None) or {"email": m.to})
        if row is None:
            skipped += 1
            continue
        key = tuple(row)
        if key in seen:
            continue
        seen.add(key)
        w.writerow(row)
        rows += 1
    data = buf.getvalue().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return CustomerMatchFile(path, rows, skipped, hashlib.sha256(data).hexdigest())
