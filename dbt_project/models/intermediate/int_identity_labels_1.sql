-- Label propagation, passes 1..N (see macros/identity.sql).
{{ identity_passes("(select rec_idx as node, rec_idx as label from " ~ ref('int_identity_records') ~ ")",
                   ref('int_identity_edges'), var('identity_passes_per_model')) }}
