-- Identity label propagation, pass 2 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_01'), ref('int_identity_edges')) }}
