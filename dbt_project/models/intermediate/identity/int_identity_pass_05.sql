-- Identity label propagation, pass 5 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_04'), ref('int_identity_edges')) }}
