"""Contract with the sources room: ingesting the demo landing quarantines exactly the broken rows."""

from __future__ import annotations

from datetime import timedelta

from sources.declarations import load_declarations
from sources.ingest import ingest_partition

from .conftest import AS_OF


def test_sources_ingestion_quarantines_exactly_the_listed_broken_rows(small, tmp_path):
    decls = load_declarations()
    expected = small.broken.groupby("file").size().to_dict()
    seen = 0
    for source in sorted(p.name for p in small.landing.iterdir()):
        for day in (AS_OF - timedelta(days=1), AS_OF):
            if not (small.landing / source / day.isoformat()).is_dir():
                continue
            res = ingest_partition(
                decls[source],
                landing_dir=small.landing,
                lake_dir=tmp_path / "lake",
                quarantine_dir=tmp_path / "quarantine",
                load_date=day,
            )
            for f in res.files:
                seen += 1
                assert f.error is None, (f.path, f.error)
                assert f.quarantined == expected.get(f.path, 0), f.path
                assert f.loaded + f.quarantined == f.rows_in
    assert seen == len(small.summary.files)
