-- Identity label propagation, pass 9 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_08'), ref('int_identity_edges')) }}
