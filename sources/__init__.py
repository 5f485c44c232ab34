"""sources/: read landing files, normalise them, validate rows, write the typed lake.

Plain Python (no Dagster). Public API::

    from sources import load_declarations, ingest_partition, landing_partitions, entity_schema
    from sources import recover_commits  # finish partition commits a killed run left half-done
"""

from sources.declarations import (
    ColumnSpec,
    DeclarationError,
    SourceDeclaration,
    load_declarations,
    produced_declarations,
)
from sources.ingest import FileResult, IngestResult, ingest_partition, landing_partitions, recover_commits
from sources.schema import ENTITY_COLUMNS, QUARANTINE_SCHEMA, entity_schema

__all__ = [
    "ENTITY_COLUMNS",
    "QUARANTINE_SCHEMA",
    "ColumnSpec",
    "DeclarationError",
    "FileResult",
    "IngestResult",
    "SourceDeclaration",
    "entity_schema",
    "ingest_partition",
    "landing_partitions",
    "load_declarations",
    "produced_declarations",
    "recover_commits",
]
