-- Identity label propagation, pass 7 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_06'), ref('int_identity_edges')) }}
