-- Identity label propagation, pass 12 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_11'), ref('int_identity_edges')) }}
