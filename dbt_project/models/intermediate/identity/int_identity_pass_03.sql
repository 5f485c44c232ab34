-- Identity label propagation, pass 3 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_02'), ref('int_identity_edges')) }}
