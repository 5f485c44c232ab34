-- Identity label propagation, pass 1 of 16 (macros/identity.sql), starting from label = own rec_idx.
{{ identity_pass("(select rec_idx as node, rec_idx as label from " ~ ref('int_identity_records') ~ ")", ref('int_identity_edges')) }}
