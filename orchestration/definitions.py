"""The crmloop Dagster code location (`dagster dev -m orchestration.definitions`).

Lazy: importing this module reads no environment variable and runs no dbt command; Dagster calls
`defs()` when it loads the code location (each domain lives in orchestration/defs/).
"""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from orchestration.defs import build_definitions

    return build_definitions()
