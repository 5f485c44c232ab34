-- Identity label propagation, pass 8 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_07'), ref('int_identity_edges')) }}
