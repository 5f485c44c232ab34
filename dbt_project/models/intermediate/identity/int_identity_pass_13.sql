-- Identity label propagation, pass 13 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_12'), ref('int_identity_edges')) }}
