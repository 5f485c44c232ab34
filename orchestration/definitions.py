"""The crmloop Dagster code location (thin root: each domain lives in orchestration/defs/)."""

from orchestration.defs import build_definitions

defs = build_definitions()
