-- Label propagation converged: no edge joins two records with different final labels. identity_labels
-- stops only when this holds; this checks the built table. In Dagster it is an asset check of
-- int_identity_labels (a singular test over several models needs its asset named).
{{ config(meta={"dagster": {"ref": {"name": "int_identity_labels"}}}) }}
{{ identity_crossing_edges(ref('int_identity_labels'), ref('int_identity_edges')) }}
