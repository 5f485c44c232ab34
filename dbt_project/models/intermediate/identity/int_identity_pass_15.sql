-- Identity label propagation, pass 15 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_14'), ref('int_identity_edges')) }}
