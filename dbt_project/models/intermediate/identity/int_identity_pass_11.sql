-- Identity label propagation, pass 11 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_10'), ref('int_identity_edges')) }}
