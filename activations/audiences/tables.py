"""The audience stage's warehouse tables, named and declared once.

Python owns the `activations` schema of the warehouse (audiences, snapshots, memberships,
suppressions, the send ledger); dbt owns `marts` and only reads what Python writes. Every
reader and writer of these tables (audiences, the gate, journeys, campaign state, the demo's
simulated customers, tests, bench) imports the names from here.
"""

from __future__ import annotations

SCHEMA = "activations"
AUDIENCES = "campaign_audiences"  # the current run's audience, replaced every run
AUDIENCE_SNAPSHOTS = "campaign_audience_snapshots"  # one audience per send date, kept for audit
AUDIENCES_TABLE = f"{SCHEMA}.{AUDIENCES}"
AUDIENCE_SNAPSHOTS_TABLE = f"{SCHEMA}.{AUDIENCE_SNAPSHOTS}"

AUDIENCE_COLUMNS = [
    "campaign_id", "customer_id", "channel", "holdout", "reason_included", "address", "as_of", "send_date",
    "send_time_arm",
]  # fmt: skip

# send_time_arm: 'personal' | 'control' on a campaign with send_time personal (the control arm is
# sent at send_time_control's time: activations/audiences/send_times.py), null otherwise and for
# the holdout. Added to a table from before it (ALTER ... IF NOT EXISTS: its old rows stay null).
AUDIENCE_DDL = """
CREATE TABLE IF NOT EXISTS {name} (
    campaign_id VARCHAR, customer_id VARCHAR, channel VARCHAR, holdout BOOLEAN,
    reason_included VARCHAR, address VARCHAR, as_of DATE, send_date DATE, send_time_arm VARCHAR
);
ALTER TABLE {name} ADD COLUMN IF NOT EXISTS send_time_arm VARCHAR"""

# Before this layout the audience stage wrote into dbt's `marts`; a warehouse from then moves over once.
LEGACY_SCHEMA = "marts"
