-- Identity label propagation, pass 1 of 16 (macros/identity.sql), over the linked records only,
-- starting from label = own rec_idx.
{{ identity_pass("(select distinct src as node, src as label from " ~ ref('int_identity_edges') ~ ")", ref('int_identity_edges')) }}
